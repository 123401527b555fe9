//! Reproducible Dockerfile builds and safe unpacking.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use devstack::{Registry, RegistryOptions};
use oci_push::dockerfile::{BuildOptions, build};
use oci_push::{
    Client, ClientOptions, Descriptor, Error, ImageRef, Layout, Platform, PushOptions, Security,
    UnpackOptions, UnpackStats, unpack_image, unpack_layer,
};
use tempfile::TempDir;

/// A temporary build context and an empty layout to build into.
struct BuildDir {
    ctx: TempDir,
    _out: TempDir,
    layout: Layout,
}

impl BuildDir {
    /// An empty context.
    fn empty() -> BuildDir {
        let out = tempfile::tempdir().unwrap();
        BuildDir {
            ctx: tempfile::tempdir().unwrap(),
            layout: Layout::create(out.path()).unwrap(),
            _out: out,
        }
    }

    /// A context with the files of [`context`].
    fn with_context() -> BuildDir {
        let dir = BuildDir::empty();
        context(dir.ctx.path());
        dir
    }

    fn path(&self) -> &Path {
        self.ctx.path()
    }

    /// Builds `text` without a registry client into the layout, tagged `tag`.
    async fn build(
        &self,
        text: &str,
        tag: &str,
        options: &BuildOptions,
    ) -> Result<Descriptor, Error> {
        build(None, self.path(), text, &self.layout, tag, options).await
    }
}

/// The config document of `image` in `layout`.
fn image_config(layout: &Layout, image: &Descriptor) -> serde_json::Value {
    let manifest: serde_json::Value =
        serde_json::from_slice(&layout.read_document(image).unwrap()).unwrap();
    let config = Descriptor {
        media_type: manifest["config"]["mediaType"].as_str().unwrap().into(),
        digest: manifest["config"]["digest"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
        size: manifest["config"]["size"].as_u64().unwrap(),
    };
    serde_json::from_slice(&layout.read_document(&config).unwrap()).unwrap()
}

fn context(dir: &Path) {
    std::fs::create_dir_all(dir.join("src/lib")).unwrap();
    std::fs::write(dir.join("src/main.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::write(dir.join("src/lib/data.txt"), "data").unwrap();
    std::fs::write(dir.join("README"), "readme").unwrap();
    // A tar archive for ADD.
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o644);
    tar.append_data(&mut header, "inner/file.txt", &b"inner"[..])
        .unwrap();
    std::fs::write(dir.join("bundle.tar"), tar.into_inner().unwrap()).unwrap();
}

const DOCKERFILE: &str = r#"
ARG VERSION=1.0
FROM scratch
ARG VERSION
ENV APP_VERSION=${VERSION} PATH=/app/bin
LABEL org.opencontainers.image.source="https://example.invalid/app" version=$VERSION
WORKDIR /app
COPY src/ ./
COPY README /doc/
ADD bundle.tar /opt/
USER 1000:1000
EXPOSE 8443 53/udp
VOLUME ["/data"]
ENTRYPOINT ["/app/main.sh"]
CMD ["--serve"]
"#;

fn options(version: &str) -> BuildOptions {
    BuildOptions {
        platform: Some(Platform::parse("linux/s390x").unwrap()),
        build_args: BTreeMap::from([("VERSION".to_owned(), version.to_owned())]),
        source_date_epoch: Some(1_700_000_000),
        labels: BTreeMap::from([(
            "org.opencontainers.image.revision".to_owned(),
            "abc123".to_owned(),
        )]),
        ..BuildOptions::default()
    }
}

#[tokio::test]
async fn same_context_twice_same_digest_and_config_is_complete() {
    let one = BuildDir::with_context();
    let (ctx, l1) = (&one.ctx, &one.layout);
    let first = one.build(DOCKERFILE, "v1", &options("2.0")).await.unwrap();
    // Touch every file and change modes' non-exec bits: nothing changes.
    for f in ["src/main.sh", "src/lib/data.txt", "README"] {
        let file = std::fs::File::options()
            .write(true)
            .open(ctx.path().join(f))
            .unwrap();
        file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(99))
            .unwrap();
    }
    let out2 = tempfile::tempdir().unwrap();
    let l2 = Layout::create(out2.path()).unwrap();
    let second = build(None, ctx.path(), DOCKERFILE, &l2, "v1", &options("2.0"))
        .await
        .unwrap();
    assert_eq!(first, second);
    let other = build(None, ctx.path(), DOCKERFILE, &l2, "v2", &options("3.0"))
        .await
        .unwrap();
    assert_ne!(first.digest, other.digest);

    let manifest: serde_json::Value =
        serde_json::from_slice(&l1.read_document(&first).unwrap()).unwrap();
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 3);
    let config = image_config(l1, &first);
    assert_eq!(config["architecture"], "s390x");
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    let c = &config["config"];
    assert_eq!(
        c["Env"],
        serde_json::json!(["APP_VERSION=2.0", "PATH=/app/bin"])
    );
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/app/main.sh"]));
    assert_eq!(c["Cmd"], serde_json::json!(["--serve"]));
    assert!(c["ExposedPorts"]["8443/tcp"].is_object());
    assert!(c["ExposedPorts"]["53/udp"].is_object());
    assert!(c["Volumes"]["/data"].is_object());
    assert_eq!(c["Labels"]["version"], "2.0");
    assert_eq!(c["Labels"]["org.opencontainers.image.revision"], "abc123");
    assert_eq!(
        c["Labels"]["org.opencontainers.image.source"],
        "https://example.invalid/app"
    );

    // Unpack it: the files are where COPY and ADD put them.
    let root = tempfile::tempdir().unwrap();
    unpack_image(l1, &first, root.path(), &UnpackOptions::default()).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.path().join("app/lib/data.txt")).unwrap(),
        "data"
    );
    assert!(root.path().join("app/main.sh").exists());
    assert!(root.path().join("doc/README").exists());
    assert_eq!(
        std::fs::read_to_string(root.path().join("opt/inner/file.txt")).unwrap(),
        "inner"
    );
}

