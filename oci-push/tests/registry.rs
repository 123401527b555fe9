//! Push and pull against the real docker-registry, with skopeo as the judge.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use devstack::{Registry, RegistryOptions};
use oci_push::{
    Client, ClientOptions, CredentialSource, Credentials, Descriptor, Digest, Error, ImageRef,
    Layout, PullOptions, PushOptions, Security, UploadMode,
};

/// A layout with one image of `layers` random layers of `layer_size` bytes, tagged `tag`.
fn make_layout(dir: &Path, tag: &str, layers: usize, layer_size: usize, seed: u8) -> Descriptor {
    let layout = Layout::create(dir).unwrap();
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..layers {
        let mut bytes = vec![0u8; layer_size];
        let mut x: u32 = 0x9e37_79b9 ^ (u32::from(seed) << 8) ^ i as u32;
        for b in bytes.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        let d = layout
            .write_document("application/vnd.oci.image.layer.v1.tar", &bytes)
            .unwrap();
        diff_ids.push(d.digest.to_string());
        layer_descs.push(d);
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {"Env": [format!("SEED={seed}")]}
    });
    let config = layout
        .write_document(
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        )
        .unwrap();
    let d = |d: &Descriptor| serde_json::json!({"mediaType": d.media_type, "digest": d.digest.as_str(), "size": d.size});
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": d(&config),
        "layers": layer_descs.iter().map(d).collect::<Vec<_>>(),
    });
    let manifest = layout
        .write_document(
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().as_bytes(),
        )
        .unwrap();
    layout.set_tag(tag, &manifest).unwrap();
    manifest
}

fn insecure() -> Client {
    Client::new(ClientOptions {
        security: Security::InsecureHttp,
        retry_delay: std::time::Duration::from_millis(100),
        ..ClientOptions::default()
    })
    .unwrap()
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The digest of the manifest bytes skopeo reads for `target` (`inspect --raw`).
fn skopeo_raw_digest(target: &ImageRef) -> Digest {
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{target}"),
    ]);
    // skopeo prints the raw bytes and a newline.
    Digest::of(raw.strip_suffix('\n').unwrap_or(&raw).as_bytes())
}

