//! The hash of a blob on its way out to the registry, and the check that closes an upload.

use std::sync::{Arc, Mutex};

use sha2::Sha256;

use crate::spec::Descriptor;
use crate::{Digest, Error};

/// The running hash of one blob across upload attempts: bytes are hashed once, in order,
/// even when an upload restarts or resumes.
pub(crate) struct HashState {
    pub(crate) hasher: Sha256,
    pub(crate) hashed: u64,
    pub(crate) result: Option<Digest>,
}

/// After the last byte: the hash computed on the way out must name the blob. Fails closed:
/// an upload whose bytes were not all hashed (a resumed session that skipped some) is refused.
pub(crate) fn check_hash(state: &Arc<Mutex<HashState>>, blob: &Descriptor) -> Result<(), Error> {
    let (result, hashed) = match state.lock() {
        Ok(s) => {
            // An empty blob has no bytes to stream: its hash is that of nothing.
            let result = match &s.result {
                Some(digest) => Some(digest.clone()),
                None if s.hashed == blob.size && blob.size == 0 => {
                    Some(Digest::from_hasher(s.hasher.clone()))
                }
                None => None,
            };
            (result, s.hashed)
        }
        Err(_) => (None, 0),
    };
    match result {
        Some(actual) if actual == blob.digest => Ok(()),
        Some(actual) => Err(Error::DigestMismatch {
            what: format!("layout blob {}", blob.digest),
            expected: blob.digest.clone(),
            actual,
        }),
        None => Err(Error::UnverifiedUpload {
            digest: blob.digest.clone(),
            hashed,
            size: blob.size,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use sha2::Digest as _;

    fn state(hashed: u64, result: Option<Digest>) -> Arc<Mutex<HashState>> {
        Arc::new(Mutex::new(HashState {
            hasher: Sha256::new(),
            hashed,
            result,
        }))
    }

    #[test]
    fn an_upload_not_hashed_to_its_end_is_refused() {
        let content = b"hello blob";
        let blob = Descriptor {
            media_type: "application/octet-stream".to_owned(),
            digest: Digest::of(content),
            size: content.len() as u64,
        };
        assert!(matches!(
            check_hash(&state(0, None), &blob),
            Err(Error::UnverifiedUpload {
                hashed: 0,
                size: 10,
                ..
            })
        ));
        assert!(matches!(
            check_hash(&state(4, None), &blob),
            Err(Error::UnverifiedUpload { hashed: 4, .. })
        ));
        assert!(matches!(
            check_hash(&state(10, Some(Digest::of(b"other"))), &blob),
            Err(Error::DigestMismatch { .. })
        ));
        check_hash(&state(10, Some(Digest::of(content))), &blob).unwrap();
        let empty = Descriptor {
            size: 0,
            digest: Digest::of(b""),
            ..blob
        };
        check_hash(&state(0, None), &empty).unwrap();
    }
}
