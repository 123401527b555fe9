//! Reproducible layers: directory trees as sorted tar entries (fixed timestamps, uid/gid
//! 0, normalised modes) in stable gzip or zstd, hashed as they are written.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use crate::digest::HashingWriter;
use crate::layout::Layout;
use crate::spec::{self, Descriptor};
use crate::{Digest, Error};

/// The compression of built layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip at level 6, no file name, mtime 0 (the same bytes for the same input).
    #[default]
    Gzip,
    /// zstd at level 3, single-threaded (the same bytes for the same input).
    #[cfg(feature = "zstd")]
    Zstd,
}

impl Compression {
    /// The names [`FromStr`](std::str::FromStr) takes (what a `--compression` flag offers).
    #[cfg(feature = "zstd")]
    pub const NAMES: &'static [&'static str] = &["gzip", "zstd", "none"];
    /// The names [`FromStr`](std::str::FromStr) takes.
    #[cfg(not(feature = "zstd"))]
    pub const NAMES: &'static [&'static str] = &["gzip", "none"];

    fn media_type(self) -> &'static str {
        match self {
            Compression::None => spec::OCI_LAYER_TAR,
            Compression::Gzip => spec::OCI_LAYER_GZIP,
            #[cfg(feature = "zstd")]
            Compression::Zstd => spec::OCI_LAYER_ZSTD,
        }
    }
}

#[derive(Clone, Debug)]
enum Source {
    Dir,
    File { path: PathBuf, executable: bool },
    Symlink { target: String },
}

impl std::str::FromStr for Compression {
    type Err = Error;

    /// `gzip`, `zstd` (with the `zstd` feature) or `none`.
    fn from_str(name: &str) -> Result<Compression, Error> {
        match name {
            "gzip" => Ok(Compression::Gzip),
            #[cfg(feature = "zstd")]
            "zstd" => Ok(Compression::Zstd),
            "none" => Ok(Compression::None),
            _ => Err(Error::UnknownCompression {
                name: name.to_owned(),
                choices: Compression::NAMES,
            }),
        }
    }
}

/// What [`LayerBuilder::add_tree`] does with one entry of a source tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visit {
    /// Take the entry (a directory with its contents, subject to the same question).
    Add,
    /// Leave the entry out (a directory with everything below it).
    Skip,
    /// Leave a directory out but look inside: entries taken below it bring their parent
    /// directories with them. A file is left out.
    Descend,
}

/// The entries of one layer, sorted by path, with sources on disk. Entries are owned by
/// 0:0 with modes 0755 (directories, executables) or 0644, unless
/// [`set_owner`](LayerBuilder::set_owner) and [`set_mode`](LayerBuilder::set_mode) say
/// otherwise (what `COPY --chown` and `--chmod` do).
#[derive(Clone, Debug, Default)]
pub struct LayerBuilder {
    entries: BTreeMap<String, Source>,
    owner: (u64, u64),
    mode: Option<u32>,
}

impl LayerBuilder {
    /// An empty layer.
    pub fn new() -> LayerBuilder {
        LayerBuilder::default()
    }

    /// Owns every entry of the layer by `uid`:`gid` (default 0:0). IDs that do not fit 32
    /// bits are refused when the layer is written.
    pub fn set_owner(&mut self, uid: u64, gid: u64) -> &mut LayerBuilder {
        self.owner = (uid, gid);
        self
    }

