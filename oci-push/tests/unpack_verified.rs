//! Unpacking is verified before use and all or nothing: a tampered layer or config is refused
//! before the first entry is written, and a layer that fails half-way (a corrupt tar header)
//! leaves the root filesystem exactly as it was: same entries, contents, modes, owners and
//! times. Symlinks that climb above `/` resolve inside the root; owners and setuid bits are
//! kept when unpacking as root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use oci_push::{Descriptor, Digest, Error, Layout, UnpackOptions, unpack_image};

/// One tar entry, built with the tar crate.
enum Entry<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

fn tar(entries: &[Entry<'_>], owner: (u64, u64)) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_uid(owner.0);
        header.set_gid(owner.1);
        header.set_mtime(1_600_000_000);
        match entry {
            Entry::File(path, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, path, *data).unwrap();
            }
            Entry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            }
            Entry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// Writes an image of `layers` (plain tars) into `layout`; returns its manifest and config.
fn image(layout: &Layout, layers: &[Vec<u8>]) -> (Descriptor, Descriptor) {
    let mut descriptors = Vec::new();
    for layer in layers {
        descriptors.push(
            layout
                .write_blob("application/vnd.oci.image.layer.v1.tar", &layer[..])
                .unwrap(),
        );
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = layout
        .write_document(
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        )
        .unwrap();
    let layers_json: Vec<serde_json::Value> = descriptors
        .iter()
        .map(|d| serde_json::json!({"mediaType": d.media_type, "digest": d.digest.as_str(), "size": d.size}))
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config.media_type, "digest": config.digest.as_str(), "size": config.size},
        "layers": layers_json,
    });
    let manifest = layout
        .write_document(
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().as_bytes(),
        )
        .unwrap();
    (manifest, config)
}

/// Every entry under `root` with its type, mode, owner, modification time, size and
/// content or link target: what "exactly as before" compares.
fn snapshot(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            let what = if meta.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                "dir".to_owned()
            } else {
                format!("file {:?}", std::fs::read(&path).unwrap())
            };
            out.push(format!(
                "{name} {what} mode={:o} owner={}:{} mtime={}.{} size={}",
                meta.mode(),
                meta.uid(),
                meta.gid(),
                meta.mtime(),
                meta.mtime_nsec(),
                meta.size()
            ));
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let meta = std::fs::metadata(root).unwrap();
    let mut out = vec![format!(
        ". mode={:o} mtime={}.{}",
        meta.mode(),
        meta.mtime(),
        meta.mtime_nsec()
    )];
    walk(root, root, &mut out);
    out
}

/// A root filesystem with files the layers below overwrite, remove and add to.
fn existing_root(root: &Path) {
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/config"), b"original config\n").unwrap();
    std::fs::write(root.join("etc/old.txt"), b"to be whited out\n").unwrap();
    std::fs::create_dir_all(root.join("var/lib")).unwrap();
    std::fs::write(root.join("var/lib/state"), b"state").unwrap();
    std::os::unix::fs::symlink("etc/config", root.join("config-link")).unwrap();
    // Times far from now, so that any touch shows.
    for path in [
        "etc/config",
        "etc/old.txt",
        "var/lib/state",
        "var/lib",
        "var",
        "etc",
        "",
    ] {
        let file = std::fs::File::open(root.join(path)).unwrap();
        file.set_times(
            std::fs::FileTimes::new()
                .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
                .set_accessed(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000)),
        )
        .unwrap();
    }
}

/// Entries that change the root in every way a layer can: overwrite, whiteout, replace a
/// symlink, new directories and files.
fn changing_entries() -> Vec<u8> {
    tar(
        &[
            Entry::File("etc/config", b"HOSTILE CONFIG\n", 0o644),
            Entry::File("etc/.wh.old.txt", b"", 0o644),
            Entry::File("config-link", b"not a link any more", 0o600),
            Entry::Dir("opt/new/"),
            Entry::File("opt/new/tool", b"#!/bin/sh\n", 0o755),
            Entry::File("var/lib/.wh..wh..opq", b"", 0o644),
        ],
        (0, 0),
    )
}

