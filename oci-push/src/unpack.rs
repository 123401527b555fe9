//! Safe unpacking of layers to a root filesystem: whiteouts honoured; absolute paths, `..`,
//! hardlink escapes, device nodes and oversized entries refused with the entry named;
//! symlinks (absolute or climbing with `..`) are resolved inside the root, never out of it.
//! Blobs are verified before extraction, and a failed unpack is undone ([`Journal`]).

use std::io::{BufRead as _, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use crate::Error;
use crate::digest::{LimitedReader, Verifier};
use crate::layout::Layout;
use crate::spec::{Descriptor, Parsed, parse_manifest};
use crate::undo::Journal;

/// Limits of an unpack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnpackOptions {
    /// The largest regular file accepted.
    pub max_entry_size: u64,
    /// The most bytes written in total.
    pub max_total_size: u64,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            max_entry_size: 8 << 30,
            max_total_size: 64 << 30,
        }
    }
}

/// What an unpack wrote, and what of the layers it could not keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries created (files, directories, links).
    pub entries: u64,
    /// Bytes of regular files written.
    pub bytes: u64,
    /// Whiteouts applied.
    pub whiteouts: u64,
    /// Entries whose owner (uid:gid) from the layer could not be set, because the unpack
    /// does not run as root: they belong to the unpacking user instead.
    pub owners_dropped: u64,
    /// Entries whose setuid or setgid bit was cleared because their owner could not be set.
    pub setid_bits_dropped: u64,
}

/// Unpacks every layer of the image `manifest` (a single-platform image manifest; use
/// [`Layout::select_platform`] for an index) from `layout` into `root`, in order.
///
/// Verified before use: the manifest, the image config and every layer are hashed and
/// checked against their descriptors before the first entry is extracted. Transactional:
/// when any layer fails (corrupt tar, unsafe entry, limit, I/O), every change made to
/// `root` is undone, so the root is exactly as it was before the call. Owners and
/// setuid/setgid bits are kept when running as root; otherwise the result counts what was
/// dropped.
pub fn unpack_image(
    layout: &Layout,
    manifest: &Descriptor,
    root: &Path,
    options: &UnpackOptions,
) -> Result<UnpackStats, Error> {
    let bytes = layout.read_document(manifest)?;
    let (config, layers) = match parse_manifest(&manifest.media_type, &bytes)? {
        Parsed::Image { config, layers } => (config, layers),
        Parsed::Index { .. } => {
            return Err(Error::UnsupportedMediaType {
                what: format!(
                    "{} (choose one platform's manifest to unpack)",
                    manifest.digest
                ),
                media_type: manifest.media_type.clone(),
            });
        }
    };
    layout.read_document(&config)?;
    for layer in &layers {
        layout.verify_blob(layer)?;
    }
    let created_root = first_missing(root);
    std::fs::create_dir_all(root).map_err(Error::io("create directory", root))?;
    let mut stats = UnpackStats::default();
    let mut journal = Journal::new(root);
    let result = layers.iter().try_for_each(|layer| {
        let path = layout.blob_path(&layer.digest);
        let file = std::fs::File::open(&path).map_err(Error::io("open", &path))?;
        // Checked again while extracting: the file may have changed since it was hashed.
        let mut reader = VerifyingReader {
            inner: file,
            verifier: Some(Verifier::new(
                format!("layer {}", layer.digest),
                &layer.digest,
                layer.size,
            )),
            error: None,
        };
        let result = unpack_any(&mut reader, root, options, &mut stats, &mut journal);
        // Drain what the tar reader left (padding) so the whole blob is checked.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        if let Some(error) = reader.error.take() {
            return Err(error);
        }
        result?;
        match reader.verifier.take() {
            Some(verifier) => verifier.finish(),
            None => Ok(()),
        }
    });
    match result {
        Ok(()) => {
            journal.commit()?;
            Ok(stats)
        }
        Err(error) => {
            let undone = undo(journal, root, error);
            if let Some(created) = created_root {
                let _ = std::fs::remove_dir_all(created);
            }
            Err(undone)
        }
    }
}

/// The outermost directory of `path` that does not exist yet, if any.
fn first_missing(path: &Path) -> Option<PathBuf> {
    let mut missing = None;
    for ancestor in path.ancestors() {
        if ancestor.as_os_str().is_empty() || std::fs::symlink_metadata(ancestor).is_ok() {
            break;
        }
        missing = Some(ancestor.to_owned());
    }
    missing
}

