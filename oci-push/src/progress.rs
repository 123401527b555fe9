//! Progress reporting: a trait the caller implements (the library never prints).

use crate::Digest;

/// How a blob transfer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobOutcome {
    /// Uploaded.
    Uploaded,
    /// Already present at the destination (registry or layout): nothing sent.
    Skipped,
    /// Mounted from another repository of the same registry: nothing sent.
    Mounted,
    /// Downloaded and verified.
    Downloaded,
}

/// Receives progress events. Every method has an empty default; implementations must be
/// cheap, they are called from the transfer tasks.
pub trait Progress: Send + Sync {
    /// A blob transfer starts.
    fn blob_started(&self, digest: &Digest, size: u64) {
        let _ = (digest, size);
    }
    /// `bytes` more bytes of the blob were transferred.
    fn blob_bytes(&self, digest: &Digest, bytes: u64) {
        let _ = (digest, bytes);
    }
    /// A transfer (upload or download) goes on from byte `offset` after a transient failure
    /// (0: it starts over).
    fn blob_retry(&self, digest: &Digest, offset: u64) {
        let _ = (digest, offset);
    }
    /// A blob transfer ended.
    fn blob_finished(&self, digest: &Digest, outcome: BlobOutcome) {
        let _ = (digest, outcome);
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