#[test]
fn a_tampered_layer_of_the_same_size_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    let (manifest, _) = image(&layout, &[changing_entries()]);
    let root = dir.path().join("root");
    existing_root(&root);
    let before = snapshot(&root);
    // 8 bytes of the layer changed in place: same size, other content.
    let manifest_json: serde_json::Value =
        serde_json::from_slice(&layout.read_document(&manifest).unwrap()).unwrap();
    let layer: Digest = manifest_json["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let path = layout.blob_path(&layer);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = 512 + 4; // inside the first file's content
    bytes[at..at + 8].copy_from_slice(b"TAMPERED");
    std::fs::write(&path, &bytes).unwrap();

    let error = unpack_image(&layout, &manifest, &root, &UnpackOptions::default()).unwrap_err();
    assert!(matches!(&error, Error::DigestMismatch { .. }), "{error}");
    assert_eq!(snapshot(&root), before, "the root changed");
}

#[test]
fn a_corrupt_tar_header_half_way_undoes_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    // Layer 1 is fine; layer 2 changes everything, then a header's checksum is broken.
    let first = tar(&[Entry::File("first/layer.txt", b"one", 0o644)], (0, 0));
    let mut second = changing_entries();
    let end = second.len() - 1024; // the two zero blocks that end the archive
    let mut broken = tar(&[Entry::File("after/broken.txt", b"x", 0o644)], (0, 0));
    broken.truncate(1024);
    broken[148..156].copy_from_slice(b"0000000\0"); // checksum field
    second.splice(end..end, broken);
    let (manifest, _) = image(&layout, &[first, second]);
    let root = dir.path().join("root");
    existing_root(&root);
    let before = snapshot(&root);

    let error = unpack_image(&layout, &manifest, &root, &UnpackOptions::default()).unwrap_err();
    assert!(
        matches!(&error, Error::Io { .. }),
        "the tar reader refuses the header: {error}"
    );
    assert!(!error.to_string().contains("nothing was kept"), "{error}");
    assert_eq!(snapshot(&root), before, "the root changed");

    // The same layers without the broken header unpack, and do change the root.
    let good = image(&layout, &[changing_entries()]).0;
    let stats = unpack_image(&layout, &good, &root, &UnpackOptions::default()).unwrap();
    assert!(stats.entries >= 4, "{stats:?}");
    assert_eq!(
        std::fs::read(root.join("etc/config")).unwrap(),
        b"HOSTILE CONFIG\n"
    );
    assert!(!root.join("etc/old.txt").exists());
    assert!(!root.join("var/lib/state").exists());
    let names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".oci-unpack")),
        "{names:?}"
    );
}

#[test]
fn an_unsafe_entry_in_a_later_layer_undoes_the_earlier_layers() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    let mut device = tar::Header::new_gnu();
    device.set_entry_type(tar::EntryType::Char);
    device.set_size(0);
    device.set_mode(0o600);
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_data(&mut device, "dev/evil", std::io::empty())
        .unwrap();
    let (manifest, _) = image(
        &layout,
        &[changing_entries(), builder.into_inner().unwrap()],
    );
    let root = dir.path().join("root");
    existing_root(&root);
    let before = snapshot(&root);
    let error = unpack_image(&layout, &manifest, &root, &UnpackOptions::default()).unwrap_err();
    assert!(
        matches!(&error, Error::UnsafeEntry { path, .. } if path == "dev/evil"),
        "{error}"
    );
    assert_eq!(snapshot(&root), before, "the root changed");

    // A root that did not exist does not exist after a failed unpack.
    let fresh = dir.path().join("fresh/root");
    unpack_image(&layout, &manifest, &fresh, &UnpackOptions::default()).unwrap_err();
    assert!(!dir.path().join("fresh").exists());
}

