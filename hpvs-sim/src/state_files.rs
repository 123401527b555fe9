//! Secret files of the state directory: written whole (a temporary file renamed into
//! place) with mode 0600, so a kill never leaves half a key, and read back only if no one
//! else can read them.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{ApplianceError, Result};

/// The file's bytes, or `None` when it does not exist. A file that others may read is an
/// error: a key that leaked is not used quietly.
pub fn read_secret(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(state_error("read", path, source)),
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(state_error(
            "read",
            path,
            std::io::Error::other(format!(
                "mode {mode:o} lets others read it: expected 600 (chmod 600 it, or remove it to make a new one)"
            )),
        ));
    }
    let bytes = fs::read(path).map_err(|source| state_error("read", path, source))?;
    Ok(Some(Zeroizing::new(bytes)))
}

/// Writes `bytes` to `path` with mode 0600, atomically.
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        // An older temporary file keeps its mode through `create`.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    };
    write().map_err(|source| state_error("write", path, source))
}

pub(crate) fn state_error(
    action: &'static str,
    path: &Path,
    source: std::io::Error,
) -> ApplianceError {
    ApplianceError::StateFile {
        action,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_0600_and_a_readable_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        assert!(read_secret(&path).unwrap().is_none());
        write_secret(&path, b"abc").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(&**read_secret(&path).unwrap().unwrap(), b"abc");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        match read_secret(&path) {
            Err(ApplianceError::StateFile { path: p, .. }) => assert_eq!(p, path),
            other => panic!("expected StateFile, got {other:?}"),
        }
    }
}