/// Rolls `journal` back after `error`; the error, or why the root could not be restored.
fn undo(journal: Journal, root: &Path, error: Error) -> Error {
    match journal.rollback() {
        Ok(()) => error,
        Err(failures) => Error::UnpackNotUndone {
            root: root.to_owned(),
            cause: Box::new(error),
            failures,
        },
    }
}

struct VerifyingReader<R> {
    inner: R,
    verifier: Option<Verifier>,
    error: Option<Error>,
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(verifier) = &mut self.verifier
            && let Err(error) = verifier.update(&buf[..n])
        {
            self.error = Some(error);
            return Err(std::io::Error::other("layer is longer than its descriptor"));
        }
        Ok(n)
    }
}

/// Unpacks one layer (plain, gzip or zstd tar, detected by magic number) into `root`,
/// adding to `stats`. On failure every change it made to `root` is undone and `stats` is
/// as before.
pub fn unpack_layer(
    reader: impl Read,
    root: &Path,
    options: &UnpackOptions,
    stats: &mut UnpackStats,
) -> Result<(), Error> {
    let before = *stats;
    let mut journal = Journal::new(root);
    match unpack_any(reader, root, options, stats, &mut journal) {
        Ok(()) => journal.commit(),
        Err(error) => {
            *stats = before;
            Err(undo(journal, root, error))
        }
    }
}

fn unpack_any(
    reader: impl Read,
    root: &Path,
    options: &UnpackOptions,
    stats: &mut UnpackStats,
    journal: &mut Journal,
) -> Result<(), Error> {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let magic = buffered
        .fill_buf()
        .map_err(Error::io("read layer for", root))?
        .to_vec();
    let mut unpacker = Unpacker {
        root,
        options,
        stats,
        journal,
    };
    if magic.starts_with(&[0x1f, 0x8b]) {
        unpacker.tar(flate2::read::GzDecoder::new(buffered))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        #[cfg(feature = "zstd")]
        {
            let decoder = zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(Error::io("start zstd decoding for", root))?;
            unpacker.tar(decoder)
        }
        #[cfg(not(feature = "zstd"))]
        Err(Error::UnsupportedMediaType {
            what: "layer (built without the zstd feature)".to_owned(),
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd".to_owned(),
        })
    } else {
        unpacker.tar(buffered)
    }
}

struct Unpacker<'a> {
    root: &'a Path,
    options: &'a UnpackOptions,
    stats: &'a mut UnpackStats,
    journal: &'a mut Journal,
}