#[test]
fn a_corrupt_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    let (manifest, config) = image(&layout, &[changing_entries()]);
    let path = layout.blob_path(&config.digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.iter().position(|b| *b == b'a').unwrap();
    bytes[at] = b'b';
    std::fs::write(&path, &bytes).unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let error = unpack_image(&layout, &manifest, &root, &UnpackOptions::default()).unwrap_err();
    assert!(
        matches!(&error, Error::DigestMismatch { what, .. } if what.contains(config.digest.as_str())),
        "{error}"
    );
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
}

#[test]
fn symlinks_climbing_above_the_root_resolve_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    // As distribution images ship them: relative links with more `..` than directories.
    let layer = tar(
        &[
            Entry::Dir("usr/lib/x86_64/"),
            Entry::Symlink("usr/lib/x86_64/libc.so", "../../../../../usr/lib/libc.so.6"),
            Entry::Symlink("lib64", "../../../usr/lib/x86_64"),
            Entry::File("lib64/ld.so", b"loader", 0o755),
            Entry::File("usr/lib/libc.so.6", b"libc", 0o755),
        ],
        (0, 0),
    );
    let (manifest, _) = image(&layout, &[layer]);
    let root = dir.path().join("root");
    unpack_image(&layout, &manifest, &root, &UnpackOptions::default()).unwrap();
    assert_eq!(
        std::fs::read_link(root.join("usr/lib/x86_64/libc.so")).unwrap(),
        Path::new("../../../../../usr/lib/libc.so.6"),
        "the link is kept as written"
    );
    assert_eq!(
        std::fs::read(root.join("usr/lib/x86_64/ld.so")).unwrap(),
        b"loader",
        "an entry below the climbing link lands inside the root"
    );
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        outside.len(),
        2,
        "nothing beside layout and root: {outside:?}"
    );
}

#[test]
fn owners_and_setuid_bits_are_kept_when_unpacking_as_root() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    let layer = tar(
        &[
            Entry::Dir("usr/bin/"),
            Entry::File("usr/bin/su", b"setuid tool", 0o4755),
            Entry::File("usr/bin/wall", b"setgid tool", 0o2755),
        ],
        (1234, 5678),
    );
    let (manifest, _) = image(&layout, &[layer]);
    let root = dir.path().join("root");
    let stats = unpack_image(&layout, &manifest, &root, &UnpackOptions::default()).unwrap();
    let running_as_root = std::fs::metadata(dir.path()).unwrap().uid() == 0;
    let su = std::fs::metadata(root.join("usr/bin/su")).unwrap();
    let wall = std::fs::metadata(root.join("usr/bin/wall")).unwrap();
    if running_as_root {
        assert_eq!((su.uid(), su.gid()), (1234, 5678));
        assert_eq!(su.mode() & 0o7777, 0o4755);
        assert_eq!(wall.mode() & 0o7777, 0o2755);
        let usr = std::fs::metadata(root.join("usr/bin")).unwrap();
        assert_eq!((usr.uid(), usr.gid()), (1234, 5678));
        assert_eq!((stats.owners_dropped, stats.setid_bits_dropped), (0, 0));
    } else {
        assert_eq!(
            su.mode() & 0o6000,
            0,
            "no setuid bit on a file of the wrong owner"
        );
        assert_eq!(stats.owners_dropped, 3, "{stats:?}");
        assert_eq!(stats.setid_bits_dropped, 2, "{stats:?}");
    }
    // IDs that do not fit 32 bits are refused, not truncated to root.
    let layer = tar(&[Entry::File("big-uid", b"x", 0o644)], (1 << 32, 0));
    let (manifest, _) = image(&layout, &[layer]);
    let error = unpack_image(&layout, &manifest, &root, &UnpackOptions::default()).unwrap_err();
    assert!(
        matches!(&error, Error::UnsafeEntry { reason, .. } if reason.contains("32 bits")),
        "{error}"
    );
    assert!(!root.join("big-uid").exists());
}
