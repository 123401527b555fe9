//! File writing shared by the key store, the mTLS material and the CLIs' key files: atomic,
//! with explicit modes.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `contents` to `path` atomically with `mode`: temp file in the same directory, fsync,
/// rename (refusing to replace an existing file unless `replace`), fsync of the directory.
/// The file ends with exactly `mode`, whatever file was there before.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32, replace: bool) -> Result<()> {
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
    let persisted = if replace {
        temp.persist(path)
    } else {
        temp.persist_noclobber(path)
    };
    // On failure the temporary file is dropped (and deleted) with the error.
    persisted.map_err(|e| Error::io("write", path)(e.error))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("sync directory", dir))?;
    Ok(())
}