impl Unpacker<'_> {
    fn tar(&mut self, reader: impl Read) -> Result<(), Error> {
        let root = self.root;
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(Error::io("read tar", root))?;
        for entry in entries {
            let mut entry = entry.map_err(Error::io("read tar entry in layer for", root))?;
            self.entry(&mut entry)?;
        }
        Ok(())
    }

    fn entry(&mut self, entry: &mut tar::Entry<'_, impl Read>) -> Result<(), Error> {
        let root = self.root;
        let shown = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let unsafe_entry = |reason: String| Error::UnsafeEntry {
            path: shown.clone(),
            reason,
        };
        let Some(relative) = safe_path(&shown).map_err(&unsafe_entry)? else {
            return Ok(());
        };
        if let Some(saved) = self.journal.saved_dir_name()
            && relative.components().next().map(|c| c.as_os_str()) == Some(saved)
        {
            return Err(unsafe_entry(
                "the path is the unpack's own undo directory".to_owned(),
            ));
        }
        let name = relative
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = ensure_parent(root, &relative, self.journal)?.map_err(&unsafe_entry)?;
        if let Some(hidden) = name.strip_prefix(".wh.") {
            if hidden == ".wh..opq" {
                self.journal.touch_dir(&parent)?;
                let saved = self.journal.saved_dir_name().map(ToOwned::to_owned);
                let mut children = Vec::new();
                for child in
                    std::fs::read_dir(&parent).map_err(Error::io("read directory", &parent))?
                {
                    children.push(child.map_err(Error::io("read directory", &parent))?.path());
                }
                for child in children {
                    if child.file_name() != saved.as_deref() || parent != root {
                        self.journal.remove(&child)?;
                    }
                }
            } else {
                self.journal.remove(&parent.join(hidden))?;
            }
            self.stats.whiteouts += 1;
            return Ok(());
        }
        let dest = parent.join(&name);
        let header = entry.header().clone();
        let owner = owner(&header).map_err(&unsafe_entry)?;
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let kind = header.entry_type();
        match kind {
            tar::EntryType::Directory => {
                match std::fs::symlink_metadata(&dest) {
                    Ok(m) if m.is_dir() => self.journal.touch_dir(&dest)?,
                    Ok(_) => {
                        self.journal.remove(&dest)?;
                        self.create_dir(&dest)?;
                    }
                    Err(_) => self.create_dir(&dest)?,
                }
                self.set_owner_and_mode(&dest, owner, mode | 0o700)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = header
                    .size()
                    .map_err(Error::io("read tar header in layer for", root))?;
                if size > self.options.max_entry_size {
                    return Err(unsafe_entry(format!(
                        "{size} bytes is over the entry size limit of {}",
                        self.options.max_entry_size
                    )));
                }
                if self.stats.bytes + size > self.options.max_total_size {
                    return Err(unsafe_entry(format!(
                        "the layer grows over the total size limit of {}",
                        self.options.max_total_size
                    )));
                }
                self.journal.remove(&dest)?;
                self.journal.creating(&dest)?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&dest)
                    .map_err(Error::io("create", &dest))?;
                let written = std::io::copy(&mut LimitedReader::new(entry, size), &mut file)
                    .map_err(Error::io("write", &dest))?;
                self.stats.bytes += written;
                drop(file);
                self.set_owner_and_mode(&dest, owner, mode)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                check_symlink(&target).map_err(&unsafe_entry)?;
                self.journal.remove(&dest)?;
                self.journal.creating(&dest)?;
                std::os::unix::fs::symlink(&target, &dest)
                    .map_err(Error::io("create symlink", &dest))?;
                self.set_owner(&dest, owner)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                let target_rel = safe_path(&target)
                    .map_err(|reason| {
                        unsafe_entry(format!("hard link target {target:?}: {reason}"))
                    })?
                    .ok_or_else(|| unsafe_entry("hard link to the root".to_owned()))?;
                let target_parent =
                    ensure_parent(root, &target_rel, self.journal)?.map_err(|reason| {
                        unsafe_entry(format!("hard link target {target:?}: {reason}"))
                    })?;
                let source = target_parent.join(target_rel.file_name().unwrap_or_default());
                match std::fs::symlink_metadata(&source) {
                    Ok(m) if m.is_file() => {}
                    Ok(_) => {
                        return Err(unsafe_entry(format!(
                            "hard link target {target:?} is not a regular file"
                        )));
                    }
                    Err(_) => {
                        return Err(unsafe_entry(format!(
                            "hard link target {target:?} does not exist in the layers so far"
                        )));
                    }
                }
                self.journal.remove(&dest)?;
                self.journal.creating(&dest)?;
                std::fs::hard_link(&source, &dest).map_err(Error::io("create hard link", &dest))?;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                return Err(unsafe_entry("device nodes are not allowed".to_owned()));
            }
            tar::EntryType::Fifo => {
                return Err(unsafe_entry("named pipes are not allowed".to_owned()));
            }
            other => {
                return Err(unsafe_entry(format!(
                    "unsupported tar entry type {other:?}"
                )));
            }
        }
        // A hard link shares the inode of its target: its times are the target's.
        if let Ok(mtime) = header.mtime()
            && kind != tar::EntryType::Symlink
            && kind != tar::EntryType::Link
        {
            let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
            if let Ok(file) = std::fs::File::open(&dest) {
                let _ = file.set_modified(time);
            }
        }
        self.stats.entries += 1;
        Ok(())
    }

    fn create_dir(&mut self, dir: &Path) -> Result<(), Error> {
        self.journal.creating(dir)?;
        std::fs::create_dir(dir).map_err(Error::io("create directory", dir))
    }

    /// Sets the layer's owner on `path` when it differs from the unpacking user's; whether
    /// `path` now has it. Without the privilege the entry keeps the unpacking user, counted.
    fn set_owner(&mut self, path: &Path, (uid, gid): (u32, u32)) -> Result<bool, Error> {
        use std::os::unix::fs::MetadataExt as _;
        let meta =
            std::fs::symlink_metadata(path).map_err(Error::io("read the metadata of", path))?;
        if meta.uid() == uid && meta.gid() == gid {
            return Ok(true);
        }
        match std::os::unix::fs::lchown(path, Some(uid), Some(gid)) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
                self.stats.owners_dropped += 1;
                Ok(false)
            }
            Err(error) => Err(Error::io("set the owner of", path)(error)),
        }
    }

    /// The owner first (a change of owner clears setuid/setgid), then the mode; the
    /// setuid/setgid bits only on an entry that has the layer's owner.
    fn set_owner_and_mode(
        &mut self,
        path: &Path,
        owner: (u32, u32),
        mut mode: u32,
    ) -> Result<(), Error> {
        if !self.set_owner(path, owner)? && mode & 0o6000 != 0 {
            mode &= !0o6000;
            self.stats.setid_bits_dropped += 1;
        }
        set_mode(path, mode)
    }
}

