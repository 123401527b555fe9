//! Pulls into a layout against the real docker-registry: a blob already in the layout is
//! hashed, not trusted for its size, and concurrent pulls into one layout keep every tag.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;

use devstack::{Registry, RegistryOptions};
use oci_push::{
    Client, ClientOptions, Descriptor, Digest, ImageRef, Layout, PullOptions, PushOptions, Security,
};

/// An image with one layer of `size` pseudo-random bytes (from `seed`) in a new layout.
fn make_image(dir: &Path, seed: u32, size: usize) -> (Layout, Descriptor, Descriptor) {
    let layout = Layout::create(dir).unwrap();
    let mut bytes = vec![0u8; size];
    let mut x: u32 = 0x9e37_79b9 ^ seed;
    for b in bytes.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let layer = layout
        .write_blob("application/vnd.oci.image.layer.v1.tar", &bytes[..])
        .unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest.as_str()]},
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
        "layers": [d(&layer)],
    });
    let manifest = layout
        .write_document(
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().as_bytes(),
        )
        .unwrap();
    layout.set_tag("v", &manifest).unwrap();
    (layout, manifest, layer)
}

fn client() -> Client {
    Client::new(ClientOptions {
        security: Security::InsecureHttp,
        ..ClientOptions::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_size_tampered_blob_in_the_layout_is_fetched_again() {
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (source, _, layer) = make_image(&dir.path().join("src"), 1, 300_000);
    let reference = ImageRef::parse(&format!("{}/verify/app:v1", registry.host())).unwrap();
    let client = client();
    client
        .push_layout(&source, Some("v"), &reference, &PushOptions::default())
        .await
        .unwrap();
    let pulled = Layout::create(dir.path().join("pulled")).unwrap();
    client
        .pull(&reference, &pulled, "v1", &PullOptions::default())
        .await
        .unwrap();
    // Same size, 8 bytes changed.
    let path = pulled.blob_path(&layer.digest);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000..1008].copy_from_slice(b"TAMPERED");
    std::fs::write(&path, &bytes).unwrap();
    assert!(pulled.verify_blob(&layer).is_err());

    client
        .pull(&reference, &pulled, "v1", &PullOptions::default())
        .await
        .unwrap();
    pulled.verify_blob(&layer).unwrap();
    assert_eq!(Digest::of(&std::fs::read(&path).unwrap()), layer.digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_into_one_layout_keep_every_tag() {
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = client();
    let mut references = Vec::new();
    for i in 0..6u32 {
        let (source, _, _) = make_image(&dir.path().join(format!("src{i}")), 10 + i, 20_000);
        let reference = ImageRef::parse(&format!("{}/many/app:t{i}", registry.host())).unwrap();
        client
            .push_layout(&source, Some("v"), &reference, &PushOptions::default())
            .await
            .unwrap();
        references.push(reference);
    }
    for round in 0..4 {
        let layout = Layout::create(dir.path().join(format!("shared{round}"))).unwrap();
        let pulls = references.iter().map(|reference| {
            // A client each, as separate `oci pull` processes would be.
            let (client, layout, reference) = (self::client(), layout.clone(), reference.clone());
            tokio::spawn(async move {
                let tag = reference.tag.clone().unwrap();
                client
                    .pull(&reference, &layout, &tag, &PullOptions::default())
                    .await
            })
        });
        for pull in futures_util::future::join_all(pulls).await {
            pull.unwrap().unwrap();
        }
        let mut tags: Vec<String> = layout
            .manifests()
            .unwrap()
            .into_iter()
            .filter_map(|(_, tag)| tag)
            .collect();
        tags.sort();
        assert_eq!(tags, ["t0", "t1", "t2", "t3", "t4", "t5"], "round {round}");
    }
}

/// The read-modify-write of `index.json` is locked: tags set from many threads (each its
/// own `Layout`, as separate processes would have) are all there.
#[test]
fn tags_set_at_the_same_time_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layout");
    let layout = Layout::create(&path).unwrap();
    let manifest = layout
        .write_document("application/vnd.oci.image.manifest.v1+json", b"{}")
        .unwrap();
    std::thread::scope(|scope| {
        for thread in 0..6 {
            let path = &path;
            let manifest = &manifest;
            scope.spawn(move || {
                let layout = Layout::open(path).unwrap();
                for i in 0..40 {
                    layout.set_tag(&format!("t{thread}-{i}"), manifest).unwrap();
                }
            });
        }
    });
    assert_eq!(layout.manifests().unwrap().len(), 6 * 40);
}
