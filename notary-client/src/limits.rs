//! How much a server (or a cache file) may make the client read: one limit per kind of file,
//! and how many root versions one update may walk.
//!
//! A by-meta download (snapshot, targets, delegations, a root the snapshot names) is bounded by
//! the smaller of the length its verified parent records and the limit of its kind; a file
//! whose parent records more than the limit is refused before it is requested.

/// Download limits of the update flow. [`Limits::default`] is safe for collections of tens of
/// thousands of targets; raise a field (e.g. `Limits { max_targets_size: 256 << 20,
/// ..Limits::default() }`) for bigger ones, and pass it to
/// [`Client::with_limits`](crate::repository::Client::with_limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest `root.json` (and each `<version>.root.json` of a rotation), in bytes.
    pub max_root_size: u64,
    /// Largest `timestamp.json`, in bytes.
    pub max_timestamp_size: u64,
    /// Largest `snapshot.json`, in bytes.
    pub max_snapshot_size: u64,
    /// Largest top-level `targets.json`, in bytes.
    pub max_targets_size: u64,
    /// Largest delegation file (`targets/<name>.json`), in bytes.
    pub max_delegation_size: u64,
    /// Most root versions one update walks (each signed by the previous one).
    pub max_root_rotations: u64,
}

impl Default for Limits {
    /// Root and timestamp 1 MiB (as the Go client), snapshot 16 MiB, targets and each
    /// delegation 64 MiB (about 250,000 targets), 1,024 root rotations.
    fn default() -> Self {
        Self {
            max_root_size: 1 << 20,
            max_timestamp_size: 1 << 20,
            max_snapshot_size: 16 << 20,
            max_targets_size: 64 << 20,
            max_delegation_size: 64 << 20,
            max_root_rotations: 1024,
        }
    }
}

impl Limits {
    /// The size limit of `role`'s file: `root`, `timestamp`, `snapshot`, `targets`, or a
    /// delegation (`targets/...`).
    pub fn size_of(&self, role: &str) -> u64 {
        match role {
            "root" => self.max_root_size,
            "timestamp" => self.max_timestamp_size,
            "snapshot" => self.max_snapshot_size,
            "targets" => self.max_targets_size,
            _ => self.max_delegation_size,
        }
    }

    /// The name of the field that bounds `role`, for messages.
    #[cfg(feature = "client")]
    pub(crate) fn field_of(role: &str) -> &'static str {
        match role {
            "root" => "max_root_size",
            "timestamp" => "max_timestamp_size",
            "snapshot" => "max_snapshot_size",
            "targets" => "max_targets_size",
            _ => "max_delegation_size",
        }
    }
}
