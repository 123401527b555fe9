//! Reproducible image assembly: layers from directory trees (sorted entries, fixed
//! timestamps, uid/gid 0, normalised modes, stable gzip/zstd), an image config and an OCI
//! manifest, written into a layout.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::digest::HashingWriter;
use crate::layout::Layout;
use crate::spec::{self, Descriptor, Parsed, Platform, parse_manifest};
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
    fn media_type(self) -> &'static str {
        match self {
            Compression::None => spec::OCI_LAYER_TAR,
            Compression::Gzip => spec::OCI_LAYER_GZIP,
            #[cfg(feature = "zstd")]
            Compression::Zstd => spec::OCI_LAYER_ZSTD,
        }
    }
}

/// `SOURCE_DATE_EPOCH` when set and valid, else 0 (1970-01-01).
pub fn source_date_epoch() -> Result<i64, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value.trim().parse().map_err(|_| Error::InvalidOption {
            option: "SOURCE_DATE_EPOCH".to_owned(),
            reason: format!("{value:?} is not a number of seconds"),
        }),
        Err(_) => Ok(0),
    }
}

#[derive(Clone, Debug)]
enum Source {
    Dir,
    File { path: PathBuf, executable: bool },
    Symlink { target: String },
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

use std::io::Read as _;

/// A path in the image, without leading `/`, `.` or `..` (refused).
fn image_path(dest: &str) -> Result<String, Error> {
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
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

/// The runtime settings of an image config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `KEY=VALUE` entries, in order.
    pub env: Vec<String>,
    /// The entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// The default command.
    pub cmd: Option<Vec<String>>,
    /// The working directory.
    pub working_dir: Option<String>,
    /// The user.
    pub user: Option<String>,
    /// `PORT/PROTO` entries.
    pub exposed_ports: BTreeSet<String>,
    /// Volume mount points.
    pub volumes: BTreeSet<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl ImageConfig {
    /// Sets `key` in `env`, replacing an earlier value.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let prefix = format!("{key}=");
        self.env.retain(|e| !e.starts_with(&prefix));
        self.env.push(format!("{key}={value}"));
    }

    fn from_json(value: &serde_json::Value) -> ImageConfig {
        let strings = |v: Option<&serde_json::Value>| -> Option<Vec<String>> {
            v?.as_array().map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
        };
        let keys = |v: Option<&serde_json::Value>| -> BTreeSet<String> {
            v.and_then(|v| v.as_object())
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let text = |v: Option<&serde_json::Value>| -> Option<String> {
            v?.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
        };
        ImageConfig {
            env: strings(value.get("Env")).unwrap_or_default(),
            entrypoint: strings(value.get("Entrypoint")),
            cmd: strings(value.get("Cmd")),
            working_dir: text(value.get("WorkingDir")),
            user: text(value.get("User")),
            exposed_ports: keys(value.get("ExposedPorts")),
            volumes: keys(value.get("Volumes")),
            labels: value
                .get("Labels")
                .and_then(|l| l.as_object())
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        let set = |s: &BTreeSet<String>| {
            serde_json::Value::Object(
                s.iter()
                    .map(|k| (k.clone(), serde_json::json!({})))
                    .collect(),
            )
        };
        if let Some(user) = &self.user {
            out.insert("User".into(), user.clone().into());
        }
        if !self.exposed_ports.is_empty() {
            out.insert("ExposedPorts".into(), set(&self.exposed_ports));
        }
        if !self.env.is_empty() {
            out.insert("Env".into(), self.env.clone().into());
        }
        if let Some(entrypoint) = &self.entrypoint {
            out.insert("Entrypoint".into(), entrypoint.clone().into());
        }
        if let Some(cmd) = &self.cmd {
            out.insert("Cmd".into(), cmd.clone().into());
        }
        if !self.volumes.is_empty() {
            out.insert("Volumes".into(), set(&self.volumes));
        }
        if let Some(dir) = &self.working_dir {
            out.insert("WorkingDir".into(), dir.clone().into());
        }
        if !self.labels.is_empty() {
            out.insert(
                "Labels".into(),
                serde_json::to_value(&self.labels).unwrap_or_default(),
            );
        }
        serde_json::Value::Object(out)
    }
}

/// Assembles an image: a base (scratch or an image in a layout), new layers, a config.
#[derive(Clone, Debug)]
pub struct ImageBuilder {
    platform: Platform,
    base_config: serde_json::Value,
    layers: Vec<Descriptor>,
    diff_ids: Vec<String>,
    history: Vec<serde_json::Value>,
    /// The runtime settings, initialised from the base image.
    pub config: ImageConfig,
    /// Seconds since the epoch for `created` and every file's mtime.
    pub created: i64,
    /// Compression of new layers.
    pub compression: Compression,
}

impl ImageBuilder {
    /// An image from scratch for `platform`.
    pub fn scratch(platform: Platform, created: i64) -> ImageBuilder {
        ImageBuilder {
            platform,
            base_config: serde_json::json!({}),
            layers: Vec::new(),
            diff_ids: Vec::new(),
            history: Vec::new(),
            config: ImageConfig::default(),
            created,
            compression: Compression::Gzip,
        }
    }

    /// An image extending `base` (an image manifest, or an index from which the manifest
    /// for `platform` is chosen) whose blobs are in `layout`.
    pub fn from_base(
        layout: &Layout,
        base: &Descriptor,
        platform: Platform,
        created: i64,
    ) -> Result<ImageBuilder, Error> {
        let base = layout.select_platform(base, &platform)?;
        let bytes = layout.read_document(&base)?;
        let (config, layers) = match parse_manifest(&base.media_type, &bytes)? {
            Parsed::Image { config, layers } => (config, layers),
            Parsed::Index { .. } => {
                return Err(Error::UnsupportedMediaType {
                    what: format!("base image {}", base.digest),
                    media_type: base.media_type.clone(),
                });
            }
        };
        let config_bytes = layout.read_document(&config)?;
        let base_config: serde_json::Value =
            serde_json::from_slice(&config_bytes).map_err(|e| Error::InvalidDocument {
                what: format!("base image config {}", config.digest),
                reason: e.to_string(),
            })?;
        let diff_ids: Vec<String> = base_config
            .pointer("/rootfs/diff_ids")
            .and_then(|d| d.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if diff_ids.len() != layers.len() {
            return Err(Error::InvalidDocument {
                what: format!("base image config {}", config.digest),
                reason: format!("{} diff_ids for {} layers", diff_ids.len(), layers.len()),
            });
        }
        let history = base_config
            .get("history")
            .and_then(|h| h.as_array())
            .cloned()
            .unwrap_or_default();
        let runtime = ImageConfig::from_json(
            base_config
                .get("config")
                .unwrap_or(&serde_json::Value::Null),
        );
        Ok(ImageBuilder {
            platform,
            base_config,
            layers,
            diff_ids,
            history,
            config: runtime,
            created,
            compression: Compression::Gzip,
        })
    }

    /// Writes `layer` into `layout` and appends it, with a history entry `created_by`.
    pub fn add_layer(
        &mut self,
        layout: &Layout,
        layer: &LayerBuilder,
        created_by: &str,
    ) -> Result<Descriptor, Error> {
        let (descriptor, diff_id) = layer.write(layout, self.compression, self.created)?;
        self.layers.push(descriptor.clone());
        self.diff_ids.push(diff_id.to_string());
        self.history
            .push(serde_json::json!({"created": self.timestamp(), "created_by": created_by}));
        Ok(descriptor)
    }

    /// Records a config-only step in the history.
    pub fn add_history(&mut self, created_by: &str) {
        self.history.push(serde_json::json!({
            "created": self.timestamp(), "created_by": created_by, "empty_layer": true
        }));
    }

    fn timestamp(&self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.created)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
    }

    /// Writes config and manifest into `layout`, tags the manifest `tag`, and returns its
    /// descriptor.
    pub fn finish(self, layout: &Layout, tag: &str) -> Result<Descriptor, Error> {
        let mut config = match self.base_config.clone() {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        config.insert("created".into(), self.timestamp().into());
        config.insert(
            "architecture".into(),
            self.platform.architecture.clone().into(),
        );
        config.insert("os".into(), self.platform.os.clone().into());
        match &self.platform.variant {
            Some(variant) => {
                config.insert("variant".into(), variant.clone().into());
            }
            None => {
                config.remove("variant");
            }
        }
        config.insert("config".into(), self.config.to_json());
        config.insert(
            "rootfs".into(),
            serde_json::json!({"type": "layers", "diff_ids": self.diff_ids}),
        );
        config.insert("history".into(), self.history.clone().into());
        for stale in [
            "container",
            "container_config",
            "docker_version",
            "id",
            "parent",
        ] {
            config.remove(stale);
        }
        let config_bytes = serde_json::to_vec(&serde_json::Value::Object(config)).map_err(|e| {
            Error::InvalidDocument {
                what: "image config".to_owned(),
                reason: e.to_string(),
            }
        })?;
        let config = layout.write_document(spec::OCI_CONFIG, &config_bytes)?;
        let descriptor = |d: &Descriptor| oci_client::manifest::OciDescriptor {
            media_type: d.media_type.clone(),
            digest: d.digest.to_string(),
            size: d.size as i64,
            urls: None,
            annotations: None,
            artifact_type: None,
        };
        let manifest = oci_client::manifest::OciImageManifest {
            schema_version: 2,
            media_type: Some(spec::OCI_MANIFEST.to_owned()),
            config: descriptor(&config),
            layers: self.layers.iter().map(descriptor).collect(),
            subject: None,
            artifact_type: None,
            annotations: None,
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::InvalidDocument {
            what: "image manifest".to_owned(),
            reason: e.to_string(),
        })?;
        let manifest = layout.write_document(spec::OCI_MANIFEST, &bytes)?;
        layout.set_tag(tag, &manifest)?;
        Ok(manifest)
    }
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
}