    /// Gives every file and directory of the layer the permission bits `mode` (at most
    /// `0o7777`) instead of the normalised ones; symlinks stay `0777`.
    pub fn set_mode(&mut self, mode: u32) -> Result<&mut LayerBuilder, Error> {
        if mode > 0o7777 {
            return Err(Error::InvalidOption {
                option: "mode".to_owned(),
                reason: format!("{mode:o} is not a permission mode (at most 7777 in octal)"),
            });
        }
        self.mode = Some(mode);
        Ok(self)
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a directory (and its parents) at `dest` in the image.
    pub fn add_dir(&mut self, dest: &str) -> Result<(), Error> {
        let dest = image_path(dest)?;
        self.add_parents(&dest);
        if !dest.is_empty() {
            self.entries.insert(dest, Source::Dir);
        }
        Ok(())
    }

    /// Adds the file, symlink or directory tree at `src` as `dest`: a directory's contents
    /// go under `dest`.
    pub fn add_path(&mut self, src: &Path, dest: &str) -> Result<(), Error> {
        self.add_tree(src, dest, &|_, _| Visit::Add)
    }

    /// Like [`add_path`](LayerBuilder::add_path), asking `visit` about every entry below
    /// `src` (its path on disk and whether it is a directory) whether to take it; this is
    /// how `.dockerignore` applies ([`crate::DockerIgnore`]). `src` itself is always taken.
    pub fn add_tree(
        &mut self,
        src: &Path,
        dest: &str,
        visit: &dyn Fn(&Path, bool) -> Visit,
    ) -> Result<(), Error> {
        let dest = image_path(dest)?;
        self.add_entry(src, dest, Visit::Add, visit)
    }

    fn add_entry(
        &mut self,
        src: &Path,
        dest: String,
        how: Visit,
        visit: &dyn Fn(&Path, bool) -> Visit,
    ) -> Result<(), Error> {
        let meta =
            std::fs::symlink_metadata(src).map_err(Error::io("read the metadata of", src))?;
        if meta.is_dir() {
            if how == Visit::Add {
                self.add_parents(&dest);
                if !dest.is_empty() {
                    self.entries.insert(dest.clone(), Source::Dir);
                }
            }
            let mut children: Vec<_> = std::fs::read_dir(src)
                .map_err(Error::io("read directory", src))?
                .collect::<Result<_, _>>()
                .map_err(Error::io("read directory", src))?;
            children.sort_by_key(|c| c.file_name());
            for child in children {
                let name = child.file_name();
                let name = name.to_str().ok_or_else(|| Error::BuildSource {
                    source_path: child.path().display().to_string(),
                    reason: "file names must be UTF-8".to_owned(),
                })?;
                let child_path = child.path();
                let is_dir = child
                    .file_type()
                    .map_err(Error::io("read the metadata of", &child_path))?
                    .is_dir();
                let child_how = visit(&child_path, is_dir);
                if child_how == Visit::Skip || (child_how == Visit::Descend && !is_dir) {
                    continue;
                }
                let child_dest = if dest.is_empty() {
                    name.to_owned()
                } else {
                    format!("{dest}/{name}")
                };
                self.add_entry(&child_path, child_dest, child_how, visit)?;
            }
            return Ok(());
        }
        self.add_parents(&dest);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(src).map_err(Error::io("read link", src))?;
            self.entries.insert(
                dest,
                Source::Symlink {
                    target: target.to_string_lossy().into_owned(),
                },
            );
        } else if meta.is_file() {
            use std::os::unix::fs::PermissionsExt as _;
            self.entries.insert(
                dest,
                Source::File {
                    path: src.to_owned(),
                    executable: meta.permissions().mode() & 0o111 != 0,
                },
            );
        } else {
            return Err(Error::BuildSource {
                source_path: src.display().to_string(),
                reason: "only files, directories and symlinks can be added".to_owned(),
            });
        }
        Ok(())
    }

