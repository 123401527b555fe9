//! The local metadata cache, `<trust_dir>/tuf/<gun>/metadata/<role>.json`. Writes are atomic
//! (temporary file in the same directory, then rename), so a crash of the process never leaves
//! half a file. They are not fsynced, like the Go client's: metadata can always be downloaded
//! again, and an fsync per staged change made staging 1,000 tags take seconds. Keys, which
//! cannot be recovered, are fsynced by keymgmt.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Largest cached file read back (roots and targets of big collections stay far below).
const MAX_CACHED_FILE: u64 = 64 * 1024 * 1024;

/// The cache of one GUN.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache under `<trust_dir>/tuf/<gun>/metadata`; the GUN must be validated already.
    pub fn new(trust_dir: &Path, gun: &str) -> Self {
        Self {
            dir: trust_dir.join("tuf").join(gun).join("metadata"),
        }
    }

    fn path(&self, role: &str) -> PathBuf {
        self.dir.join(format!("{role}.json"))
    }

    /// The cached file of `role`, if any.
    pub fn read(&self, role: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(role);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.len() > MAX_CACHED_FILE => Ok(None),
            Ok(_) => std::fs::read(&path)
                .map(Some)
                .map_err(Error::io("read", &path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", &path)(e)),
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
