//! Secret files of the state directory: written whole (a temporary file renamed into
//! place) with mode 0600, so a kill never leaves half a key, and read back only if no one
//! else can read them.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
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
    write_private(path, bytes).map_err(|(action, path, source)| state_error(action, &path, source))
}

/// Writes `bytes` to `path` with mode 0600 through keymgmt's atomic write (a temporary file
/// beside it, synced, renamed, the directory synced); on failure, what was being done, on
/// which path, and the I/O error.
pub(crate) fn write_private(
    path: &Path,
    bytes: &[u8],
) -> std::result::Result<(), (&'static str, std::path::PathBuf, std::io::Error)> {
    use keymgmt::fsutil::{Existing, write_atomic};
    write_atomic(path, bytes, 0o600, Existing::Replace).map_err(|error| match error {
        keymgmt::Error::Io {
            action,
            path,
            source,
        } => (action, path, source),
        other => ("write", path.to_owned(), std::io::Error::other(other)),
    })
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
