//! The Secure Build Server's build steps with the real tools: `git` clones a repository, the
//! Dockerfile is built, both tags are pushed to docker-registry and signed on notary-server
//! (TLS) with keys the first build makes; a later build reuses them, and a second server
//! with keys of its own cannot take the repository over.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use devstack::{ListenerSecurity, NotaryOptions, NotaryServer, Registry, RegistryOptions};
use hpvs_sim::sbs::pipeline::{self, BuildPaths, BuildRequest};
use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::transport::ServerConfig;
use registry_http::Secret;

fn git(dir: &Path, args: &[&str]) {
    devstack::git(dir, args).unwrap();
}

/// A repository on branch `main` with a Dockerfile that needs no container runtime.
fn source_repository(dir: &Path) {
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("app/hello.txt"), "hello from the build\n").unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY app/ /app/\nCMD [\"/app/hello.txt\"]\n",
    )
    .unwrap();
    git(dir, &["init", "--quiet", "--initial-branch", "main"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "--quiet", "-m", "first"]);
}

fn request(source: &Path, registry: &Registry, notary: &NotaryServer) -> BuildRequest {
    BuildRequest {
        git_url: format!("file://{}", source.display()),
        git_branch: "main".into(),
        git_key: Secret::default(),
        dockerfile_path: "Dockerfile".into(),
        build_path: ".".into(),
        push_server: format!("http://{}", registry.host()),
        repo: "lab/app".into(),
        push_user: String::new(),
        push_password: Secret::default(),
        notary_url: notary.url().to_owned(),
        tag_prefix: "latest".into(),
        ..BuildRequest::default()
    }
}

