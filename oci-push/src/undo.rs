//! The undo journal of an unpack: every change an unpack makes to a root filesystem is
//! recorded before it is made, so that a failed unpack (a corrupt tar header half-way, an
//! unsafe entry, a full disk) leaves the root exactly as it was. What an entry replaces or
//! a whiteout removes is renamed into a hidden directory inside the root (same filesystem,
//! so a rename, whatever its size) and renamed back on failure; the metadata of directories
//! whose entries change is saved and restored.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use crate::Error;

/// One change made to the root, in the order made.
enum Change {
    /// This path did not exist and was created.
    Created(PathBuf),
    /// What was at `original` now lies at `saved`.
    Moved { original: PathBuf, saved: PathBuf },
}

/// A directory's metadata before the unpack touched it.
struct SavedMeta {
    path: PathBuf,
    mode: u32,
    uid: u32,
    gid: u32,
    accessed: std::time::SystemTime,
    modified: std::time::SystemTime,
}

/// The changes of one unpack into `root`, undone on [`Journal::rollback`] and forgotten on
/// [`Journal::commit`].
pub(crate) struct Journal {
    root: PathBuf,
    saved_dir: Option<PathBuf>,
    changes: Vec<Change>,
    metadata: Vec<SavedMeta>,
    touched: HashSet<PathBuf>,
    created: HashSet<PathBuf>,
    moved: u64,
}

impl Journal {
    /// A journal for an unpack into `root` (which exists).
    pub(crate) fn new(root: &Path) -> Journal {
        Journal {
            root: root.to_owned(),
            saved_dir: None,
            changes: Vec::new(),
            metadata: Vec::new(),
            touched: HashSet::new(),
            created: HashSet::new(),
            moved: 0,
        }
    }

    /// The hidden directory holding what the unpack replaced, once it exists: entries
    /// naming it are refused.
    pub(crate) fn saved_dir_name(&self) -> Option<&std::ffi::OsStr> {
        self.saved_dir.as_deref().and_then(Path::file_name)
    }

    /// Saves the metadata of the existing directory `dir` (once), before its entries, mode,
    /// owner or times change. Directories this unpack created need nothing.
    pub(crate) fn touch_dir(&mut self, dir: &Path) -> Result<(), Error> {
        if self.created.contains(dir) || !self.touched.insert(dir.to_owned()) {
            return Ok(());
        }
        let meta =
            std::fs::symlink_metadata(dir).map_err(Error::io("read the metadata of", dir))?;
        self.metadata.push(SavedMeta {
            path: dir.to_owned(),
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            accessed: meta
                .accessed()
                .map_err(Error::io("read the times of", dir))?,
            modified: meta
                .modified()
                .map_err(Error::io("read the times of", dir))?,
        });
        Ok(())
    }

    /// Records that `path` is about to be created (it does not exist).
    pub(crate) fn creating(&mut self, path: &Path) -> Result<(), Error> {
        if let Some(parent) = path.parent() {
            self.touch_dir(parent)?;
        }
        self.created.insert(path.to_owned());
        self.changes.push(Change::Created(path.to_owned()));
        Ok(())
    }

    /// Takes whatever is at `path` out of the way (absent is fine): renamed aside, so that a
    /// rollback can put it back.
    pub(crate) fn remove(&mut self, path: &Path) -> Result<(), Error> {
        if std::fs::symlink_metadata(path).is_err() {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            self.touch_dir(parent)?;
        }
        let saved_dir = self.saved_dir()?;
        self.moved += 1;
        let saved = saved_dir.join(self.moved.to_string());
        std::fs::rename(path, &saved).map_err(Error::io("move aside", path))?;
        self.changes.push(Change::Moved {
            original: path.to_owned(),
            saved,
        });
        Ok(())
    }

    fn saved_dir(&mut self) -> Result<PathBuf, Error> {
        if let Some(dir) = &self.saved_dir {
            return Ok(dir.clone());
        }
        let root = self.root.clone();
        self.touch_dir(&root)?;
        let dir = tempfile::Builder::new()
            .prefix(".oci-unpack-undo-")
            .tempdir_in(&root)
            .map_err(Error::io("create a directory in", &root))?
            .keep();
        self.saved_dir = Some(dir.clone());
        Ok(dir)
    }

    /// The unpack succeeded: what it replaced goes.
    pub(crate) fn commit(self) -> Result<(), Error> {
        match &self.saved_dir {
            Some(dir) => std::fs::remove_dir_all(dir).map_err(Error::io("remove", dir)),
            None => Ok(()),
        }
    }

    /// The unpack failed: every change is undone, newest first, then the saved directory
    /// metadata is put back. Returns what could not be undone, if anything.
    pub(crate) fn rollback(self) -> Result<(), String> {
        let mut failures = Vec::new();
        for change in self.changes.iter().rev() {
            let result = match change {
                Change::Created(path) => remove_any(path),
                Change::Moved { original, saved } => {
                    remove_any(original).and_then(|()| std::fs::rename(saved, original))
                }
            };
            if let Err(error) = result {
                failures.push(format!("{}: {error}", describe(change)));
            }
        }
        if let Some(dir) = &self.saved_dir
            && let Err(error) = std::fs::remove_dir_all(dir)
        {
            failures.push(format!("remove {}: {error}", dir.display()));
        }
        for saved in self.metadata.iter().rev() {
            if let Err(error) = restore(saved) {
                failures.push(format!(
                    "restore the metadata of {}: {error}",
                    saved.path.display()
                ));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }
}

fn describe(change: &Change) -> String {
    match change {
        Change::Created(path) => format!("remove {}", path.display()),
        Change::Moved { original, saved } => {
            format!("move {} back to {}", saved.display(), original.display())
        }
    }
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

fn restore(saved: &SavedMeta) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::symlink_metadata(&saved.path)?;
    if meta.uid() != saved.uid || meta.gid() != saved.gid {
        std::os::unix::fs::lchown(&saved.path, Some(saved.uid), Some(saved.gid))?;
    }
    std::fs::set_permissions(&saved.path, std::fs::Permissions::from_mode(saved.mode))?;
    let times = std::fs::FileTimes::new()
        .set_accessed(saved.accessed)
        .set_modified(saved.modified);
    std::fs::File::open(&saved.path)?.set_times(times)
}