fn tamper_blob(registry: &Registry, digest: &Digest) {
    let hex = digest.hex();
    let path = registry
        .storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_pushes_skopeo_agrees_and_copies_back() {
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = make_layout(&dir.path().join("src"), "v1", 3, 300_000, 1);
    let layout = Layout::open(dir.path().join("src")).unwrap();
    let target = ImageRef::parse(&format!("{}/test/app:v1", registry.host())).unwrap();
    let client = insecure();
    let pushed = client
        .push_layout(&layout, Some("v1"), &target, &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(pushed.digest, manifest.digest);
    assert_eq!(skopeo_raw_digest(&target), manifest.digest);
    let out = dir.path().join("back");
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        &format!("docker://{target}"),
        &format!("oci:{}:v1", out.display()),
    ]);
    let back = Layout::open(&out).unwrap();
    assert_eq!(back.resolve(Some("v1")).unwrap().digest, manifest.digest);

    // A second push skips every blob; a push to another repository mounts them.
    let again = client
        .push_layout(&layout, Some("v1"), &target, &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(again, pushed);
    let other = ImageRef::parse(&format!("{}/test/other:v1", registry.host())).unwrap();
    let mounted = client
        .push_layout(
            &layout,
            Some("v1"),
            &other,
            &PushOptions {
                mount_from: Some("test/app".into()),
                ..PushOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(mounted.digest, manifest.digest);
    assert_eq!(
        client.resolve(&other).await.unwrap().digest,
        manifest.digest
    );

    // Chunked uploads give the same digest.
    let chunked = Client::new(ClientOptions {
        security: Security::InsecureHttp,
        upload: UploadMode::Chunked {
            chunk_size: 100_000,
        },
        ..ClientOptions::default()
    })
    .unwrap();
    let manifest2 = make_layout(&dir.path().join("src2"), "v2", 2, 250_000, 2);
    let layout2 = Layout::open(dir.path().join("src2")).unwrap();
    let target2 = ImageRef::parse(&format!("{}/test/chunked:v2", registry.host())).unwrap();
    let pushed2 = chunked
        .push_layout(&layout2, None, &target2, &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(pushed2.digest, manifest2.digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pushes_ours_pulls_and_refuses_tampering() {
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = make_layout(&dir.path().join("src"), "v1", 2, 200_000, 3);
    let target = format!("{}/skopeo/app:v1", registry.host());
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:v1", dir.path().join("src").display()),
        &format!("docker://{target}"),
    ]);
    let client = insecure();
    let image = ImageRef::parse(&target).unwrap();
    let out = Layout::create(dir.path().join("pulled")).unwrap();
    let pulled = client
        .pull(&image, &out, "v1", &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(pulled.digest, manifest.digest);
    let src = Layout::open(dir.path().join("src")).unwrap();
    for entry in std::fs::read_dir(src.path().join("blobs/sha256")).unwrap() {
        let name = entry.unwrap().file_name();
        let a = std::fs::read(src.path().join("blobs/sha256").join(&name)).unwrap();
        let b = std::fs::read(out.path().join("blobs/sha256").join(&name)).unwrap();
        assert_eq!(Digest::of(&a), Digest::of(&b));
    }
    // skopeo reads our layout back.
    skopeo(&["inspect", &format!("oci:{}:v1", out.path().display())]);

    // Tamper with a layer in the registry's storage: the pull is refused, nothing is kept.
    let bytes = out.read_document(&pulled).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let layer = Digest::parse(m["layers"][0]["digest"].as_str().unwrap()).unwrap();
    tamper_blob(&registry, &layer);
    let fresh = Layout::create(dir.path().join("fresh")).unwrap();
    let error = client
        .pull(&image, &fresh, "v1", &PullOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::DigestMismatch { .. }), "{error}");
    assert!(!fresh.blob_path(&layer).exists());
    let leftovers: Vec<_> = std::fs::read_dir(fresh.path().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(fresh.resolve(Some("v1")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_restart_mid_push_completes() {
    restart_mid_push(UploadMode::Monolithic).await;
    restart_mid_push(UploadMode::Chunked {
        chunk_size: 1 << 20,
    })
    .await;
}

async fn restart_mid_push(upload: UploadMode) {
    let mut registry = Registry::start(RegistryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = make_layout(&dir.path().join("src"), "big", 4, 8 << 20, 4);
    let layout = Layout::open(dir.path().join("src")).unwrap();
    let target = ImageRef::parse(&format!("{}/restart/app:big", registry.host())).unwrap();
    let client = Client::new(ClientOptions {
        security: Security::InsecureHttp,
        parallelism: 2,
        attempts: 10,
        retry_delay: std::time::Duration::from_millis(200),
        upload,
        ..ClientOptions::default()
    })
    .unwrap();
    let started = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let retries = Arc::new(std::sync::atomic::AtomicU64::new(0));
    struct Count(
        Arc<std::sync::atomic::AtomicU64>,
        Arc<std::sync::atomic::AtomicU64>,
    );
    impl oci_push::Progress for Count {
        fn blob_bytes(&self, _: &Digest, bytes: u64) {
            self.0.fetch_add(bytes, std::sync::atomic::Ordering::SeqCst);
        }
        fn blob_retry(&self, _: &Digest, _: u64) {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let options = PushOptions {
        progress: Arc::new(Count(Arc::clone(&started), Arc::clone(&retries))),
        ..PushOptions::default()
    };
    let push = tokio::spawn({
        let client = client.clone();
        let layout = layout.clone();
        let target = target.clone();
        async move { client.push_layout(&layout, None, &target, &options).await }
    });
    // Stop the registry once some bytes went out, start it again a moment later.
    while started.load(std::sync::atomic::Ordering::SeqCst) < 2 << 20 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    registry.stop();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    registry.restart().unwrap();
    // While the push is under way the tag is absent: it never names an incomplete image.
    if let Ok(early) = client.resolve(&target).await {
        assert_eq!(early.digest, manifest.digest);
    }
    let result = push.await.unwrap();
    let pushed = match result {
        Ok(pushed) => {
            assert!(
                retries.load(std::sync::atomic::Ordering::SeqCst) > 0,
                "{upload:?}"
            );
            pushed
        }
        Err(error) => {
            // A clear error; a second push completes.
            assert!(error.to_string().contains("registry"), "{error}");
            client
                .push_layout(&layout, None, &target, &PushOptions::default())
                .await
                .unwrap()
        }
    };
    assert_eq!(pushed.digest, manifest.digest);
    let out = Layout::create(dir.path().join("out")).unwrap();
    let pulled = client
        .pull(&target, &out, "big", &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(pulled.digest, manifest.digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_and_tls() {
    let registry = Registry::start(RegistryOptions {
        basic_auth: Some(("alice".into(), "s3cret-pw".into())),
        tls: true,
    })
    .unwrap();
    let ca = std::fs::read_to_string(&registry.tls().unwrap().ca_cert).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = make_layout(&dir.path().join("src"), "v1", 1, 50_000, 5);
    let layout = Layout::open(dir.path().join("src")).unwrap();
    let target = ImageRef::parse(&format!("{}/auth/app:v1", registry.host())).unwrap();
    let client = |password: &str| {
        Client::new(ClientOptions {
            ca_certificates_pem: vec![ca.clone()],
            credentials: CredentialSource::Static(Credentials::basic("alice", password)),
            ..ClientOptions::default()
        })
        .unwrap()
    };
    let pushed = client("s3cret-pw")
        .push_layout(&layout, None, &target, &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(pushed.digest, manifest.digest);
    let error = client("wrong").resolve(&target).await.unwrap_err();
    assert!(
        matches!(error, Error::Unauthorized { status: 401, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("check the credentials"));
    // Without the CA, TLS verification fails.
    let untrusted = Client::new(ClientOptions::default()).unwrap();
    assert!(untrusted.resolve(&target).await.is_err());
    // docker config.json credentials work too.
    let config = oci_push::DockerConfig::parse(&format!(
        r#"{{"auths":{{"{}":{{"username":"alice","password":"s3cret-pw"}}}}}}"#,
        registry.host()
    ))
    .unwrap();
    let from_config = Client::new(ClientOptions {
        ca_certificates_pem: vec![ca.clone()],
        credentials: CredentialSource::DockerConfig(config),
        ..ClientOptions::default()
    })
    .unwrap();
    assert_eq!(
        from_config.resolve(&target).await.unwrap().digest,
        manifest.digest
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_and_docker_schema2_round_trips() {
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Two single-platform images in one layout, and an index over them.
    let a = make_layout(&dir.path().join("src"), "amd64", 1, 10_000, 6);
    let b = make_layout(&dir.path().join("src"), "s390x", 1, 10_000, 7);
    let layout = Layout::open(dir.path().join("src")).unwrap();
    let entry = |d: &Descriptor, arch: &str| {
        serde_json::json!({"mediaType": d.media_type, "digest": d.digest.as_str(), "size": d.size,
            "platform": {"os": "linux", "architecture": arch}})
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&a, "amd64"), entry(&b, "s390x")],
    });
    let index = layout
        .write_document(
            "application/vnd.oci.image.index.v1+json",
            index.to_string().as_bytes(),
        )
        .unwrap();
    layout.set_tag("multi", &index).unwrap();
    let client = insecure();
    let target = ImageRef::parse(&format!("{}/multi/app:1", registry.host())).unwrap();
    let pushed = client
        .push_layout(&layout, Some("multi"), &target, &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(pushed.digest, index.digest);
    assert_eq!(skopeo_raw_digest(&target), index.digest);
    let out = Layout::create(dir.path().join("pulled")).unwrap();
    let pulled = client
        .pull(&target, &out, "1", &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(pulled.digest, index.digest);
    assert!(out.has_blob(&a) && out.has_blob(&b));

    // One platform only: its manifest and blobs, tagged as the image; the other stays out.
    let one = Layout::create(dir.path().join("one")).unwrap();
    let s390x = client
        .pull_platform(
            &target,
            &oci_push::Platform::parse("linux/s390x").unwrap(),
            &one,
            "1",
            &PullOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(s390x, b);
    assert_eq!(one.resolve(Some("1")).unwrap(), b);
    assert!(one.has_blob(&b) && !one.has_blob(&a) && !one.has_blob(&index));
    let blobs = |layout: &Layout| {
        std::fs::read_dir(layout.path().join("blobs/sha256"))
            .unwrap()
            .count()
    };
    // The s390x manifest, its config and its one layer.
    assert_eq!(blobs(&one), 3);
    skopeo(&["inspect", &format!("oci:{}:1", one.path().display())]);
    let error = client
        .pull_platform(
            &target,
            &oci_push::Platform::parse("linux/arm64").unwrap(),
            &one,
            "arm",
            &PullOptions::default(),
        )
        .await
        .unwrap_err();
    match &error {
        Error::PlatformNotFound {
            platform,
            available,
            ..
        } => {
            assert_eq!(platform, "linux/arm64");
            assert_eq!(available, &["linux/amd64", "linux/s390x"]);
        }
        other => panic!("{other}"),
    }
    assert_eq!(blobs(&one), 3, "a refused platform downloads nothing");

    // skopeo converts one image to Docker schema 2; ours pulls and re-pushes it unchanged.
    let docker = format!("{}/docker/app:v2s2", registry.host());
    skopeo(&[
        "copy",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        &format!("oci:{}:amd64", dir.path().join("src").display()),
        &format!("docker://{docker}"),
    ]);
    let docker = ImageRef::parse(&docker).unwrap();
    let v2 = Layout::create(dir.path().join("v2")).unwrap();
    let pulled = client
        .pull(&docker, &v2, "v2s2", &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(
        pulled.media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let again = ImageRef::parse(&format!("{}/docker/copy:v2s2", registry.host())).unwrap();
    let pushed = client
        .push_layout(&v2, Some("v2s2"), &again, &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(pushed.digest, pulled.digest);
    let by_digest = ImageRef::parse(&format!(
        "{}/docker/copy@{}",
        registry.host(),
        pulled.digest
    ))
    .unwrap();
    assert_eq!(client.resolve(&by_digest).await.unwrap(), pulled);
}

/// devstack has no mutual-TLS registry, but notary-server speaks the same `/v2/` URL space
/// over mutual TLS: with the client certificate the request reaches it (and gets a 404 for
/// the manifest), without it the handshake is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_client_identity() {
    let notary = devstack::NotaryServer::start(devstack::NotaryOptions {
        security: devstack::ListenerSecurity::MutualTls,
    })
    .unwrap();
    let files = notary.tls().unwrap();
    let ca = std::fs::read_to_string(&files.ca_cert).unwrap();
    let identity = format!(
        "{}{}",
        std::fs::read_to_string(files.client_cert.as_ref().unwrap()).unwrap(),
        std::fs::read_to_string(files.client_key.as_ref().unwrap()).unwrap()
    );
    let host = notary.url().trim_start_matches("https://").to_owned();
    let reference = ImageRef::parse(&format!("{host}/some/repo:1")).unwrap();
    let with = Client::new(ClientOptions {
        ca_certificates_pem: vec![ca.clone()],
        client_identity_pem: Some(identity.into()),
        attempts: 1,
        ..ClientOptions::default()
    })
    .unwrap();
    let error = with.resolve(&reference).await.unwrap_err();
    assert!(
        matches!(error, Error::RegistryStatus { status: 404, .. }),
        "{error}"
    );
    let without = Client::new(ClientOptions {
        ca_certificates_pem: vec![ca],
        attempts: 1,
        ..ClientOptions::default()
    })
    .unwrap();
    let error = without.resolve(&reference).await.unwrap_err();
    assert!(matches!(error, Error::Http { .. }), "{error}");
}
