//! The server's state directory (in production the SBS's quotagroup mount):
//!
//! ```text
//! <state>/params.json               the init parameters, secrets included (0600, atomic)
//! <state>/status.json               the last status
//! <state>/builds/latest             the name of the last successful build
//! <state>/builds/<name>/record.json the build's outcome but its manifest (0600)
//! <state>/builds/<name>/manifest.sig.tbz
//! <state>/logs/build.log            the build log (0600)
//! <state>/keys/                     the pipeline's keys (0700; survives DELETE /image)
//! <state>/workspace/                the running build's workspace (emptied at each build)
//! ```
//!
//! Every file but the log and the pipeline's is written whole (a temporary file renamed
//! into place) with mode 0600, so a kill never leaves half of one.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::build::BuildOutcome;
use super::error::{SbsError, file_error};
use super::params::InitParams;
use super::wire::BuildStatus;

/// A build's record: its outcome but the manifest bytes, which live beside it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BuildRecord {
    pub build_name: String,
    pub image_tag: String,
    pub image_digest: String,
    pub manifest_name: String,
    pub manifest_public_key_pem: String,
    pub config_json: serde_json::Value,
}

/// The state directory's files.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens `dir`, making it and its directories (0700) when missing.
    pub fn open(dir: &Path) -> Result<Self, SbsError> {
        let store = Self {
            dir: dir.to_owned(),
        };
        for path in [
            store.dir.clone(),
            store.builds_dir(),
            store.logs_dir(),
            store.keys_dir(),
            store.workspace_dir(),
        ] {
            make_private_dir(&path)?;
        }
        Ok(store)
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }

    pub fn workspace_dir(&self) -> PathBuf {
        self.dir.join("workspace")
    }

    pub fn log_path(&self) -> PathBuf {
        self.logs_dir().join("build.log")
    }

    fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    fn builds_dir(&self) -> PathBuf {
        self.dir.join("builds")
    }

    fn params_path(&self) -> PathBuf {
        self.dir.join("params.json")
    }

    fn status_path(&self) -> PathBuf {
        self.dir.join("status.json")
    }

    pub fn load_params(&self) -> Result<Option<InitParams>, SbsError> {
        let path = self.params_path();
        let Some(bytes) = read_optional(&path)? else {
            return Ok(None);
        };
        let mode = fs::metadata(&path)
            .map_err(|e| file_error("read", &path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(file_error(
                "read",
                &path,
                std::io::Error::other(format!(
                    "mode {:o} lets others read the secrets in it: expected 600",
                    mode & 0o777
                )),
            ));
        }
        let value: serde_json::Value = json(&path, &bytes)?;
        InitParams::parse(&value)
            .map(Some)
            .map_err(|e| corrupt(&path, e.to_string()))
    }

    pub fn save_params(&self, params: &InitParams) -> Result<(), SbsError> {
        let text = zeroize::Zeroizing::new(params.to_document().to_string());
        write_atomic(&self.params_path(), text.as_bytes())
    }

    pub fn load_status(&self) -> Result<BuildStatus, SbsError> {
        let path = self.status_path();
        match read_optional(&path)? {
            None => Ok(BuildStatus::default()),
            Some(bytes) => json(&path, &bytes),
        }
    }

    pub fn save_status(&self, status: &BuildStatus) -> Result<(), SbsError> {
        write_json(&self.status_path(), status)
    }

    /// Records a build; `outcome` has been checked by [`check_outcome`].
    pub fn save_build(&self, outcome: &BuildOutcome) -> Result<(), SbsError> {
        let dir = self.builds_dir().join(&outcome.build_name);
        make_private_dir(&dir)?;
        write_atomic(&dir.join("manifest.sig.tbz"), &outcome.manifest_sig_tbz)?;
        let record = BuildRecord {
            build_name: outcome.build_name.clone(),
            image_tag: outcome.image_tag.clone(),
            image_digest: outcome.image_digest.clone(),
            manifest_name: outcome.manifest_name.clone(),
            manifest_public_key_pem: outcome.manifest_public_key_pem.clone(),
            config_json: outcome.config_json.clone(),
        };
        write_json(&dir.join("record.json"), &record)?;
        write_atomic(
            &self.builds_dir().join("latest"),
            outcome.build_name.as_bytes(),
        )
    }

    /// The record of build `name`, or of the latest build.
    pub fn load_build(&self, name: Option<&str>) -> Result<BuildRecord, SbsError> {
        let name = match name {
            Some(name) => name.to_owned(),
            None => {
                let latest = self.builds_dir().join("latest");
                let bytes = read_optional(&latest)?.ok_or(SbsError::NoBuild)?;
                String::from_utf8(bytes).map_err(|_| corrupt(&latest, "not UTF-8".into()))?
            }
        };
        if !is_build_name(&name) {
            return Err(SbsError::UnknownBuild { name });
        }
        let path = self.builds_dir().join(&name).join("record.json");
        match read_optional(&path)? {
            Some(bytes) => json(&path, &bytes),
            None => Err(SbsError::UnknownBuild { name }),
        }
    }

    pub fn load_manifest(&self, name: &str) -> Result<Vec<u8>, SbsError> {
        let path = self.builds_dir().join(name).join("manifest.sig.tbz");
        read_optional(&path)?.ok_or_else(|| corrupt(&path, "missing".into()))
    }

    pub fn read_log(&self) -> Result<String, SbsError> {
        let path = self.log_path();
        let bytes = read_optional(&path)?.unwrap_or_default();
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub fn truncate_log(&self) -> Result<(), SbsError> {
        write_atomic(&self.log_path(), b"")
    }

    /// Empties the workspace.
    pub fn reset_workspace(&self) -> Result<(), SbsError> {
        remove_dir(&self.workspace_dir())?;
        make_private_dir(&self.workspace_dir())
    }

    /// `DELETE /image`: build records, logs and workspace go; params and keys stay.
    pub fn clear_builds(&self) -> Result<(), SbsError> {
        for dir in [self.builds_dir(), self.logs_dir(), self.workspace_dir()] {
            remove_dir(&dir)?;
            make_private_dir(&dir)?;
        }
        Ok(())
    }

    /// Every regular file under `keys/`, by its path relative to it (`/`-separated).
    pub fn read_keys(&self) -> Result<BTreeMap<String, Vec<u8>>, SbsError> {
        let mut files = BTreeMap::new();
        walk(&self.keys_dir(), "", &mut files)?;
        Ok(files)
    }

    /// Replaces `keys/` with `files`: written beside it, then swapped in by renames.
    pub fn replace_keys(&self, files: &BTreeMap<String, Vec<u8>>) -> Result<(), SbsError> {
        let incoming = self.dir.join("keys.incoming");
        let outgoing = self.dir.join("keys.outgoing");
        remove_dir(&incoming)?;
        remove_dir(&outgoing)?;
        make_private_dir(&incoming)?;
        for (relative, bytes) in files {
            let path = incoming.join(relative);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| file_error("create", parent, e))?;
                fs::set_permissions(parent, fs::Permissions::from_mode(0o700))
                    .map_err(|e| file_error("chmod", parent, e))?;
            }
            write_atomic(&path, bytes)?;
        }
        let keys = self.keys_dir();
        fs::rename(&keys, &outgoing).map_err(|e| file_error("rename", &keys, e))?;
        fs::rename(&incoming, &keys).map_err(|e| file_error("rename", &incoming, e))?;
        remove_dir(&outgoing)
    }
}

