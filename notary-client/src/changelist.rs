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
use crate::metadata::FileMeta;

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Add or replace a target.
    Create,
    /// Remove a target.
    Delete,
}

/// One staged change to a targets role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Create or delete.
    pub action: Action,
    /// `targets` or a delegation.
    pub role: String,
    /// The target name.
    pub target: String,
    /// The target's meta, for creates.
    pub meta: Option<FileMeta>,
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
        let data = match &change.meta {
            Some(meta) => {
                Some(
                    B64.encode(serde_json::to_vec(meta).map_err(|e| Error::Canonical {
                        reason: e.to_string(),
                    })?),
                )
            }
            None => None,
        };
        let json = ChangeJson {
            action: change.action,
            role: change.role.clone(),
            kind: "target".to_owned(),
            path: change.target.clone(),
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
    if json.kind != "target" {
        return Err(bad(format!(
            "change type {:?} is not supported yet (only target changes)",
            json.kind
        )));
    }
    let meta = match (&json.action, json.data) {
        (Action::Create, Some(data)) => {
            let raw = B64.decode(data).map_err(|e| bad(format!("data: {e}")))?;
            Some(serde_json::from_slice(&raw).map_err(|e| bad(format!("data: {e}")))?)
        }
        (Action::Create, None) => return Err(bad("a create without target data".to_owned())),
        (Action::Delete, _) => None,
    };
    Ok(Change {
        action: json.action,
        role: json.role,
        target: json.path,
        meta,
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
