//! Media types, descriptors and platforms, and the parsing of manifests and indexes (with
//! `oci-client`'s spec types; no I/O here).

use std::fmt;

use oci_client::manifest::{OciImageIndex, OciImageManifest};

use crate::{Digest, Error};

pub use oci_client::manifest::{
    IMAGE_DOCKER_CONFIG_MEDIA_TYPE as DOCKER_CONFIG,
    IMAGE_DOCKER_LAYER_GZIP_MEDIA_TYPE as DOCKER_LAYER_GZIP,
    IMAGE_LAYER_GZIP_MEDIA_TYPE as OCI_LAYER_GZIP, IMAGE_LAYER_MEDIA_TYPE as OCI_LAYER_TAR,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE as DOCKER_MANIFEST_LIST,
    IMAGE_MANIFEST_MEDIA_TYPE as DOCKER_MANIFEST, OCI_IMAGE_INDEX_MEDIA_TYPE as OCI_INDEX,
    OCI_IMAGE_MEDIA_TYPE as OCI_MANIFEST,
};

/// The OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The OCI zstd-compressed layer media type.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// The Docker uncompressed layer media type.
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// The `Accept` header value for manifests: every kind this crate handles.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// The largest manifest, index or config read into memory (the limit docker-registry applies
/// to manifests).
pub const MAX_DOCUMENT_SIZE: u64 = 4 * 1024 * 1024;

/// A content descriptor: media type, digest and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// The media type of the content.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

impl Descriptor {
    pub(crate) fn from_parts(
        media_type: &str,
        digest: &str,
        size: i64,
    ) -> Result<Descriptor, Error> {
        let size = u64::try_from(size).map_err(|_| Error::InvalidDocument {
            what: format!("descriptor of {digest}"),
            reason: format!("negative size {size}"),
        })?;
        Ok(Descriptor {
            media_type: media_type.to_owned(),
            digest: Digest::parse(digest)?,
            size,
        })
    }
}

