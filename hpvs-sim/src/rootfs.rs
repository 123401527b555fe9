//! Root filesystems: each image is unpacked (and verified) once into a read-only tree kept
//! per digest, and each server gets an overlay on it (its own upper layer), so a second
//! server of an image starts without unpacking anything.
//!
//! ```text
//! <state>/unpacked/sha256-<hex>/tree/     the image, unpacked once (complete when renamed in)
//! <state>/rootfs/<server>/{upper,work}/    the server's changes
//! <state>/rootfs/<server>/merged/          the overlay runc runs the server in
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use oci_push::{Descriptor, Digest, Layout, UnpackOptions};

use crate::appliance::Appliance;
use crate::runtime::ImageConfig;

/// A boxed error for the deploy's step reasons.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Appliance {
    /// The unpacked tree of image `digest`.
    pub(crate) fn image_tree(&self, digest: &Digest) -> PathBuf {
        self.image_dir(&digest.to_string()).join("tree")
    }

    /// Where image `digest` (`sha256:<hex>`) is unpacked: `unpacked/sha256-<hex>`, since
    /// overlayfs reads a `:` in a lower directory as a separator.
    pub(crate) fn image_dir(&self, digest: &str) -> PathBuf {
        self.options
            .state_dir
            .join("unpacked")
            .join(digest.replace(':', "-"))
    }
}

/// Unpacks `manifest` into `tree` unless a complete tree is there already: into a private
/// directory first, renamed into place only once every layer verified and extracted, so a
/// crash or a failure never leaves a half tree that a later server would use.
pub(crate) fn unpack_once(
    layout: &Layout,
    manifest: &Descriptor,
    tree: &Path,
) -> Result<(), BoxError> {
    if tree.is_dir() {
        return Ok(());
    }
    let parent = tree
        .parent()
        .ok_or("the image tree has no parent directory")?;
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(parent)?;
    let root = staging.path().join("tree");
    std::fs::create_dir(&root)?;
    oci_push::unpack_image(layout, manifest, &root, &UnpackOptions::default())?;
    match std::fs::rename(&root, tree) {
        Ok(()) => Ok(()),
        // Another deploy of the same image got there first: its tree is as good.
        Err(_) if tree.is_dir() => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// The image's config and the bytes of its blobs.
pub(crate) fn image_config(
    layout: &Layout,
    manifest: &Descriptor,
) -> Result<(ImageConfig, u64), BoxError> {
    let document: serde_json::Value = serde_json::from_slice(&layout.read_document(manifest)?)?;
    let config = &document["config"];
    let config = Descriptor {
        media_type: config["mediaType"].as_str().unwrap_or_default().to_owned(),
        digest: Digest::parse(config["digest"].as_str().unwrap_or_default())?,
        size: config["size"].as_u64().unwrap_or_default(),
    };
    let layers: u64 = document["layers"]
        .as_array()
        .map(|layers| layers.iter().filter_map(|l| l["size"].as_u64()).sum())
        .unwrap_or_default();
    let image = ImageConfig::from_document(&layout.read_document(&config)?)?;
    Ok((image, manifest.size + config.size + layers))
}

/// Mounts the server's overlay (`tree` below, its own upper layer above) at `merged`, unless
/// it is mounted already; `fresh` empties the upper layer first (a new server).
pub(crate) fn mount_overlay(
    tree: &Path,
    server_dir: &Path,
    fresh: bool,
) -> Result<PathBuf, BoxError> {
    let merged = server_dir.join("merged");
    if is_mount_point(&merged)? {
        return Ok(merged);
    }
    if fresh && server_dir.exists() {
        std::fs::remove_dir_all(server_dir)?;
    }
    for dir in ["upper", "work", "merged"] {
        std::fs::create_dir_all(server_dir.join(dir))?;
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        tree.display(),
        server_dir.join("upper").display(),
        server_dir.join("work").display()
    );
    run(Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &options])
        .arg(&merged))?;
    Ok(merged)
}

/// Unmounts the server's overlay if it is mounted.
pub(crate) fn unmount_overlay(server_dir: &Path) -> Result<(), BoxError> {
    let merged = server_dir.join("merged");
    if is_mount_point(&merged)? {
        run(Command::new("umount").arg(&merged))?;
    }
    Ok(())
}

fn is_mount_point(path: &Path) -> Result<bool, BoxError> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let wanted = path.to_string_lossy();
    Ok(mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|point| point == wanted))
}

fn run(command: &mut Command) -> Result<(), BoxError> {
    let output = command.output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{:?} failed: {}",
        command,
        String::from_utf8_lossy(&output.stderr).trim()
    )
    .into())
}
