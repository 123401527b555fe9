//! Image references (`registry/repository[:tag][@digest]`), parsed with `oci-client`'s
//! grammar.

use std::fmt;

use crate::{Digest, Error};

/// The tag a reference without tag or digest means.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// `host[:port]` (Docker Hub is `index.docker.io`).
    pub registry: String,
    /// `namespace/name`.
    pub repository: String,
    /// The tag, when given.
    pub tag: Option<String>,
    /// The digest, when given (it wins over the tag).
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// Parses a reference. A reference without tag or digest means `latest`.
    pub fn parse(text: &str) -> Result<ImageRef, Error> {
        // `127.0.0.1:5000` or `registry.example` alone names a registry, not a Docker Hub
        // image: refuse it rather than look for `library/127.0.0.1` there.
        let name = text.split(['@', ':']).next().unwrap_or("");
        if !text.contains('/') && (name.contains('.') || name == "localhost") {
            return Err(Error::InvalidReference {
                reference: text.to_owned(),
                reason: format!(
                    "{name} looks like a registry and no repository follows it; add /REPOSITORY"
                ),
            });
        }
        let parsed: oci_client::Reference =
            text.parse()
                .map_err(|e: oci_client::ParseError| Error::InvalidReference {
                    reference: text.to_owned(),
                    reason: e.to_string(),
                })?;
        let digest = parsed.digest().map(Digest::parse).transpose()?;
        let tag = parsed.tag().map(str::to_owned);
        let tag = if tag.is_none() && digest.is_none() {
            Some(DEFAULT_TAG.to_owned())
        } else {
            tag
        };
        Ok(ImageRef {
            registry: parsed.resolve_registry().to_owned(),
            repository: parsed.repository().to_owned(),
            tag,
            digest,
        })
    }

    /// What to put after `/manifests/`: the digest when known, else the tag.
    pub fn reference(&self) -> String {
        match &self.digest {
            Some(digest) => digest.to_string(),
            None => self.tag_or_latest().to_owned(),
        }
    }

    /// The same repository pinned to `digest` (its tag dropped): what to pull once Docker
    /// Content Trust has resolved a tag.
    pub fn pinned(self, digest: Digest) -> ImageRef {
        ImageRef {
            tag: None,
            digest: Some(digest),
            ..self
        }
    }

    /// The tag, or [`DEFAULT_TAG`] for a reference by digest only: the name a layout gives
    /// an image pulled or built for this reference.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn parses_loopback_and_digest() {
        let r = ImageRef::parse("127.0.0.1:5000/hpvs/app:1.0").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "hpvs/app");
        assert_eq!(r.reference(), "1.0");
        assert_eq!(r.tag_or_latest(), "1.0");
        let d = Digest::of(b"x");
        let r = ImageRef::parse(&format!("127.0.0.1:5000/app@{d}")).unwrap();
        assert_eq!(r.reference(), d.to_string());
        assert_eq!(r.tag, None);
        assert_eq!(r.tag_or_latest(), DEFAULT_TAG);
        let pinned = ImageRef::parse("127.0.0.1:5000/app:v1")
            .unwrap()
            .pinned(d.clone());
        assert_eq!(pinned, r);
        assert_eq!(pinned.to_string(), format!("127.0.0.1:5000/app@{d}"));
        assert_eq!(
            ImageRef::parse("reg.example/a").unwrap().tag.as_deref(),
            Some("latest")
        );
        assert!(ImageRef::parse("UPPER/Case:x").is_err());
        for registry_only in ["127.0.0.1:15000", "localhost:5000", "registry.example"] {
            let error = ImageRef::parse(registry_only).unwrap_err();
            assert!(
                matches!(&error, Error::InvalidReference { reason, .. } if reason.contains("no repository")),
                "{error}"
            );
        }
        assert_eq!(
            ImageRef::parse("alpine").unwrap().repository,
            "library/alpine"
        );
    }
}