/// One whole build; returns the pushed digest and the root key ID that signed it.
async fn build_once(
    request: &BuildRequest,
    keys: &Path,
    workspace: &Path,
    ca: &[u8],
) -> Result<(String, String, [String; 2]), String> {
    let paths = BuildPaths {
        workspace: workspace.to_owned(),
        keys: keys.to_owned(),
    };
    let cloned = pipeline::clone(request, &paths).map_err(|e| e.to_string())?;
    let tags = pipeline::tags(request, &cloned);
    let layout = pipeline::build(request, &cloned, &paths, &tags[0], Some(ca))
        .await
        .map_err(|e| e.to_string())?;
    let pushed = pipeline::push(request, &layout, &tags, Some(ca))
        .await
        .map_err(|e| e.to_string())?;
    let root = pipeline::sign(
        request,
        &paths,
        &pushed,
        &tags,
        Some(ca),
        &Secret::new("sbs key passphrase"),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok((pushed.digest.to_string(), root.key_id().to_owned(), tags))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_clones_builds_pushes_and_signs_with_keys_it_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let notary = NotaryServer::start(NotaryOptions::with_security(ListenerSecurity::Tls)).unwrap();
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let ca = std::fs::read(&notary.tls().unwrap().ca_cert).unwrap();
    let source = dir.path().join("source");
    source_repository(&source);
    let request = request(&source, &registry, &notary);
    let keys = dir.path().join("keys");

    let (digest, root, tags) = build_once(&request, &keys, &dir.path().join("ws1"), &ca)
        .await
        .unwrap();
    assert!(tags[0].starts_with("latest-") && tags[0].len() == "latest-".len() + 7);
    assert_eq!(tags[1], "latest");

    // Anyone resolves both tags to the pushed digest, pinned to the server's root.
    let config = ServerConfig {
        ca_pem: Some(ca.clone()),
        ..ServerConfig::from_url(notary.url()).unwrap()
    };
    let gun = pipeline::gun(&request);
    let pinning =
        notary_client::pinning::TrustPinning::default().pin_cert(gun.clone(), root.clone());
    let reader = notary_client::repository::Client::new(
        dir.path().join("reader"),
        &config,
        Fixed(Passphrase::new("unused")),
    )
    .unwrap()
    .with_pinning(pinning);
    for tag in &tags {
        let target = reader.repository(&gun).unwrap().lookup(tag).await.unwrap();
        assert_eq!(
            oci_push::Digest::try_from(&target).unwrap().to_string(),
            digest
        );
    }

    // A later build (a new commit) signs with the same root.
    std::fs::write(source.join("app/hello.txt"), "second\n").unwrap();
    git(&source, &["commit", "--quiet", "-am", "second"]);
    let (second_digest, second_root, second_tags) =
        build_once(&request, &keys, &dir.path().join("ws2"), &ca)
            .await
            .unwrap();
    assert_eq!(second_root, root);
    assert_ne!(second_digest, digest);
    assert_ne!(second_tags[0], tags[0]);
    let latest = reader
        .repository(&gun)
        .unwrap()
        .lookup("latest")
        .await
        .unwrap();
    assert_eq!(
        oci_push::Digest::try_from(&latest).unwrap().to_string(),
        second_digest
    );

    // Another server, with keys of its own, cannot sign the repository (its publish finds
    // the collection under the first server's root).
    let refused = build_once(
        &request,
        &dir.path().join("other-keys"),
        &dir.path().join("ws3"),
        &ca,
    )
    .await
    .unwrap_err();
    assert!(refused.starts_with("sign: "), "{refused}");
    assert!(refused.contains("another root"), "{refused}");

    // A branch that does not exist fails the clone, naming the step.
    let mut missing = request.clone();
    missing.git_branch = "no-such-branch".into();
    let refused = build_once(&missing, &keys, &dir.path().join("ws4"), &ca)
        .await
        .unwrap_err();
    assert!(refused.starts_with("git clone file://"), "{refused}");
}

#[test]
fn the_clone_goes_over_ssh_with_the_deploy_key_and_checks_the_host_key_it_learnt() {
    let dir = tempfile::tempdir().unwrap();
    let host = devstack::GitHost::start().unwrap();
    let url = host.create_repository("app").unwrap();
    let key_path = dir.path().join("deploy");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key_path)
        .status()
        .unwrap();
    assert!(status.success());
    host.authorize(&std::fs::read_to_string(key_path.with_extension("pub")).unwrap())
        .unwrap();
    // The source reaches the host as any user would push it: over a file:// remote on disk.
    let source = dir.path().join("source");
    source_repository(&source);
    git(
        &source,
        &[
            "push",
            "--quiet",
            host.repository_path("app").to_str().unwrap(),
            "main",
        ],
    );

    let mut request = BuildRequest {
        git_url: url,
        git_key: Secret::new(std::fs::read_to_string(&key_path).unwrap()),
        ..request_without_servers()
    };
    let keys = dir.path().join("keys");
    let paths = |name: &str| BuildPaths {
        workspace: dir.path().join(name),
        keys: keys.clone(),
    };
    let cloned = pipeline::clone(&request, &paths("ws1")).unwrap();
    assert!(cloned.dir.join("Dockerfile").is_file());
    assert!(
        !dir.path().join("ws1/deploy-key").exists(),
        "the key stayed on disk"
    );
    let learnt = std::fs::read_to_string(keys.join("known_hosts")).unwrap();
    assert!(learnt.contains(host.host_key().split_whitespace().nth(1).unwrap()));
    pipeline::clone(&request, &paths("ws2")).unwrap();

    // A host that shows another key than the one learnt is refused.
    std::fs::write(
        keys.join("known_hosts"),
        learnt.replace(
            host.host_key().split_whitespace().nth(1).unwrap(),
            "AAAAC3NzaC1lZDI1NTE5AAAAIJ0b2Dr0y2vLTcJ5o4e7S0wz7qkY8w1jHq5Zq1Yx2c3d",
        ),
    )
    .unwrap();
    let refused = pipeline::clone(&request, &paths("ws3")).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("HOST IDENTIFICATION HAS CHANGED"),
        "{refused}"
    );

    // Without the key the host refuses the clone.
    request.git_key = Secret::default();
    std::fs::remove_file(keys.join("known_hosts")).unwrap();
    assert!(pipeline::clone(&request, &paths("ws4")).is_err());
}

/// A request whose servers are never contacted (clone only).
fn request_without_servers() -> BuildRequest {
    BuildRequest {
        git_url: String::new(),
        git_branch: "main".into(),
        git_key: Secret::default(),
        dockerfile_path: "Dockerfile".into(),
        build_path: ".".into(),
        push_server: "http://127.0.0.1:1".into(),
        repo: "lab/app".into(),
        push_user: String::new(),
        push_password: Secret::default(),
        notary_url: "https://127.0.0.1:1".into(),
        tag_prefix: "latest".into(),
        ..BuildRequest::default()
    }
}

/// Pushes a busybox image (with `/bin/sh`) as `GUN:1.0`; signs it when `signed`.
async fn base_image(
    dir: &Path,
    registry: &Registry,
    notary: &NotaryServer,
    ca: &[u8],
    signed: bool,
) -> String {
    let name = if signed {
        "base/busybox"
    } else {
        "base/unsigned"
    };
    base_image_as(dir, registry, notary, ca, name, signed, None).await
}

