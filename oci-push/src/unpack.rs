//! Safe unpacking of layers to a root filesystem: whiteouts honoured; absolute paths, `..`,
//! symlink and hardlink escapes, device nodes and oversized entries refused with the entry
//! named; symlinked directories of the image are followed inside the root, never out of it. Every check lives in [`safe_path`] or [`check_entry`].

use std::io::{BufRead as _, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use crate::Error;
use crate::digest::{LimitedReader, Verifier};
use crate::layout::Layout;
use crate::spec::{Descriptor, Parsed, parse_manifest};

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

/// What an unpack wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries created (files, directories, links).
    pub entries: u64,
    /// Bytes of regular files written.
    pub bytes: u64,
    /// Whiteouts applied.
    pub whiteouts: u64,
}

/// Unpacks every layer of the image `manifest` (a single-platform image manifest; use
/// [`Layout::select_platform`] for an index) from `layout` into `root`, in order, checking
/// each layer's digest as it is read.
pub fn unpack_image(
    layout: &Layout,
    manifest: &Descriptor,
    root: &Path,
    options: &UnpackOptions,
) -> Result<UnpackStats, Error> {
    let bytes = layout.read_document(manifest)?;
    let layers = match parse_manifest(&manifest.media_type, &bytes)? {
        Parsed::Image { layers, .. } => layers,
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
    std::fs::create_dir_all(root).map_err(Error::io("create directory", root))?;
    let mut stats = UnpackStats::default();
    for layer in layers {
        let path = layout.blob_path(&layer.digest);
        let file = std::fs::File::open(&path).map_err(Error::io("open", &path))?;
        let mut reader = VerifyingReader {
            inner: file,
            verifier: Some(Verifier::new(
                format!("layer {}", layer.digest),
                &layer.digest,
                layer.size,
            )),
            error: None,
        };
        let result = unpack_layer(&mut reader, root, options, &mut stats);
        // Drain what the tar reader left (padding) so the whole blob is checked.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        if let Some(error) = reader.error.take() {
            return Err(error);
        }
        result?;
        if let Some(verifier) = reader.verifier.take() {
            verifier.finish()?;
        }
    }
    Ok(stats)
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
/// adding to `stats`.
pub fn unpack_layer(
    reader: impl Read,
    root: &Path,
    options: &UnpackOptions,
    stats: &mut UnpackStats,
) -> Result<(), Error> {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let magic = buffered
        .fill_buf()
        .map_err(Error::io("read layer for", root))?
        .to_vec();
    if magic.starts_with(&[0x1f, 0x8b]) {
        unpack_tar(flate2::read::GzDecoder::new(buffered), root, options, stats)
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        #[cfg(feature = "zstd")]
        {
            let decoder = zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(Error::io("start zstd decoding for", root))?;
            unpack_tar(decoder, root, options, stats)
        }
        #[cfg(not(feature = "zstd"))]
        Err(Error::UnsupportedMediaType {
            what: "layer (built without the zstd feature)".to_owned(),
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd".to_owned(),
        })
    } else {
        unpack_tar(buffered, root, options, stats)
    }
}

fn unpack_tar(
    reader: impl Read,
    root: &Path,
    options: &UnpackOptions,
    stats: &mut UnpackStats,
) -> Result<(), Error> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(Error::io("read tar", root))?;
    for entry in entries {
        let mut entry = entry.map_err(Error::io("read tar entry in layer for", root))?;
        let shown = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let unsafe_entry = |reason: String| Error::UnsafeEntry {
            path: shown.clone(),
            reason,
        };
        let Some(relative) = safe_path(&shown).map_err(&unsafe_entry)? else {
            continue;
        };
        let name = relative
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = ensure_parent(root, &relative).map_err(&unsafe_entry)?;
        if let Some(hidden) = name.strip_prefix(".wh.") {
            if hidden == ".wh..opq" {
                for child in
                    std::fs::read_dir(&parent).map_err(Error::io("read directory", &parent))?
                {
                    let child = child.map_err(Error::io("read directory", &parent))?;
                    remove(&child.path())?;
                }
            } else {
                remove(&parent.join(hidden))?;
            }
            stats.whiteouts += 1;
            continue;
        }
        let dest = parent.join(&name);
        let header = entry.header().clone();
        let mode = header.mode().unwrap_or(0o644) & 0o1777;
        let kind = header.entry_type();
        match kind {
            tar::EntryType::Directory => {
                match std::fs::symlink_metadata(&dest) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        remove(&dest)?;
                        std::fs::create_dir(&dest).map_err(Error::io("create directory", &dest))?;
                    }
                    Err(_) => {
                        std::fs::create_dir(&dest).map_err(Error::io("create directory", &dest))?;
                    }
                }
                set_mode(&dest, mode | 0o700)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = header
                    .size()
                    .map_err(Error::io("read tar header in layer for", root))?;
                if size > options.max_entry_size {
                    return Err(unsafe_entry(format!(
                        "{size} bytes is over the entry size limit of {}",
                        options.max_entry_size
                    )));
                }
                if stats.bytes + size > options.max_total_size {
                    return Err(unsafe_entry(format!(
                        "the layer grows over the total size limit of {}",
                        options.max_total_size
                    )));
                }
                remove(&dest)?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&dest)
                    .map_err(Error::io("create", &dest))?;
                let written = std::io::copy(&mut LimitedReader::new(&mut entry, size), &mut file)
                    .map_err(Error::io("write", &dest))?;
                stats.bytes += written;
                drop(file);
                set_mode(&dest, mode)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                check_symlink(&relative, &target).map_err(&unsafe_entry)?;
                remove(&dest)?;
                std::os::unix::fs::symlink(&target, &dest)
                    .map_err(Error::io("create symlink", &dest))?;
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
                let target_parent = ensure_parent(root, &target_rel).map_err(|reason| {
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
                remove(&dest)?;
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
        if let Ok(mtime) = header.mtime()
            && kind != tar::EntryType::Symlink
        {
            let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
            if let Ok(file) = std::fs::File::open(&dest) {
                let _ = file.set_modified(time);
            }
        }
        stats.entries += 1;
    }
    Ok(())
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

/// Resolves the parent directories of `relative` inside `root` and creates the missing ones.
///
/// Symlinks met on the way are followed *inside the root*, as they would be in a container:
/// an absolute target starts again at the root, and `..` stops at the root. So an image's
/// `lib -> usr/lib` works for a later `lib/x`, and no link, however crafted, leads out of the
/// root. Every step is checked with `lstat`, never by letting the OS follow a link.
fn ensure_parent(root: &Path, relative: &Path) -> Result<PathBuf, String> {
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
                    return Err(format!(
                        "its parent {} loops through more than {MAX_SYMLINK_HOPS} symlinks",
                        shown()
                    ));
                }
                let target = std::fs::read_link(&dir)
                    .map_err(|e| format!("cannot read the symlink {}: {e}", shown()))?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for component in target.components().rev() {
                    queue.push_front(component.as_os_str().to_owned());
                }
            }
            Ok(m) if m.is_dir() => resolved.push(part),
            Ok(_) => return Err(format!("its parent {} is not a directory", shown())),
            Err(_) => {
                std::fs::create_dir(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                resolved.push(part);
            }
        }
    }
    let mut dir = root.to_owned();
    dir.extend(&resolved);
    Ok(dir)
}

