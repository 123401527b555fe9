//! The local metadata cache, `<trust_dir>/tuf/<gun>/metadata/<role>.json`. Writes are atomic
//! (temporary file in the same directory, then rename), so a crash of the process never leaves
//! half a file. They are not fsynced, like the Go client's: metadata can always be downloaded
//! again, and an fsync per staged change made staging 1,000 tags take seconds. Keys, which
//! cannot be recovered, are fsynced by keymgmt.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::limits::Limits;

/// The cache of one GUN.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    gun: String,
    limits: Limits,
}

impl Cache {
    /// The cache under `<trust_dir>/tuf/<gun>/metadata`; the GUN must be validated already.
    /// Files are read back within [`Limits::default`] unless [`with_limits`](Self::with_limits).
    pub fn new(trust_dir: &Path, gun: &str) -> Self {
        Self {
            dir: trust_dir.join("tuf").join(gun).join("metadata"),
            gun: gun.to_owned(),
            limits: Limits::default(),
        }
    }

    /// Reads files back within `limits` (the client's download limits).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits files are read back within.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The file that caches `role`.
    pub fn path(&self, role: &str) -> PathBuf {
        self.dir.join(format!("{role}.json"))
    }

    /// The cached file of `role`, if any. A file larger than the role's limit is refused with
    /// [`Error::CorruptCache`], never read as "nothing cached" (that would drop rollback
    /// protection).
    pub fn read(&self, role: &str) -> Result<Option<Vec<u8>>> {
        self.read_within(role, self.limits.size_of(role))
    }

    /// The cached file of `role`, if any, refused when it is over `limit` bytes.
    pub fn read_within(&self, role: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let path = self.path(role);
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &path)(e)),
        };
        // Read one byte past the limit instead of trusting the size the file system reports.
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(Error::io("read", &path))?;
        if bytes.len() as u64 > limit {
            return Err(self.corrupt(
                role,
                Error::MalformedMetadata {
                    role: role.to_owned(),
                    reason: format!("the file is over the {limit}-byte limit of its role"),
                },
            ));
        }
        Ok(Some(bytes))
    }

    /// `source` as the reason the cached file of `role` cannot be used.
    pub fn corrupt(&self, role: &str, source: Error) -> Error {
        match source {
            already @ Error::CorruptCache { .. } => already,
            source => Error::CorruptCache {
                gun: self.gun.clone(),
                role: role.to_owned(),
                path: self.path(role),
                source: Box::new(source),
            },
        }
    }

    /// Writes the file of `role` atomically.
    pub fn write(&self, role: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.path(role), bytes)
    }

    /// Removes every cached file of this GUN.
    pub fn clear(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &self.dir)(e)),
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(Error::io("create temporary file in", dir))?;
    temp.write_all(bytes).map_err(Error::io("write", path))?;
    temp.persist(path)
        .map_err(|e| Error::io("rename into", path)(e.error))?;
    Ok(())
}