/// Whether a relative path of the state image is safe to write under `keys/`.
pub(crate) fn is_relative_key_path(path: &str) -> bool {
    let path = Path::new(path);
    !path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Whether `name` is a build name this server stores: a single file name of letters,
/// digits, `.`, `_`, `-` and `:`, not starting with a dot.
pub(crate) fn is_build_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
}

/// The spec's rules for an outcome before it is recorded.
pub(crate) fn check_outcome(outcome: &BuildOutcome) -> Result<(), SbsError> {
    let bad = |reason: String| Err(SbsError::BadOutcome { reason });
    if !is_build_name(&outcome.build_name) {
        return bad(format!(
            "build name {:?} is not a file name",
            outcome.build_name
        ));
    }
    let expected = format!("manifest.{}", outcome.build_name);
    if outcome.manifest_name != expected {
        return bad(format!(
            "manifest name {:?}, expected {expected:?}",
            outcome.manifest_name
        ));
    }
    let digest_ok = outcome
        .image_digest
        .split_once("@sha256:")
        .is_some_and(|(repo, hex)| {
            !repo.is_empty()
                && hex.len() == 64
                && hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        });
    if !digest_ok {
        return bad(format!(
            "image digest {:?}, expected <repository>@sha256:<64 hex>",
            outcome.image_digest
        ));
    }
    if outcome.image_tag.is_empty() || outcome.manifest_sig_tbz.is_empty() {
        return bad("an empty image tag or manifest".to_owned());
    }
    Ok(())
}

fn walk(dir: &Path, prefix: &str, files: &mut BTreeMap<String, Vec<u8>>) -> Result<(), SbsError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(file_error("list", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| file_error("list", dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry
            .file_type()
            .map_err(|e| file_error("stat", &path, e))?;
        if kind.is_dir() {
            walk(&path, &relative, files)?;
        } else if kind.is_file() {
            let bytes = fs::read(&path).map_err(|e| file_error("read", &path, e))?;
            files.insert(relative, bytes);
        } else {
            return Err(corrupt(&path, "neither a file nor a directory".to_owned()));
        }
    }
    Ok(())
}

fn corrupt(path: &Path, reason: String) -> SbsError {
    SbsError::StateCorrupt {
        path: path.to_owned(),
        reason,
    }
}

fn json<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, SbsError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(path, e.to_string()))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), SbsError> {
    let bytes = serde_json::to_vec(value).map_err(|e| corrupt(path, e.to_string()))?;
    write_atomic(path, &bytes)
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, SbsError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_error("read", path, e)),
    }
}

fn make_private_dir(path: &Path) -> Result<(), SbsError> {
    fs::create_dir_all(path).map_err(|e| file_error("create", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .map_err(|e| file_error("chmod", path, e))
}

fn remove_dir(path: &Path) -> Result<(), SbsError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(file_error("remove", path, e)),
    }
}

/// Writes `bytes` to `path` with mode 0600, atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SbsError> {
    crate::state_files::write_private(path, bytes)
        .map_err(|(action, path, source)| file_error(action, &path, source))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[test]
    fn names_and_paths_that_would_escape_are_refused() {
        assert!(is_build_name(
            "localhost:5000.user.app.latest-abc1234.2024-01-01_00-00-00.000001"
        ));
        for bad in ["", ".hidden", "a/b", "..", "a b", "a\\b"] {
            assert!(!is_build_name(bad), "{bad}");
        }
        assert!(is_relative_key_path("root/key.json"));
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a"] {
            assert!(!is_relative_key_path(bad), "{bad}");
        }
    }

    #[test]
    fn keys_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        fs::write(store.keys_dir().join("old"), b"1").unwrap();
        let mut files = BTreeMap::new();
        files.insert("sub/new".to_owned(), b"2".to_vec());
        store.replace_keys(&files).unwrap();
        assert_eq!(store.read_keys().unwrap(), files);
        let mode = fs::metadata(store.keys_dir().join("sub/new"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
