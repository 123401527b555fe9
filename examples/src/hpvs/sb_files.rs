//! The local files of `hpvs sb`, all private (mode 0600) and kept in the directory of the
//! configuration: the client's `SECRET` (`.sb_secret.<regfile id>`), what `init` sent that
//! `update` may not change (`.sb_init.<regfile id>.json`, an [`InitRecord`]), and exported
//! state images (written where asked, never over an existing file).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hpvs_api::Secret;

use super::super::sb_config::{InitRecord, SbConfig};
use super::SbError;

/// The file holding the client's `SECRET` for the configured registration.
pub fn secret_path(config: &SbConfig, base: &Path) -> PathBuf {
    base.join(format!(".sb_secret.{}", config.regfile.id))
}

/// The client's `SECRET`: read from its file, or (when `create`) made (base64 of 128 random
/// bytes) and saved.
pub fn secret(config: &SbConfig, base: &Path, create: bool) -> Result<Secret, SbError> {
    let path = secret_path(config, base);
    if path.exists() || !create {
        return read_secret(&path);
    }
    let mut bytes = [0u8; 128];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| SbError::File {
            action: "read",
            path: "/dev/urandom".into(),
            source,
        })?;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    write_new_private(&path, text.as_bytes())?;
    Ok(Secret::new(text))
}

/// A `SECRET` file's text, trimmed.
pub fn read_secret(path: &Path) -> Result<Secret, SbError> {
    let text = std::fs::read(path).map_err(|source| SbError::File {
        action: "read",
        path: path.display().to_string(),
        source,
    })?;
    Ok(Secret::new(
        String::from_utf8_lossy(&text).trim().to_owned(),
    ))
}

/// `.sb_init.<id>.json` in `base`.
fn record_path(base: &Path, id: &str) -> PathBuf {
    base.join(format!(".sb_init.{id}.json"))
}

/// Saves what `init` sent (replacing an earlier record of the same id).
pub fn save_record(base: &Path, record: &InitRecord) -> Result<(), SbError> {
    let path = record_path(base, &record.regfile_id);
    let text = serde_json::to_vec_pretty(record)
        .map_err(|e| SbError::BadAnswer(format!("cannot encode the init record: {e}")))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&path)
        .and_then(|mut f| f.write_all(&text))
        .map_err(|source| SbError::File {
            action: "write",
            path: path.display().to_string(),
            source,
        })
}

/// What `init` recorded for the build server at `sbs_url`: the record of regfile `id` if
/// it is of that server, else any record of that server (the id itself was changed); `None`
/// when `init` was never run from this directory.
pub fn find_record(base: &Path, sbs_url: &str, id: &str) -> Result<Option<InitRecord>, SbError> {
    let read = |path: &Path| -> Result<InitRecord, SbError> {
        let text = std::fs::read(path).map_err(|source| SbError::File {
            action: "read",
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|e| {
            SbError::BadAnswer(format!(
                "{} is not an init record ({e}): remove it and run `hpvs sb init`",
                path.display()
            ))
        })
    };
    let own = record_path(base, id);
    if own.is_file() {
        let record = read(&own)?;
        if record.sbs_url == sbs_url {
            return Ok(Some(record));
        }
    }
    let entries = std::fs::read_dir(base).map_err(|source| SbError::File {
        action: "read",
        path: base.display().to_string(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".sb_init.") && n.ends_with(".json"))
        })
        .collect();
    paths.sort();
    for path in paths {
        let record = read(&path)?;
        if record.sbs_url == sbs_url {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// Writes `bytes` to a new file `path` (0600); an existing file is never replaced.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), SbError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            SbError::WouldOverwrite {
                path: path.display().to_string(),
            }
        } else {
            SbError::File {
                action: "write",
                path: path.display().to_string(),
                source,
            }
        }
    })?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    written.map_err(|source| {
        drop(file);
        let _ = std::fs::remove_file(path);
        SbError::File {
            action: "write",
            path: path.display().to_string(),
            source,
        }
    })
}

/// The file name a server gave its state image, if it is a plain name (no directory, not
/// hidden, letters, digits, `.`, `_`, `-` only).
pub fn state_file_name(name: &str) -> Result<&str, SbError> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        Ok(name)
    } else {
        Err(SbError::BadAnswer(format!(
            "the server named its state image {name:?}, which is not a plain file name: \
             give --out FILE"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(url: &str, id: &str, repo: &str) -> InitRecord {
        InitRecord {
            sbs_url: url.into(),
            regfile_id: id.into(),
            docker_repo: repo.into(),
        }
    }

    #[test]
    fn records_are_private_and_found_by_id_or_by_server() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_record(dir.path(), "https://a:1", "w").unwrap(), None);
        save_record(dir.path(), &record("https://a:1", "w", "lab/w")).unwrap();
        save_record(dir.path(), &record("https://b:2", "x", "lab/x")).unwrap();
        let path = dir.path().join(".sb_init.w.json");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            find_record(dir.path(), "https://a:1", "w").unwrap(),
            Some(record("https://a:1", "w", "lab/w"))
        );
        // The id changed in the configuration: the server's record is still found.
        assert_eq!(
            find_record(dir.path(), "https://b:2", "renamed").unwrap(),
            Some(record("https://b:2", "x", "lab/x"))
        );
        assert_eq!(find_record(dir.path(), "https://c:3", "w").unwrap(), None);
    }

    #[test]
    fn new_files_never_replace_old_ones_and_server_names_stay_plain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_new_private(&path, b"first").unwrap();
        assert!(matches!(
            write_new_private(&path, b"second"),
            Err(SbError::WouldOverwrite { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert!(state_file_name("sbs-state.lab.wallet.2026-01-02_03-04-05.000001.json").is_ok());
        for bad in ["../x.json", "/etc/x", ".hidden", "", "a/b.json", "a b"] {
            assert!(state_file_name(bad).is_err(), "{bad}");
        }
    }
}