    fn add_parents(&mut self, dest: &str) {
        let mut prefix = String::new();
        let parts: Vec<&str> = dest.split('/').collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            self.entries.entry(prefix.clone()).or_insert(Source::Dir);
        }
    }

    /// Writes the layer into `layout` as a blob; returns its descriptor and diff ID (the
    /// digest of the uncompressed tar). Both are hashed in the same pass as the write.
    pub fn write(
        &self,
        layout: &Layout,
        compression: Compression,
        mtime: i64,
    ) -> Result<(Descriptor, Digest), Error> {
        let dir = layout.blob_dir();
        let tmp = tempfile::Builder::new()
            .prefix(".layer-")
            .tempfile_in(&dir)
            .map_err(Error::io("create a temporary file in", &dir))?;
        let file = std::io::BufWriter::new(
            tmp.reopen()
                .map_err(Error::io("open", tmp.path().to_owned()))?,
        );
        let outer = HashingWriter::new(file);
        let werr = Error::io("write layer", tmp.path().to_owned());
        let (outer, diff_id) = match compression {
            Compression::None => {
                let (w, d) = self.write_tar(outer, mtime)?;
                (w, d)
            }
            Compression::Gzip => {
                let gz = flate2::GzBuilder::new()
                    .mtime(0)
                    .operating_system(255)
                    .write(outer, flate2::Compression::new(6));
                let (gz, d) = self.write_tar(gz, mtime)?;
                (gz.finish().map_err(werr)?, d)
            }
            #[cfg(feature = "zstd")]
            Compression::Zstd => {
                let encoder = zstd::stream::write::Encoder::new(outer, 3).map_err(werr)?;
                let (encoder, d) = self.write_tar(encoder, mtime)?;
                (
                    encoder
                        .finish()
                        .map_err(Error::io("write layer", tmp.path().to_owned()))?,
                    d,
                )
            }
        };
        let (mut file, digest, size) = outer.finish();
        file.flush()
            .map_err(Error::io("write layer", tmp.path().to_owned()))?;
        drop(file);
        let descriptor = Descriptor {
            media_type: compression.media_type().to_owned(),
            digest,
            size,
        };
        let path = layout.blob_path(&descriptor.digest);
        tmp.persist(&path)
            .map_err(|e| Error::io("rename into", &path)(e.error))?;
        Ok((descriptor, diff_id))
    }

    fn write_tar<W: std::io::Write>(&self, out: W, mtime: i64) -> Result<(W, Digest), Error> {
        let mtime = u64::try_from(mtime).unwrap_or(0);
        let max = u64::from(u32::MAX);
        if self.owner.0 > max || self.owner.1 > max {
            return Err(Error::InvalidOption {
                option: "layer owner".to_owned(),
                reason: format!(
                    "{}:{} does not fit 32 bits (IDs are at most {max})",
                    self.owner.0, self.owner.1
                ),
            });
        }
        let mut tar = tar::Builder::new(HashingWriter::new(out));
        let terr = |path: &str| Error::io("add to layer", PathBuf::from(path.to_owned()));
        for (path, source) in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_uid(self.owner.0);
            header.set_gid(self.owner.1);
            header.set_mtime(mtime);
            match source {
                Source::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(self.mode.unwrap_or(0o755));
                    header.set_size(0);
                    tar.append_data(&mut header, format!("{path}/"), std::io::empty())
                        .map_err(terr(path))?;
                }
                Source::File {
                    path: src,
                    executable,
                } => {
                    let file = std::fs::File::open(src).map_err(Error::io("open", src))?;
                    let size = file
                        .metadata()
                        .map_err(Error::io("read the metadata of", src))?
                        .len();
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(self.mode.unwrap_or(if *executable { 0o755 } else { 0o644 }));
                    header.set_size(size);
                    tar.append_data(&mut header, path, file.take(size))
                        .map_err(terr(path))?;
                }
                Source::Symlink { target } => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_mode(0o777);
                    header.set_size(0);
                    tar.append_link(&mut header, path, target)
                        .map_err(terr(path))?;
                }
            }
        }
        let hashing = tar.into_inner().map_err(terr("end of archive"))?;
        let (inner, digest, _) = hashing.finish();
        Ok((inner, digest))
    }
}

/// Linux's limits on a file name and a path: an image with longer names would build but
/// never unpack.
const NAME_MAX: usize = 255;
const PATH_MAX: usize = 4096;