/// Refuses a symlink whose target, resolved from the link's directory (or from the root
/// when absolute), leaves the root.
fn check_symlink(link: &Path, target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err("the symlink has an empty target".to_owned());
    }
    let mut depth: Vec<&std::ffi::OsStr> = if target.starts_with('/') {
        Vec::new()
    } else {
        link.parent()
            .map(|p| {
                p.components()
                    .filter_map(|c| match c {
                        Component::Normal(n) => Some(n),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    for component in Path::new(target).components() {
        match component {
            Component::Normal(part) => depth.push(part),
            Component::ParentDir if depth.pop().is_none() => {
                return Err(format!("the symlink target {target:?} escapes the root"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Removes a file, symlink or directory tree without following symlinks; absent is fine.
fn remove(path: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).map_err(Error::io("remove", path)),
        Ok(_) => std::fs::remove_file(path).map_err(Error::io("remove", path)),
        Err(_) => Ok(()),
    }
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
        assert!(check_symlink(Path::new("a/b/link"), "../c").is_ok());
        assert!(check_symlink(Path::new("a/link"), "/usr/bin").is_ok());
        assert!(check_symlink(Path::new("a/link"), "../../etc").is_err());
        assert!(check_symlink(Path::new("link"), "/../etc").is_err());
    }
}
