//! Dockerfiles: the parser, and a daemonless build of what parses (no registry client, so
//! only `FROM scratch` bases build) from a fixed context with files, a directory, a symlink,
//! an archive for `ADD` and a `.dockerignore`, into a fresh layout. Nothing panics, parsed
//! steps come in line order with the text of their keyword, and a build that succeeds leaves
//! a tagged image that unpacks.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use oci_push::dockerfile::{self, BuildOptions};
use oci_push::{Layout, Platform, UnpackOptions, unpack_image};

struct Context {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

static CONTEXT: LazyLock<Context> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("creates the build context");
    let path = dir.path().to_owned();
    write_context(&path).expect("writes the build context");
    Context { _dir: dir, path }
});

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("starts a runtime")
});

fn write_context(path: &Path) -> std::io::Result<()> {
    std::fs::write(path.join("a.txt"), "a\n")?;
    std::fs::create_dir_all(path.join("dir/sub"))?;
    std::fs::write(path.join("dir/b.txt"), "b\n")?;
    std::fs::write(path.join("dir/sub/c.sh"), "#!/bin/sh\n")?;
    std::fs::write(path.join("keep.md"), "kept\n")?;
    std::fs::write(path.join("skip.md"), "skipped\n")?;
    std::fs::write(path.join(".dockerignore"), "*.md\n!keep.md\nsecret\n")?;
    std::fs::write(path.join("secret"), "never copied\n")?;
    std::os::unix::fs::symlink("a.txt", path.join("link"))?;
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o644);
    header.set_cksum();
    archive.append_data(&mut header, "inside/x.txt", &b"x\n"[..])?;
    std::fs::write(path.join("files.tar"), archive.into_inner()?)?;
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(steps) = dockerfile::parse(text) else {
        return;
    };
    for pair in steps.windows(2) {
        assert!(pair[0].line < pair[1].line, "steps out of line order");
    }
    for step in &steps {
        assert!(step.text.starts_with(step.instruction.keyword()));
    }
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let layout = Layout::create(dir.path().join("layout")).expect("creates a layout");
    let options = BuildOptions {
        platform: Some(Platform::parse("linux/amd64").expect("a platform")),
        source_date_epoch: Some(0),
        ..BuildOptions::default()
    };
    let built = RUNTIME.block_on(dockerfile::build(
        None,
        &CONTEXT.path,
        text,
        &layout,
        "fuzz",
        &options,
    ));
    if let Ok(descriptor) = built {
        assert_eq!(layout.resolve(Some("fuzz")).expect("tagged"), descriptor);
        unpack_image(
            &layout,
            &descriptor,
            &dir.path().join("rootfs"),
            &UnpackOptions::default(),
        )
        .expect("a built image unpacks");
    }
});