/// Pushes a busybox image as `<registry>/<name>:1.0` with `credentials` (user, password);
/// signs it when `signed`. Returns the GUN.
async fn base_image_as(
    dir: &Path,
    registry: &Registry,
    notary: &NotaryServer,
    ca: &[u8],
    name: &str,
    signed: bool,
    credentials: Option<(&str, &str)>,
) -> String {
    let context = dir.join("base-context");
    std::fs::create_dir_all(context.join("rootfs/bin")).unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("busybox-static is installed (scripts/install-peers.sh)");
    std::fs::copy(busybox, context.join("rootfs/bin/busybox")).unwrap();
    for applet in ["sh", "echo", "cat"] {
        std::os::unix::fs::symlink("busybox", context.join("rootfs/bin").join(applet)).unwrap();
    }
    let layout = oci_push::Layout::create(dir.join("base-layout")).unwrap();
    oci_push::dockerfile::build(
        None,
        &context,
        "FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\n",
        &layout,
        "1.0",
        &Default::default(),
    )
    .await
    .unwrap();
    let gun = format!("{}/{name}", registry.host());
    let pushed = oci_push::Client::new(oci_push::ClientOptions {
        security: oci_push::Security::InsecureHttp,
        credentials: match credentials {
            Some((user, password)) => oci_push::CredentialSource::Static(
                oci_push::Credentials::basic(user.to_owned(), Secret::new(password)),
            ),
            None => oci_push::CredentialSource::Anonymous,
        },
        ..Default::default()
    })
    .unwrap()
    .push_layout(
        &layout,
        Some("1.0"),
        &oci_push::ImageRef::parse(&format!("{gun}:1.0")).unwrap(),
        &oci_push::PushOptions::default(),
    )
    .await
    .unwrap();
    if signed {
        let config = ServerConfig {
            ca_pem: Some(ca.to_vec()),
            ..ServerConfig::from_url(notary.url()).unwrap()
        };
        let vendor = notary_client::repository::Client::new(
            dir.join("base-vendor-trust"),
            &config,
            Fixed(Passphrase::new("base vendor")),
        )
        .unwrap();
        let repo = vendor.repository(&gun).unwrap();
        repo.init(&notary_client::repository::InitOptions {
            root_key: None,
            snapshot: notary_client::repository::KeyHolder::Server,
        })
        .await
        .unwrap();
        repo.add_target("1.0", notary_client::metadata::FileMeta::from(&pushed), &[])
            .unwrap();
        repo.publish().await.unwrap();
    }
    gun
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dockerfile_with_run_builds_with_buildah_from_a_dct_verified_base() {
    let dir = tempfile::tempdir().unwrap();
    let notary = NotaryServer::start(NotaryOptions::with_security(ListenerSecurity::Tls)).unwrap();
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let ca = std::fs::read(&notary.tls().unwrap().ca_cert).unwrap();
    let signed = base_image(dir.path(), &registry, &notary, &ca, true).await;
    let unsigned = base_image(&dir.path().join("u"), &registry, &notary, &ca, false).await;

    let source = dir.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(
        source.join("Dockerfile"),
        format!(
            "FROM {signed}:1.0\nRUN echo built-by-run > /built.txt\nCMD [\"cat\", \"/built.txt\"]\n"
        ),
    )
    .unwrap();
    git(&source, &["init", "--quiet", "--initial-branch", "main"]);
    git(&source, &["add", "."]);
    git(&source, &["commit", "--quiet", "-m", "run"]);
    let request = BuildRequest {
        base_server: format!("http://{}", registry.host()),
        base_trust: pipeline::BaseTrust::ContentTrust,
        content_trust_base_server: notary.url().to_owned(),
        ..request(&source, &registry, &notary)
    };
    let paths = BuildPaths {
        workspace: dir.path().join("ws"),
        keys: dir.path().join("keys"),
    };
    let cloned = pipeline::clone(&request, &paths).unwrap();
    let layout = pipeline::build(&request, &cloned, &paths, "latest", Some(&ca))
        .await
        .unwrap();
    let manifest = layout.resolve(Some("latest")).unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    oci_push::unpack_image(&layout, &manifest, &rootfs, &Default::default()).unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.join("built.txt")).unwrap(),
        "built-by-run\n"
    );

    // A base whose tag nobody signed is refused before anything runs.
    std::fs::write(
        source.join("Dockerfile"),
        format!("FROM {unsigned}:1.0\nRUN echo never > /never.txt\n"),
    )
    .unwrap();
    git(&source, &["commit", "--quiet", "-am", "unsigned base"]);
    let paths = BuildPaths {
        workspace: dir.path().join("ws2"),
        keys: dir.path().join("keys"),
    };
    let cloned = pipeline::clone(&request, &paths).unwrap();
    let refused = pipeline::build(&request, &cloned, &paths, "latest", Some(&ca))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().starts_with("build: base image"),
        "{refused}"
    );
    assert!(
        !paths.workspace.join("buildah").exists(),
        "buildah ran on an unverified base"
    );
}

