//! The Docker Content Trust seam (feature `notary`): what a push produced becomes the target
//! `notary-client` signs, and a signed target becomes the digest to pull, without hex or
//! `sha256:` strings in between.

use notary_client::TargetInfo;
use notary_client::metadata::FileMeta;

use crate::spec::Descriptor;
use crate::{Digest, Error, Pushed};

/// The target metadata that signs a pushed manifest: its length and sha256.
impl From<&Pushed> for FileMeta {
    fn from(pushed: &Pushed) -> FileMeta {
        FileMeta::from_sha256(pushed.digest.sha256(), pushed.size)
    }
}

/// The target metadata of a manifest in a layout (an image about to be pushed or pulled).
impl From<&Descriptor> for FileMeta {
    fn from(descriptor: &Descriptor) -> FileMeta {
        FileMeta::from_sha256(descriptor.digest.sha256(), descriptor.size)
    }
}

/// The manifest digest a signed target names; a target recorded without a sha256 (only
/// sha512, say) cannot name an OCI manifest and is [`Error::TargetWithoutSha256`].
impl TryFrom<&TargetInfo> for Digest {
    type Error = Error;

    fn try_from(target: &TargetInfo) -> Result<Digest, Error> {
        target
            .sha256
            .map(Digest::from_sha256)
            .ok_or_else(|| Error::TargetWithoutSha256 {
                target: target.name.clone(),
                role: target.role.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_pushed_manifest_signs_and_resolves_to_the_same_digest() {
        let digest = Digest::of(b"manifest");
        let pushed = Pushed {
            digest: digest.clone(),
            size: 8,
            media_type: crate::spec::OCI_MANIFEST.to_owned(),
        };
        let meta = FileMeta::from(&pushed);
        assert_eq!(meta.byte_len(), 8);
        assert_eq!(meta.sha256(), Some(digest.sha256()));
        let target = TargetInfo::from_meta("v1", "targets", &meta);
        assert_eq!(Digest::try_from(&target).unwrap(), digest);
        let descriptor = Descriptor {
            media_type: pushed.media_type.clone(),
            digest,
            size: 8,
        };
        assert_eq!(FileMeta::from(&descriptor), meta);
    }

    #[test]
    fn a_target_without_sha256_names_itself_and_its_role() {
        let target = TargetInfo {
            name: "v1".to_owned(),
            sha256: None,
            length: 1,
            role: "targets/releases".to_owned(),
        };
        match Digest::try_from(&target).unwrap_err() {
            Error::TargetWithoutSha256 { target, role } => {
                assert_eq!((target.as_str(), role.as_str()), ("v1", "targets/releases"));
            }
            other => panic!("{other:?}"),
        }
    }
}
