//! The `oci` program end to end against docker-registry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;

use devstack::{Registry, RegistryOptions};

fn oci(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oci"))
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("DOCKER_CONFIG", "/nonexistent-docker-config")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn last_line(text: &str) -> String {
    text.lines().last().unwrap_or("").to_owned()
}

#[test]
fn build_push_digest_pull_unpack() {
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(ctx.join("bin")).unwrap();
    std::fs::write(ctx.join("bin/app"), "#!/bin/sh\necho wallet\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nARG V=1\nENV V=$V\nCOPY bin /app/bin\nEXPOSE 8443\nENTRYPOINT [\"/app/bin/app\"]\n",
    )
    .unwrap();
    let image = format!("{}/hpvs/wallet:1.0", registry.host());
    let ctx_s = ctx.to_str().unwrap();
    // The same build, then pushed or written to a layout.
    let build = |destination: &[&str]| {
        let mut args = vec![
            "build",
            ctx_s,
            "-t",
            &image,
            "--platform",
            "linux/s390x",
            "--build-arg",
            "V=2",
            "--label",
            "org.opencontainers.image.revision=abc",
        ];
        args.extend_from_slice(destination);
        oci(&args)
    };
    let (ok, out, err) = build(&["--insecure", "--push"]);
    assert!(ok, "{err}");
    let digest = last_line(&out);
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{out}");

    // The same build into a layout gives the same digest.
    let layout = dir.path().join("layout");
    let layout_s = layout.to_str().unwrap();
    let (ok, out, err) = build(&["--output", layout_s]);
    assert!(ok, "{err}");
    assert_eq!(last_line(&out), digest);

    let (ok, out, err) = oci(&["digest", "--insecure", &image]);
    assert!(ok, "{err}");
    assert_eq!(last_line(&out), digest);

    // Push the layout elsewhere: same digest.
    let other = format!("{}/hpvs/copy:1.0", registry.host());
    let (ok, out, err) = oci(&["push", "--insecure", &format!("{layout_s}:1.0"), &other]);
    assert!(ok, "{err}");
    assert_eq!(last_line(&out), digest);

    let pulled = dir.path().join("pulled");
    let (ok, out, err) = oci(&["pull", "--insecure", &other, pulled.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(last_line(&out), digest);
    // A single-platform image is what --platform gets; a malformed platform is refused.
    let one = dir.path().join("one");
    let one_s = one.to_str().unwrap();
    let (ok, out, err) = oci(&[
        "pull",
        "--insecure",
        "--platform",
        "linux/s390x",
        &other,
        one_s,
    ]);
    assert!(ok, "{err}");
    assert_eq!(last_line(&out), digest);
    let (ok, _, err) = oci(&["pull", "--insecure", "--platform", "s390x", &other, one_s]);
    assert!(!ok);
    assert!(err.contains("OS/ARCH"), "{err}");

    let rootfs = dir.path().join("rootfs");
    let (ok, _, err) = oci(&[
        "unpack",
        &format!("{}:1.0", pulled.display()),
        rootfs.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(rootfs.join("app/bin/app").exists());

    // A leftover partial download goes once old enough; blobs stay.
    let stale = pulled.join("blobs/sha256/.partial-0123");
    std::fs::write(&stale, b"part").unwrap();
    let pulled_s = pulled.to_str().unwrap();
    let (ok, out, err) = oci(&["clean", pulled_s]);
    assert!(ok, "{err}");
    assert_eq!(
        last_line(&out),
        format!("removed 0 stale file(s) from {pulled_s}")
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (ok, out, err) = oci(&["clean", pulled_s, "--older-than", "1"]);
    assert!(ok, "{err}");
    assert_eq!(
        last_line(&out),
        format!("removed 1 stale file(s) from {pulled_s}")
    );
    assert!(!stale.exists());
    let (ok, _, err) = oci(&[
        "unpack",
        &format!("{pulled_s}:1.0"),
        rootfs.to_str().unwrap(),
    ]);
    assert!(ok, "the image is intact after clean: {err}");

    // Errors: non-zero exit, the error on stderr.
    let (ok, _, err) = oci(&["push", "--insecure", "/nonexistent-layout:1", &other]);
    assert!(!ok);
    assert!(err.contains("not a usable OCI image layout"), "{err}");
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nRUN make\n").unwrap();
    let (ok, _, err) = oci(&["build", ctx_s, "-t", &image, "--output", layout_s]);
    assert!(!ok);
    assert!(err.contains("line 2") && err.contains("RUN"), "{err}");
}

/// docker's `config.json` with `credHelpers`: the `docker-credential-*` program answers, and
/// basic auth against an htpasswd registry succeeds; a wrong answer is a clear error.
#[test]
fn credential_helper_from_docker_config() {
    use std::os::unix::fs::PermissionsExt as _;

    let registry = Registry::start(RegistryOptions {
        basic_auth: Some(("alice".into(), "helper-pw".into())),
        tls: false,
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // Each run of the helper adds a line here.
    let runs = dir.path().join("helper-runs");
    let helper = |password: &str| {
        let script = bin.join("docker-credential-fake");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nread host\necho run >> '{}'\necho '{{\"ServerURL\":\"'$host'\",\"Username\":\"alice\",\"Secret\":\"{password}\"}}'\n",
                runs.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let config = dir.path().join("docker");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"fake"}}}}"#, registry.host()),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_oci"))
            .args(args)
            .env("DOCKER_CONFIG", &config)
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    // Push a tiny built image with the helper's credentials.
    let ctx = dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("f"), "x").unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").unwrap();
    let image = format!("{}/cred/app:1", registry.host());
    helper("helper-pw");
    let out = run(&[
        "build",
        ctx.to_str().unwrap(),
        "-t",
        &image,
        "--insecure",
        "--push",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = last_line(&String::from_utf8(out.stdout).unwrap());
    // A push of two blobs (HEADs at the same time) asks the helper once.
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 1);
    let out = run(&["digest", "--insecure", &image]);
    assert_eq!(last_line(&String::from_utf8(out.stdout).unwrap()), digest);
    helper("wrong");
    let out = run(&["digest", "--insecure", &image]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("refused access") && stderr.contains("check the credentials"),
        "{stderr}"
    );
}

/// A completed pull whose reader has gone (`oci pull ... | true`) ends with exit 0, not a
/// panic; a registry without repository is refused at once; a layout of several images
/// without a tag says so.
#[test]
fn closed_stdout_and_clear_refusals() {
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("f"), "x").unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").unwrap();
    let image = format!("{}/pipe/app:1", registry.host());
    let ctx_s = ctx.to_str().unwrap();
    let (ok, _, err) = oci(&["build", ctx_s, "-t", &image, "--insecure", "--push"]);
    assert!(ok, "{err}");

    let pulled = dir.path().join("pulled");
    let mut child = Command::new(env!("CARGO_BIN_EXE_oci"))
        .args(["pull", "--insecure", &image, pulled.to_str().unwrap()])
        .env("DOCKER_CONFIG", "/nonexistent-docker-config")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader closes before the digest line is written, as `| true` does.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(pulled.join("index.json").exists());

    // A registry alone is no image: refused at once, not looked up on Docker Hub.
    let started = std::time::Instant::now();
    let (ok, _, err) = oci(&[
        "pull",
        "--insecure",
        "127.0.0.1:15000",
        pulled.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("invalid image reference") && err.contains("no repository"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // Two images in a layout and no tag named.
    let other = format!("{}/pipe/app:2", registry.host());
    let (ok, _, err) = oci(&["pull", "--insecure", &image, pulled.to_str().unwrap()]);
    assert!(ok, "{err}");
    std::fs::write(ctx.join("f"), "y").unwrap();
    let (ok, _, err) = oci(&[
        "build",
        ctx_s,
        "-t",
        &other,
        "--output",
        pulled.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let rootfs = dir.path().join("rootfs");
    let (ok, _, err) = oci(&["unpack", pulled.to_str().unwrap(), rootfs.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("holds 2 images") && err.contains("LAYOUT:TAG"),
        "{err}"
    );
}