/// The entry's uid and gid, which must fit 32 bits (a runtime truncating a larger ID could
/// make it root). An empty field, as some writers leave it, is 0.
fn owner(header: &tar::Header) -> Result<(u32, u32), String> {
    let id = |value: std::io::Result<u64>, what: &str| -> Result<u32, String> {
        let value = value.unwrap_or(0);
        u32::try_from(value).map_err(|_| format!("the {what} {value} does not fit 32 bits"))
    };
    Ok((id(header.uid(), "uid")?, id(header.gid(), "gid")?))
}

/// The entry path relative to the root, or `None` for the root itself. Refuses absolute
/// paths and `..` (tar paths are relative; a leading `/` is an attack, not a convenience).
fn safe_path(path: &str) -> Result<Option<PathBuf>, String> {
    let mut out = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("the path contains '..'".to_owned()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("the path is absolute".to_owned());
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Most symlinks followed while resolving one path (the kernel's ELOOP limit).
const MAX_SYMLINK_HOPS: usize = 40;

/// Resolves the parent directories of `relative` inside `root` and creates the missing ones
/// (recorded in `journal`). The inner error says why the path is refused.
///
/// Symlinks met on the way are followed *inside the root*, as they would be in a container:
/// an absolute target starts again at the root, and `..` stops at the root. So an image's
/// `lib -> usr/lib` works for a later `lib/x`, and no link, however crafted, leads out of the
/// root. Every step is checked with `lstat`, never by letting the OS follow a link.
fn ensure_parent(
    root: &Path,
    relative: &Path,
    journal: &mut Journal,
) -> Result<Result<PathBuf, String>, Error> {
    let mut queue: std::collections::VecDeque<std::ffi::OsString> = relative
        .parent()
        .map(|p| p.components().map(|c| c.as_os_str().to_owned()).collect())
        .unwrap_or_default();
    let mut resolved: Vec<std::ffi::OsString> = Vec::new();
    let mut hops = 0;
    while let Some(part) = queue.pop_front() {
        if part == "." || part.is_empty() || part == "/" {
            continue;
        }
        if part == ".." {
            resolved.pop();
            continue;
        }
        let mut dir = root.to_owned();
        dir.extend(&resolved);
        dir.push(&part);
        let shown = || {
            let mut p = PathBuf::new();
            p.extend(&resolved);
            p.push(&part);
            p.display().to_string()
        };
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Ok(Err(format!(
                        "its parent {} loops through more than {MAX_SYMLINK_HOPS} symlinks",
                        shown()
                    )));
                }
                let target = match std::fs::read_link(&dir) {
                    Ok(target) => target,
                    Err(e) => return Ok(Err(format!("cannot read the symlink {}: {e}", shown()))),
                };
                if target.is_absolute() {
                    resolved.clear();
                }
                for component in target.components().rev() {
                    queue.push_front(component.as_os_str().to_owned());
                }
            }
            Ok(m) if m.is_dir() => resolved.push(part),
            Ok(_) => return Ok(Err(format!("its parent {} is not a directory", shown()))),
            Err(_) => {
                journal.creating(&dir)?;
                std::fs::create_dir(&dir).map_err(Error::io("create directory", &dir))?;
                resolved.push(part);
            }
        }
    }
    let mut dir = root.to_owned();
    dir.extend(&resolved);
    Ok(Ok(dir))
}

/// Refuses an empty symlink target. Any other target is kept as it is: a runtime resolves
/// it inside the root (an absolute target from the root, `..` stopping at the root), and so
/// does [`ensure_parent`] for the entries of later layers, so no target leads out.
fn check_symlink(target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err("the symlink has an empty target".to_owned());
    }
    if target.contains('\0') {
        return Err("the symlink target contains a NUL byte".to_owned());
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(Error::io("set the mode of", path))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn path_checks() {
        assert_eq!(safe_path("./a/b").unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(safe_path("./").unwrap(), None);
        assert!(safe_path("/etc/passwd").is_err());
        assert!(safe_path("a/../../x").is_err());
        assert!(check_symlink("../c").is_ok());
        assert!(check_symlink("/usr/bin").is_ok());
        // Climbing above the root stops at it, as in a runtime.
        assert!(check_symlink("../../../../usr/lib/x").is_ok());
        assert!(check_symlink("").is_err());
    }
}
