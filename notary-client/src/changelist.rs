//! Staged changes, persisted in the trust dir before any network call, in the Go client's
//! format: `<trust_dir>/tuf/<gun>/changelist/<20-digit unix nanos>_<uuid>.change`, each a JSON
//! object `{"action","role","type","path","data"}` with `data` the base64 of the target's
//! file meta JSON (or `null` for a delete). The Go client can publish what we stage and the
//! reverse.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::metadata::{FileMeta, KeyJson};

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Add or replace a target.
    Create,
    /// Change an existing delegation.
    Update,
    /// Remove a target or a delegation.
    Delete,
}

/// One staged change to a targets role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Create, update or delete.
    pub action: Action,
    /// The role changed: `targets` or a delegation for targets; the delegation itself for
    /// delegation changes.
    pub role: String,
    /// The target name (empty for delegation changes).
    pub path: String,
    /// What changes.
    pub content: ChangeContent,
}

/// What a [`Change`] carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeContent {
    /// A target: its meta for creates, nothing for deletes.
    Target(Option<FileMeta>),
    /// A delegation's keys, paths or threshold.
    Delegation(DelegationChange),
}

/// Changes to a delegation, as the Go client's `TUFDelegation` records them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationChange {
    /// New threshold (0 = unchanged).
    #[serde(rename = "threshold", default, skip_serializing_if = "is_zero")]
    pub new_threshold: i64,
    /// Keys to add.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_keys: Vec<KeyJson>,
    /// Key IDs to remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_keys: Vec<String>,
    /// Paths to add (`""` = all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_paths: Vec<String>,
    /// Paths to remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_paths: Vec<String>,
    /// Remove every path first.
    #[serde(
        rename = "clear_paths",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub clear_paths: bool,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Serialize, Deserialize)]
struct ChangeJson {
    action: Action,
    role: String,
    #[serde(rename = "type")]
    kind: String,
    path: String,
    data: Option<String>,
}

/// The staged changes of one GUN.
#[derive(Debug, Clone)]
pub struct Changelist {
    dir: PathBuf,
}

impl Changelist {
    /// The changelist in `dir` (created on first write).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// Persists `change` (atomically) and returns its file.
    pub fn add(&self, change: &Change) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.dir).map_err(Error::io("create directory", &self.dir))?;
        let encode = |value: serde_json::Result<Vec<u8>>| {
            value
                .map(|bytes| B64.encode(bytes))
                .map_err(|e| Error::Canonical {
                    reason: e.to_string(),
                })
        };
        let (kind, data) = match &change.content {
            ChangeContent::Target(Some(meta)) => {
                ("target", Some(encode(serde_json::to_vec(meta))?))
            }
            ChangeContent::Target(None) => ("target", None),
            ChangeContent::Delegation(d) => ("delegation", Some(encode(serde_json::to_vec(d))?)),
        };
        let json = ChangeJson {
            action: change.action,
            role: change.role.clone(),
            kind: kind.to_owned(),
            path: change.path.clone(),
            data,
        };
        let bytes = serde_json::to_vec(&json).map_err(|e| Error::Canonical {
            reason: e.to_string(),
        })?;
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let name = format!("{nanos:020}_{}.change", uuid_text(id));
        let path = self.dir.join(name);
        crate::cache::write_atomic(&path, &bytes)?;
        Ok(path)
    }

    /// Every staged change in order, with its file.
    pub fn list(&self) -> Result<Vec<(PathBuf, Change)>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read directory", &self.dir)(e)),
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "change"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|path| {
                let change = read_change(&path)?;
                Ok((path, change))
            })
            .collect()
    }

    /// Removes the given change files (after a successful publish).
    pub fn remove(&self, files: &[PathBuf]) -> Result<()> {
        for file in files {
            match std::fs::remove_file(file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", file)(e)),
            }
        }
        Ok(())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn read_change(path: &Path) -> Result<Change> {
    let bad = |reason: String| Error::Changelist {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
    let json: ChangeJson = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let decode =
        |data: &str| -> Result<Vec<u8>> { B64.decode(data).map_err(|e| bad(format!("data: {e}"))) };
    let content = match (json.kind.as_str(), &json.action, json.data.as_deref()) {
        ("target", Action::Create, Some(data)) => ChangeContent::Target(Some(
            serde_json::from_slice(&decode(data)?).map_err(|e| bad(format!("data: {e}")))?,
        )),
        ("target", Action::Create, None) => {
            return Err(bad("a create without target data".to_owned()));
        }
        ("target", _, _) => ChangeContent::Target(None),
        ("delegation", _, Some(data)) => ChangeContent::Delegation(
            serde_json::from_slice(&decode(data)?).map_err(|e| bad(format!("data: {e}")))?,
        ),
        ("delegation", _, None) => ChangeContent::Delegation(DelegationChange::default()),
        (other, _, _) => {
            return Err(bad(format!(
                "change type {other:?} is not supported (target and delegation changes are)"
            )));
        }
    };
    Ok(Change {
        action: json.action,
        role: json.role,
        path: json.path,
        content,
    })
}

fn uuid_text(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