/// A path in the image, without leading `/`, `.` or `..` (refused).
fn image_path(dest: &str) -> Result<String, Error> {
    // A NUL cannot be in a file name: the layer would be written but never unpack.
    if dest.contains('\0') {
        return Err(Error::BuildDestination {
            destination: dest.to_owned(),
            reason: "it contains a NUL character".to_owned(),
        });
    }
    let mut parts = Vec::new();
    for part in dest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(Error::BuildDestination {
                        destination: dest.to_owned(),
                        reason: "it leaves the image root".to_owned(),
                    });
                }
            }
            part if part.len() > NAME_MAX => {
                return Err(Error::BuildDestination {
                    destination: dest.to_owned(),
                    reason: format!("a path component is longer than {NAME_MAX} bytes"),
                });
            }
            part => parts.push(part),
        }
    }
    let path = parts.join("/");
    if path.len() >= PATH_MAX {
        return Err(Error::BuildDestination {
            destination: dest.to_owned(),
            reason: format!("it is longer than {} bytes", PATH_MAX - 1),
        });
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn same_tree_same_digest_whatever_the_mtimes() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("b/c")).unwrap();
        std::fs::write(src.path().join("b/c/f.txt"), b"hello").unwrap();
        std::fs::write(src.path().join("a.txt"), b"world").unwrap();
        std::os::unix::fs::symlink("a.txt", src.path().join("link")).unwrap();
        let build = |compression| {
            let out = tempfile::tempdir().unwrap();
            let layout = Layout::create(out.path()).unwrap();
            let mut layer = LayerBuilder::new();
            layer.add_path(src.path(), "/app").unwrap();
            let (d, _) = layer.write(&layout, compression, 0).unwrap();
            d
        };
        let mut all = vec![Compression::None, Compression::Gzip];
        #[cfg(feature = "zstd")]
        all.push(Compression::Zstd);
        for compression in all {
            let first = build(compression);
            let f = std::fs::File::open(src.path().join("a.txt")).unwrap();
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(12345))
                .unwrap();
            assert_eq!(first, build(compression));
        }
        assert!(image_path("../x").is_err());
        assert_eq!(image_path("/a/./b/../c/").unwrap(), "a/c");
    }

    #[test]
    fn a_directory_brings_its_parents_and_stays_inside_the_image() {
        let mut layer = LayerBuilder::new();
        assert!(layer.is_empty());
        layer.add_dir("/var/lib/app/").unwrap();
        let paths: Vec<&str> = layer.entries.keys().map(String::as_str).collect();
        assert_eq!(paths, ["var", "var/lib", "var/lib/app"]);
        assert!(matches!(
            layer.add_dir("../x").unwrap_err(),
            Error::BuildDestination { .. }
        ));
    }

    #[test]
    fn a_destination_with_a_nul_is_refused_before_anything_is_written() {
        let mut layer = LayerBuilder::new();
        match layer.add_dir("/opt/a\0b").unwrap_err() {
            Error::BuildDestination {
                destination,
                reason,
            } => {
                assert_eq!(destination, "/opt/a\0b");
                assert!(reason.contains("NUL"), "{reason}");
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(layer.is_empty());
    }

    #[test]
    fn a_destination_unpack_could_not_create_is_refused() {
        let mut layer = LayerBuilder::new();
        let long_name = format!("/opt/{}", "c".repeat(256));
        assert!(matches!(
            layer.add_dir(&long_name).unwrap_err(),
            Error::BuildDestination { destination, .. } if destination == long_name
        ));
        let long_path = "/dd".repeat(2048);
        assert!(matches!(
            layer.add_dir(&long_path).unwrap_err(),
            Error::BuildDestination { .. }
        ));
        layer.add_dir(&format!("/opt/{}", "c".repeat(255))).unwrap();
    }

    #[test]
    fn compression_names_parse_and_an_unknown_one_lists_the_choices() {
        for name in Compression::NAMES {
            assert!(name.parse::<Compression>().is_ok(), "{name}");
        }
        assert_eq!("none".parse::<Compression>().unwrap(), Compression::None);
        match "xz".parse::<Compression>().unwrap_err() {
            Error::UnknownCompression { name, choices } => {
                assert_eq!(name, "xz");
                assert_eq!(choices, Compression::NAMES);
            }
            other => panic!("{other:?}"),
        }
    }
}