#[test]
fn unsupported_and_escaping_instructions_are_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = BuildDir::with_context();
    let run = |text: &str| rt.block_on(dir.build(text, "x", &BuildOptions::default()));
    let error = run("FROM scratch\nCOPY README /\nRUN apt-get install x\n").unwrap_err();
    assert!(
        matches!(error, Error::DockerfileUnsupported { line: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("container runtime"));
    let error = run("FROM scratch\nCOPY ../../etc/passwd /\n").unwrap_err();
    assert!(matches!(error, Error::BuildSource { .. }), "{error}");
    let error = run("FROM scratch\nADD https://example.invalid/x /\n").unwrap_err();
    assert!(
        matches!(error, Error::DockerfileUnsupported { line: 2, .. }),
        "{error}"
    );
    let error = run("FROM alpine\n").unwrap_err();
    assert!(
        matches!(error, Error::DockerfileUnsupported { .. }),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_registry_base_image() {
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let client = Client::new(ClientOptions {
        security: Security::InsecureHttp,
        ..ClientOptions::default()
    })
    .unwrap();
    let based = BuildDir::with_context();
    let (ctx, base_layout) = (&based.ctx, &based.layout);
    let base = based
        .build(
            "FROM scratch\nENV BASE=1\nCOPY README /base/\n",
            "base",
            &BuildOptions::default(),
        )
        .await
        .unwrap();
    let base_ref = ImageRef::parse(&format!("{}/lib/base:1", registry.host())).unwrap();
    client
        .push_layout(
            base_layout,
            Some("base"),
            &base_ref,
            &PushOptions::default(),
        )
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let layout = Layout::create(out.path()).unwrap();
    let text = format!("FROM {base_ref}\nENV APP=2\nCOPY src /app\n");
    let image = build(
        Some(&client),
        ctx.path(),
        &text,
        &layout,
        "app",
        &BuildOptions::default(),
    )
    .await
    .unwrap();
    assert_ne!(image.digest, base.digest);
    let target = ImageRef::parse(&format!("{}/lib/app:1", registry.host())).unwrap();
    let pushed = client
        .push_layout(
            &layout,
            Some("app"),
            &target,
            &PushOptions {
                mount_from: Some("lib/base".into()),
                ..PushOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(pushed.digest, image.digest);
    let root = tempfile::tempdir().unwrap();
    unpack_image(&layout, &image, root.path(), &UnpackOptions::default()).unwrap();
    assert!(root.path().join("base/README").exists());
    assert!(root.path().join("app/main.sh").exists());
}

/// A tar with one crafted entry, written raw so that no builder sanitises it.
fn crafted(path: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    {
        let bytes = header.as_old_mut();
        bytes.name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(link) = link {
            bytes.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
    }
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

#[test]
fn crafted_layers_write_nothing_outside_the_root() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "../escape.txt",
            crafted("../escape.txt", tar::EntryType::Regular, None, b"x"),
        ),
        (
            "/abs.txt",
            crafted("/abs.txt", tar::EntryType::Regular, None, b"x"),
        ),
        (
            "hard",
            crafted("hard", tar::EntryType::Link, Some("../outside.txt"), b""),
        ),
        ("dev", crafted("dev", tar::EntryType::Char, None, b"")),
        ("blk", crafted("blk", tar::EntryType::Block, None, b"")),
    ];
    for (name, layer) in cases {
        let mut stats = UnpackStats::default();
        let error =
            unpack_layer(&layer[..], &root, &UnpackOptions::default(), &mut stats).unwrap_err();
        match &error {
            Error::UnsafeEntry { path, .. } => assert_eq!(path, name, "{error}"),
            other => panic!("{name}: {other}"),
        }
        assert!(error.to_string().contains(name));
    }
    // Symlinked directories are followed inside the root, as in a container: merged-/usr
    // images (`lib -> usr/lib`) unpack, and a link to `/` or a self-loop cannot lead out.
    let mut stats = UnpackStats::default();
    let mut layer = crafted("usr/lib/", tar::EntryType::Directory, None, b"");
    layer.truncate(512);
    for (path, kind, link, data) in [
        ("lib", tar::EntryType::Symlink, Some("usr/lib"), &b""[..]),
        ("lib/libfoo.so", tar::EntryType::Regular, None, b"elf"),
        ("top", tar::EntryType::Symlink, Some("/"), b""),
        (
            "top/etc/passwd",
            tar::EntryType::Regular,
            None,
            b"root::0:0",
        ),
        ("deep/up", tar::EntryType::Symlink, Some(".."), b""),
        ("deep/up/deep/up/x", tar::EntryType::Regular, None, b"x"),
    ] {
        let mut entry = crafted(path, kind, link, data);
        entry.truncate(512 + data.len().div_ceil(512) * 512);
        layer.extend(entry);
    }
    layer.extend([0u8; 1024]);
    unpack_layer(&layer[..], &root, &UnpackOptions::default(), &mut stats).unwrap();
    assert_eq!(
        std::fs::read(root.join("usr/lib/libfoo.so")).unwrap(),
        b"elf"
    );
    assert_eq!(
        std::fs::read(root.join("etc/passwd")).unwrap(),
        b"root::0:0"
    );
    assert_eq!(
        std::fs::read(root.join("x")).unwrap(),
        b"x",
        "deep/up is the root, twice"
    );
    // Even a link planted in the root by other means (escaping targets the layer checks would
    // refuse) cannot lead a later entry out: resolution starts and stops at the root.
    std::os::unix::fs::symlink(outer.path(), root.join("planted-abs")).unwrap();
    std::os::unix::fs::symlink("../../..", root.join("planted-up")).unwrap();
    for path in ["planted-abs/escaped", "planted-up/escaped"] {
        let layer = crafted(path, tar::EntryType::Regular, None, b"no");
        unpack_layer(&layer[..], &root, &UnpackOptions::default(), &mut stats).unwrap();
    }
    assert!(root.join("escaped").is_file());
    std::fs::remove_file(root.join("planted-abs")).unwrap();
    std::fs::remove_file(root.join("planted-up")).unwrap();
    let mut layer = crafted("loop", tar::EntryType::Symlink, Some("/loop"), b"");
    layer.truncate(512);
    layer.extend(crafted("loop/file", tar::EntryType::Regular, None, b"x"));
    let error = unpack_layer(&layer[..], &root, &UnpackOptions::default(), &mut stats).unwrap_err();
    assert!(
        matches!(&error, Error::UnsafeEntry { path, .. } if path == "loop/file"),
        "{error}"
    );
    // Oversized entries.
    let big = crafted("big", tar::EntryType::Regular, None, &[0u8; 2048]);
    let error = unpack_layer(
        &big[..],
        &root,
        &UnpackOptions {
            max_entry_size: 1024,
            ..UnpackOptions::default()
        },
        &mut stats,
    )
    .unwrap_err();
    assert!(
        matches!(&error, Error::UnsafeEntry { path, .. } if path == "big"),
        "{error}"
    );
    // Nothing was written outside the root.
    let outside: Vec<_> = std::fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("root")]);
    // Whiteouts remove lower-layer files.
    let mut layer = crafted("keep.txt", tar::EntryType::Regular, None, b"k");
    layer.truncate(1024);
    layer.extend(crafted("gone.txt", tar::EntryType::Regular, None, b"g"));
    unpack_layer(&layer[..], &root, &UnpackOptions::default(), &mut stats).unwrap();
    assert!(root.join("gone.txt").exists());
    let whiteout = crafted(".wh.gone.txt", tar::EntryType::Regular, None, b"");
    unpack_layer(&whiteout[..], &root, &UnpackOptions::default(), &mut stats).unwrap();
    assert!(!root.join("gone.txt").exists());
    assert!(root.join("keep.txt").exists());
}

#[tokio::test]
async fn args_before_from_are_visible_after_it_only_when_redeclared() {
    let dir = BuildDir::empty();
    let text = "ARG A=1\nFROM scratch\nENV X=\"${A}\"\nARG A\nENV Y=${A}\n";
    let image = dir
        .build(text, "t", &BuildOptions::default())
        .await
        .unwrap();
    let config = image_config(&dir.layout, &image);
    assert_eq!(config["config"]["Env"], serde_json::json!(["X=", "Y=1"]));
}

/// Every path (files, dirs, symlinks) under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() && !path.is_symlink() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn dockerignore_leaves_files_out_and_naming_one_is_an_error() {
    let built = BuildDir::empty();
    let (c, layout) = (built.path(), &built.layout);
    for dir in [
        ".git/objects",
        "node_modules/pad",
        "src/gen",
        "logs/old",
        "build",
    ] {
        std::fs::create_dir_all(c.join(dir)).unwrap();
    }
    for (file, text) in [
        (".git/HEAD", "ref"),
        (".git/objects/ab", "obj"),
        ("node_modules/pad/index.js", "js"),
        ("src/main.rs", "fn main() {}"),
        ("src/gen/out.log", "log"),
        ("src/gen/table.rs", "table"),
        ("logs/old/a.log", "log"),
        ("build/out.o", "obj"),
        ("build/keep.txt", "kept"),
        ("secret.env", "TOKEN=1"),
        ("README.md", "readme"),
        ("NOTES.md", "notes"),
        ("Dockerfile", "FROM scratch"),
    ] {
        std::fs::write(c.join(file), text).unwrap();
    }
    std::fs::write(
        c.join(".dockerignore"),
        "# version control and dependencies\n.git\nnode_modules/\n**/*.log\n/secret.env\n\
         build\n!build/keep.txt\n*.md\n!README.md\nDockerfile\n.dockerignore\n",
    )
    .unwrap();
    let image = built
        .build("FROM scratch\nCOPY . /app/\n", "v1", &options("1"))
        .await
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    unpack_image(layout, &image, root.path(), &UnpackOptions::default()).unwrap();
    assert_eq!(
        tree(&root.path().join("app")),
        [
            "README.md",
            "build",
            "build/keep.txt",
            "logs",
            "logs/old",
            "src",
            "src/gen",
            "src/gen/table.rs",
            "src/main.rs",
        ]
    );

    // Naming an excluded source is refused with the pattern that excludes it.
    let error = built
        .build("FROM scratch\nCOPY secret.env /etc/\n", "v2", &options("1"))
        .await
        .unwrap_err();
    match &error {
        Error::BuildSource {
            source_path,
            reason,
        } => {
            assert_eq!(source_path, "secret.env");
            assert!(reason.contains("line 5: secret.env"), "{reason}");
        }
        other => panic!("{other}"),
    }

    // A bad pattern stops the build before anything is written.
    std::fs::write(c.join(".dockerignore"), "ok\n[z-a]\n").unwrap();
    let error = built
        .build("FROM scratch\nCOPY . /\n", "v3", &options("1"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::DockerIgnore { line: 2, .. }),
        "{error}"
    );
    assert!(layout.resolve(Some("v3")).is_err());
}

/// `(path, uid, gid, mode)` of every entry of the image's layers, in order.
fn layer_entries(layout: &Layout, image: &Descriptor) -> Vec<Vec<(String, u64, u64, u32)>> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&layout.read_document(image).unwrap()).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            let digest: oci_push::Digest = layer["digest"].as_str().unwrap().parse().unwrap();
            let file = std::fs::File::open(layout.blob_path(&digest)).unwrap();
            let mut archive = tar::Archive::new(file);
            archive
                .entries()
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    let h = e.header();
                    (
                        e.path().unwrap().display().to_string(),
                        h.uid().unwrap(),
                        h.gid().unwrap(),
                        h.mode().unwrap(),
                    )
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn copy_chown_and_chmod_set_numeric_owners_and_modes() {
    let dir = BuildDir::with_context();
    let options = BuildOptions {
        compression: oci_push::Compression::None,
        ..options("1")
    };
    let image = dir
        .build(
        "FROM scratch\nCOPY --chown=1000:1001 --chmod=0750 src/ /app/\nCOPY --chown=42 README /doc/\nCOPY README /plain/\n",
        "v1",
        &options,
    )
    .await
    .unwrap();
    let layers = layer_entries(&dir.layout, &image);
    assert_eq!(
        layers[0],
        [
            ("app/".to_owned(), 1000, 1001, 0o750),
            ("app/lib/".to_owned(), 1000, 1001, 0o750),
            ("app/lib/data.txt".to_owned(), 1000, 1001, 0o750),
            ("app/main.sh".to_owned(), 1000, 1001, 0o750),
        ]
    );
    assert_eq!(
        layers[1],
        [
            ("doc/".to_owned(), 42, 42, 0o755),
            ("doc/README".to_owned(), 42, 42, 0o644),
        ]
    );
    assert_eq!(
        layers[2],
        [
            ("plain/".to_owned(), 0, 0, 0o755),
            ("plain/README".to_owned(), 0, 0, 0o644),
        ]
    );

    for (dockerfile, line) in [
        ("FROM scratch\nCOPY --chown=app:app README /\n", 2),
        ("FROM scratch\n\nCOPY --link README /\n", 3),
    ] {
        let error = dir.build(dockerfile, "x", &options).await.unwrap_err();
        assert!(
            matches!(&error, Error::DockerfileUnsupported { line: l, .. } if *l == line),
            "{error}"
        );
    }
    let error = dir
        .build("FROM scratch\nCOPY --chmod=999 README /\n", "x", &options)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::DockerfileSyntax { line: 2, .. }),
        "{error}"
    );
}

