//! File writing shared by the key store, the mTLS material and the CLIs' key files: atomic,
//! with explicit modes.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::error::{Error, Result};

/// What [`write_atomic`] does when `path` exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace the file (atomically: readers see the old or the new one).
    Replace,
    /// Leave it and fail with [`Error::FileExists`].
    Refuse,
}

/// Writes `contents` to `path` atomically with `mode`: temp file in the same directory, fsync,
/// rename (replacing an existing file only with [`Existing::Replace`]), fsync of the
/// directory. The file ends with exactly `mode`, whatever file was there before.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32, existing: Existing) -> Result<()> {
    // A bare file name has the parent "", which names no directory.
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(Error::io("create temporary file in", dir))?;
    let temp_path = temp.path().to_owned();
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(Error::io("set permissions of", &temp_path))?;
    temp.write_all(contents)
        .map_err(Error::io("write", &temp_path))?;
    temp.as_file()
        .sync_all()
        .map_err(Error::io("sync", &temp_path))?;
    let persisted = match existing {
        Existing::Replace => temp.persist(path),
        Existing::Refuse => temp.persist_noclobber(path),
    };
    // On failure the temporary file is dropped (and deleted) with the error.
    persisted.map_err(|e| match e.error.kind() {
        std::io::ErrorKind::AlreadyExists => Error::FileExists {
            path: path.to_owned(),
        },
        _ => Error::io("write", path)(e.error),
    })?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("sync directory", dir))?;
    Ok(())
}