/// An operating system and architecture, as in `linux/s390x` or `linux/arm64/v8`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `s390x`, `arm64`...
    pub architecture: String,
    /// `v8`, `v7`... when relevant.
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `OS/ARCH[/VARIANT]`.
    pub fn parse(text: &str) -> Result<Platform, Error> {
        let parts: Vec<&str> = text.split('/').collect();
        let invalid = || Error::InvalidOption {
            option: "platform".to_owned(),
            reason: format!("{text:?} is not OS/ARCH[/VARIANT]"),
        };
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: None,
            }),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(Platform {
                    os: (*os).to_owned(),
                    architecture: (*arch).to_owned(),
                    variant: Some((*variant).to_owned()),
                })
            }
            _ => Err(invalid()),
        }
    }

    /// The platform of this machine, in Go's names (`linux/amd64`, `linux/s390x`...).
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64",
            other => other,
        };
        Platform {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// A parsed manifest: an image (OCI or Docker schema 2) or an index (OCI index or Docker
/// manifest list).
#[derive(Debug, Clone)]
pub(crate) enum Parsed {
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
    Index {
        manifests: Vec<(Descriptor, Option<Platform>)>,
    },
}

/// Whether a media type names an index or manifest list.
pub(crate) fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Parses manifest bytes. `media_type` is the one the descriptor (or the registry's
/// `Content-Type`) gives; the document's own `mediaType`, when present, must agree.
pub(crate) fn parse_manifest(media_type: &str, bytes: &[u8]) -> Result<Parsed, Error> {
    let invalid = |reason: String| Error::InvalidDocument {
        what: format!("manifest of type {media_type}"),
        reason,
    };
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    let own = probe.media_type.as_deref();
    let index = match own {
        Some(t) if is_index(t) => true,
        Some(t) if t == OCI_MANIFEST || t == DOCKER_MANIFEST => false,
        Some(t) => {
            return Err(Error::UnsupportedMediaType {
                what: "manifest".to_owned(),
                media_type: t.to_owned(),
            });
        }
        None => is_index(media_type) || probe.manifests.is_some(),
    };
    if let Some(own) = own
        && own != media_type
        && !media_type.is_empty()
    {
        return Err(invalid(format!(
            "its mediaType {own} differs from the descriptor's {media_type}"
        )));
    }
    if index {
        let index: OciImageIndex =
            serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        let manifests = index
            .manifests
            .iter()
            .map(|entry| {
                let platform = entry.platform.as_ref().map(|p| Platform {
                    os: p.os.to_string(),
                    architecture: p.architecture.to_string(),
                    variant: p.variant.clone(),
                });
                Ok((
                    Descriptor::from_parts(&entry.media_type, &entry.digest, entry.size)?,
                    platform,
                ))
            })
            .collect::<Result<_, Error>>()?;
        Ok(Parsed::Index { manifests })
    } else {
        let image: OciImageManifest =
            serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if image.schema_version != 2 {
            return Err(invalid(format!(
                "schemaVersion {}, expected 2",
                image.schema_version
            )));
        }
        let d = |x: &oci_client::manifest::OciDescriptor| {
            Descriptor::from_parts(&x.media_type, &x.digest, x.size)
        };
        Ok(Parsed::Image {
            config: d(&image.config)?,
            layers: image.layers.iter().map(d).collect::<Result<_, _>>()?,
        })
    }
}

/// The media type of manifest bytes, from their own `mediaType` field, or by shape.
pub(crate) fn sniff_media_type(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(t) = value.get("mediaType").and_then(|t| t.as_str()) {
        return Some(t.to_owned());
    }
    if value.get("manifests").is_some() {
        Some(OCI_INDEX.to_owned())
    } else if value.get("layers").is_some() {
        Some(OCI_MANIFEST.to_owned())
    } else {
        None
    }
}

/// The image manifest of `platform` among an index's entries (`reference` names the index in
/// the error): same OS and architecture, and the same variant when one is asked for.
pub(crate) fn select_platform(
    manifests: Vec<(Descriptor, Option<Platform>)>,
    platform: &Platform,
    reference: &str,
) -> Result<Descriptor, Error> {
    let available = manifests
        .iter()
        .filter_map(|(_, p)| p.as_ref().map(ToString::to_string))
        .collect();
    manifests
        .into_iter()
        .find(|(d, p)| {
            !is_index(&d.media_type)
                && p.as_ref().is_some_and(|p| {
                    p.os == platform.os
                        && p.architecture == platform.architecture
                        && (platform.variant.is_none() || p.variant == platform.variant)
                })
        })
        .map(|(d, _)| d)
        .ok_or_else(|| Error::PlatformNotFound {
            reference: reference.to_owned(),
            platform: platform.to_string(),
            available,
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn platform_round_trip() {
        let p = Platform::parse("linux/s390x").unwrap();
        assert_eq!(p.to_string(), "linux/s390x");
        assert_eq!(
            Platform::parse("linux/arm64/v8")
                .unwrap()
                .variant
                .as_deref(),
            Some("v8")
        );
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux//").is_err());
    }

    #[test]
    fn parses_docker_and_oci_and_refuses_mismatched_types() {
        let d = Digest::of(b"x");
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{DOCKER_CONFIG}","digest":"{d}","size":1}},"layers":[]}}"#
        );
        assert!(matches!(
            parse_manifest(DOCKER_MANIFEST, m.as_bytes()).unwrap(),
            Parsed::Image { .. }
        ));
        assert!(parse_manifest(OCI_MANIFEST, m.as_bytes()).is_err());
        let i = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":1,"platform":{{"os":"linux","architecture":"s390x"}}}}]}}"#
        );
        match parse_manifest(OCI_INDEX, i.as_bytes()).unwrap() {
            Parsed::Index { manifests } => {
                assert_eq!(manifests[0].1.as_ref().unwrap().to_string(), "linux/s390x")
            }
            other => panic!("{other:?}"),
        }
        let bad = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{d}","size":-1}},"layers":[]}}"#
        );
        assert!(parse_manifest(OCI_MANIFEST, bad.as_bytes()).is_err());
    }
}