/// Dockerfile messages and Docker's rules: IDs beyond 32 bits, a destination that leaves the
/// root (labelled as the destination), `WORKDIR ..` clamped at `/`, `ENV` without value.
#[tokio::test]
async fn dockerfile_refusals_say_what_is_wrong() {
    let dir = BuildDir::empty();
    std::fs::write(dir.path().join("f"), "x").unwrap();
    let defaults = BuildOptions::default();
    let run = |text: &'static str| dir.build(text, "x", &defaults);
    for text in [
        "FROM scratch\nCOPY --chown=4294967296 f /f\n",
        "FROM scratch\nCOPY --chown=0:4294967296 f /f\n",
    ] {
        let error = run(text).await.unwrap_err();
        assert!(
            matches!(&error, Error::DockerfileUnsupported { line: 2, reason, .. } if reason.contains("does not fit 32 bits")),
            "{error}"
        );
    }
    // The largest 32-bit ID is fine.
    run("FROM scratch\nCOPY --chown=4294967295 f /f\n")
        .await
        .unwrap();

    let error = run("FROM scratch\nCOPY f ../../../outside\n")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::BuildDestination { destination, .. } if destination.contains("outside")),
        "{error}"
    );
    assert!(
        error.to_string().starts_with("build destination"),
        "{error}"
    );

    let image = run("FROM scratch\nWORKDIR ../../w\nWORKDIR ../x/./y\n")
        .await
        .unwrap();
    assert_eq!(
        image_config(&dir.layout, &image)["config"]["WorkingDir"],
        "/x/y"
    );

    let error = run("FROM scratch\nENV A\n").await.unwrap_err();
    assert!(
        matches!(&error, Error::DockerfileSyntax { line: 2, reason } if reason.contains("no value")),
        "{error}"
    );
    // An empty value written as such is Docker's too.
    run("FROM scratch\nENV A=\n").await.unwrap();
}