/// Item 1 and 2 of the base-image rules: `FROM hpvs-lab/busybox:1.0` (no registry host, as
/// the lab's sample app writes it) is built from the base server, DCT-verified and pinned to
/// the signed digest, pulled with `DOCKER_BASE_USER`/`DOCKER_BASE_PASSWORD` from a registry
/// that requires them; a wrong password fails the build with the registry's refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_from_without_a_registry_is_pulled_from_the_base_server_with_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let notary = NotaryServer::start(NotaryOptions::with_security(ListenerSecurity::Tls)).unwrap();
    let registry = Registry::start(RegistryOptions {
        basic_auth: Some(("puller".into(), "base-pw".into())),
        tls: false,
    })
    .unwrap();
    let pushes = Registry::start(RegistryOptions::default()).unwrap();
    let ca = std::fs::read(&notary.tls().unwrap().ca_cert).unwrap();
    let gun = base_image_as(
        dir.path(),
        &registry,
        &notary,
        &ca,
        "hpvs-lab/busybox",
        true,
        Some(("puller", "base-pw")),
    )
    .await;

    let source = dir.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(
        source.join("Dockerfile"),
        "FROM hpvs-lab/busybox:1.0\nRUN echo from-the-base-server > /built.txt\n",
    )
    .unwrap();
    git(&source, &["init", "--quiet", "--initial-branch", "main"]);
    git(&source, &["add", "."]);
    git(&source, &["commit", "--quiet", "-m", "unqualified base"]);
    let request = BuildRequest {
        base_server: format!("http://{}", registry.host()),
        base_user: "puller".into(),
        base_password: Secret::new("base-pw"),
        base_trust: pipeline::BaseTrust::ContentTrust,
        content_trust_base_server: notary.url().to_owned(),
        ..request(&source, &pushes, &notary)
    };
    let paths = BuildPaths {
        workspace: dir.path().join("ws"),
        keys: dir.path().join("keys"),
    };
    let cloned = pipeline::clone(&request, &paths).unwrap();
    let layout = pipeline::build(&request, &cloned, &paths, "latest", Some(&ca))
        .await
        .unwrap();
    let manifest = layout.resolve(Some("latest")).unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    oci_push::unpack_image(&layout, &manifest, &rootfs, &Default::default()).unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.join("built.txt")).unwrap(),
        "from-the-base-server\n"
    );
    // buildah was given the base server's name and the verified digest, never the tag.
    let pinned =
        std::fs::read_to_string(paths.workspace.join("buildah/Dockerfile.pinned")).unwrap();
    let first = pinned.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("FROM {gun}@sha256:")),
        "{pinned}"
    );
    assert!(
        !paths.workspace.join("buildah/auth.json").exists(),
        "the credentials file stayed"
    );

    // The same build with a wrong password: the base server refuses the pull.
    let wrong = BuildRequest {
        base_password: Secret::new("wrong"),
        base_trust: pipeline::BaseTrust::Unverified,
        ..request.clone()
    };
    let paths = BuildPaths {
        workspace: dir.path().join("ws2"),
        keys: dir.path().join("keys"),
    };
    let cloned = pipeline::clone(&wrong, &paths).unwrap();
    let refused = pipeline::build(&wrong, &cloned, &paths, "latest", Some(&ca))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.starts_with("build: "), "{refused}");
    assert!(
        refused.contains(&registry.host()) && refused.to_lowercase().contains("unauthorized"),
        "{refused}"
    );

    // Without a base server, a FROM without a registry is refused before any pull.
    let nowhere = BuildRequest {
        base_server: String::new(),
        base_trust: pipeline::BaseTrust::Unverified,
        ..request.clone()
    };
    let paths = BuildPaths {
        workspace: dir.path().join("ws3"),
        keys: dir.path().join("keys"),
    };
    let cloned = pipeline::clone(&nowhere, &paths).unwrap();
    let refused = pipeline::build(&nowhere, &cloned, &paths, "latest", Some(&ca))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("FROM hpvs-lab/busybox:1.0 names no registry"),
        "{refused}"
    );
}
