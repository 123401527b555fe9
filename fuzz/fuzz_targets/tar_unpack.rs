//! Layer tarballs (plain or gzip) unpacked into a temporary root, as `oci unpack` and the
//! appliance do. Nothing panics, and nothing is created or changed outside the root: the
//! sandbox around the root (whose parents `..` reaches) must hold only what it held before,
//! and no path the archive names (as an absolute path or from the working directory), nor
//! the target of any symlink left in the root, may be a non-directory outside the sandbox
//! changed during the unpack.
#![no_main]

use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use oci_push::{UnpackOptions, UnpackStats, unpack_layer};

const MARKER: &[u8] = b"outside the root\n";

/// Every path named by the archive: entry paths and link targets.
fn archive_names(data: &[u8]) -> Vec<PathBuf> {
    let mut bytes = Vec::new();
    let plain: &[u8] = if data.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::read::GzDecoder::new(data);
        let _ = decoder.take(64 << 20).read_to_end(&mut bytes);
        &bytes
    } else {
        data
    };
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(plain);
    let Ok(entries) = archive.entries() else {
        return names;
    };
    for entry in entries.take(10_000) {
        let Ok(entry) = entry else { break };
        names.push(PathBuf::from(
            String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
        ));
        if let Some(link) = entry.link_name_bytes() {
            names.push(PathBuf::from(String::from_utf8_lossy(&link).into_owned()));
        }
    }
    names
}

/// Panics when `path` resolves outside `sandbox` to a non-directory changed since `start`.
fn check_untouched(path: &Path, sandbox: &Path, start: (i64, i64), why: &str) {
    let Ok(real) = std::fs::canonicalize(path) else {
        return;
    };
    // Kernel file systems make inodes on lookup, with fresh times: nothing to learn there.
    if real.starts_with(sandbox)
        || ["/proc", "/sys", "/dev"]
            .iter()
            .any(|p| real.starts_with(p))
    {
        return;
    }
    let Ok(meta) = std::fs::symlink_metadata(&real) else {
        return;
    };
    if !meta.is_dir() && (meta.ctime(), meta.ctime_nsec()) >= start {
        panic!("{} ({why}) was changed outside the root", real.display());
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        out.push(path.clone());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&path, out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let sandbox = std::fs::canonicalize(dir.path()).expect("the sandbox resolves");
    let root = sandbox.join("a/b/root");
    std::fs::create_dir_all(&root).expect("creates the root");
    std::fs::create_dir(sandbox.join("outside")).expect("creates a sibling");
    std::fs::write(sandbox.join("outside/marker"), MARKER).expect("writes the marker");
    let marker = std::fs::metadata(sandbox.join("outside/marker")).expect("stat");
    let start = (marker.ctime(), marker.ctime_nsec());

    let options = UnpackOptions {
        max_entry_size: 1 << 20,
        max_total_size: 16 << 20,
    };
    let mut stats = UnpackStats::default();
    let _ = unpack_layer(data, &root, &options, &mut stats);

    let mut inside = Vec::new();
    walk(&sandbox, &mut inside);
    let expected: Vec<PathBuf> = ["a", "a/b", "a/b/root", "outside", "outside/marker"]
        .iter()
        .map(|p| sandbox.join(p))
        .collect();
    for path in &inside {
        assert!(
            path.starts_with(&root) || expected.contains(path),
            "{} was created outside the root",
            path.display()
        );
    }
    assert_eq!(
        std::fs::read(sandbox.join("outside/marker")).expect("the marker is still there"),
        MARKER
    );

    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    for name in archive_names(data) {
        check_untouched(
            &Path::new("/").join(&name),
            &sandbox,
            start,
            "named as absolute",
        );
        check_untouched(
            &cwd.join(&name),
            &sandbox,
            start,
            "named from the working directory",
        );
    }
    for path in inside.iter().filter(|p| p.starts_with(&root)) {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            check_untouched(path, &sandbox, start, "a symlink's target");
        }
    }
});
