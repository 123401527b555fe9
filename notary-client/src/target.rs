//! A signed target as a caller sees it: name, digest, length and signing role (no I/O).

use crate::metadata::FileMeta;

/// A target as resolved from verified metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    /// The target name (a tag, for docker).
    pub name: String,
    /// The sha256 digest, if the target records one.
    pub sha256: Option<[u8; 32]>,
    /// Length in bytes.
    pub length: u64,
    /// The role that signs it.
    pub role: String,
}

impl TargetInfo {
    /// The target `name` that `role` records with `meta`.
    pub fn from_meta(name: &str, role: &str, meta: &FileMeta) -> Self {
        Self {
            name: name.to_owned(),
            sha256: meta.sha256(),
            length: meta.byte_len(),
            role: role.to_owned(),
        }
    }

    /// The sha256 digest as 64 lowercase hex digits, the form of an OCI digest after
    /// `sha256:`.
    pub fn sha256_hex(&self) -> Option<String> {
        self.sha256.map(hex::encode)
    }

    /// The target's length and sha256 as metadata records them, to sign it again elsewhere.
    pub fn file_meta(&self) -> Option<FileMeta> {
        self.sha256
            .map(|sha256| FileMeta::from_sha256(sha256, self.length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_keeps_the_digest_and_length_of_its_meta() {
        let meta = FileMeta::from_sha256([0xab; 32], 1234);
        let target = TargetInfo::from_meta("v1", "targets/releases", &meta);
        assert_eq!(target.sha256, Some([0xab; 32]));
        assert_eq!(target.length, 1234);
        assert_eq!(target.sha256_hex(), Some("ab".repeat(32)));
        assert_eq!(target.file_meta(), Some(meta));
    }
}
