//! A pull cut in the middle of a blob resumes from where it stopped (`Range`) against the real
//! docker-registry, starts over when ranges are not served, and when it gives up keeps what
//! arrived for the next pull to resume from, a partial file that never becomes a blob unless
//! its digest checks out. The cuts come from a TCP proxy in front of the registry (fault injection a
//! real peer cannot be asked for); skopeo pushes the image.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use devstack::{Registry, RegistryOptions};
use oci_push::{Client, ClientOptions, Digest, Error, ImageRef, Layout, PullOptions, Security};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const LAYER_SIZE: usize = 6 * 1024 * 1024;
/// Response bytes a cut connection delivers before it dies.
const CUT_AFTER: u64 = 2 * 1024 * 1024;

/// What the proxy does to GETs of one blob.
struct Faults {
    /// The blob path (`/blobs/sha256:...`) whose GETs are watched.
    blob: String,
    /// How many of its responses are still to be cut.
    cuts_left: AtomicUsize,
    /// Rename the `range` header so the registry sends the whole blob.
    hide_range: AtomicBool,
    /// The `range` header of every GET of the blob, in order (`None`: no header).
    gets: Mutex<Vec<Option<String>>>,
}

/// A TCP proxy in front of `upstream` applying `faults`; returns its `host:port`.
async fn proxy(upstream: String, faults: Arc<Faults>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                continue;
            };
            let faults = faults.clone();
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                // Bytes the current response may still carry before the cut (u64::MAX: no cut).
                let budget = Arc::new(AtomicU64::new(u64::MAX));
                let back_budget = budget.clone();
                let back = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let left = back_budget.load(Ordering::SeqCst);
                        if left != u64::MAX && n as u64 >= left {
                            let _ = client_write.write_all(&buf[..left as usize]).await;
                            let _ = client_write.shutdown().await;
                            return;
                        }
                        if left != u64::MAX {
                            back_budget.store(left - n as u64, Ordering::SeqCst);
                        }
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match client_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if head.starts_with("GET ") && head.contains(&faults.blob) {
                        let range = head
                            .lines()
                            .find_map(|l| l.strip_prefix("range: "))
                            .map(str::to_owned);
                        faults.gets.lock().unwrap().push(range);
                        if faults.hide_range.load(Ordering::SeqCst)
                            && let Some(at) = head.find("\r\nrange: ")
                        {
                            // Same length, so nothing else in the request moves.
                            buf[at + 2..at + 7].copy_from_slice(b"x-rng");
                        }
                        let cut = faults
                            .cuts_left
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| c.checked_sub(1))
                            .is_ok();
                        if cut {
                            budget.store(CUT_AFTER, Ordering::SeqCst);
                        }
                    }
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = back.await;
            });
        }
    });
    address
}

/// A registry holding one image (a config and one layer), pushed by skopeo; returns the
/// registry, the layer's digest and its bytes.
fn registry_with_image(dir: &std::path::Path) -> (Registry, Digest, Vec<u8>) {
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let layout = Layout::create(dir.join("src")).unwrap();
    let mut layer = vec![0u8; LAYER_SIZE];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for b in layer.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let layer_desc = layout
        .write_document("application/vnd.oci.image.layer.v1.tar", &layer)
        .unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_desc.digest.as_str()]},
    });
    let config = layout
        .write_document(
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        )
        .unwrap();
    let d = |d: &oci_push::Descriptor| serde_json::json!({"mediaType": d.media_type, "digest": d.digest.as_str(), "size": d.size});
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": d(&config),
        "layers": [d(&layer_desc)],
    });
    let manifest = layout
        .write_document(
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().as_bytes(),
        )
        .unwrap();
    layout.set_tag("v1", &manifest).unwrap();
    let out = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", dir.join("src").display()),
            &format!("docker://{}/resume/app:v1", registry.host()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (registry, layer_desc.digest, layer)
}

fn client(attempts: u32) -> Client {
    Client::new(ClientOptions {
        security: Security::InsecureHttp,
        retry_delay: std::time::Duration::from_millis(50),
        attempts,
        ..ClientOptions::default()
    })
    .unwrap()
}

fn faults(layer: &Digest, cuts: usize, hide_range: bool) -> Arc<Faults> {
    Arc::new(Faults {
        blob: format!("/blobs/{layer}"),
        cuts_left: AtomicUsize::new(cuts),
        hide_range: AtomicBool::new(hide_range),
        gets: Mutex::new(Vec::new()),
    })
}

fn partial_files(layout: &Layout) -> Vec<String> {
    std::fs::read_dir(layout.path().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// One pull through a proxy applying `cuts` cuts (and hiding ranges if asked) to the
/// layer's GETs.
struct Pulled {
    result: Result<oci_push::Descriptor, Error>,
    faults: Arc<Faults>,
    out: Layout,
    layer: Digest,
    bytes: Vec<u8>,
    image: ImageRef,
    _dir: tempfile::TempDir,
    _registry: Registry,
}

async fn pull_with_faults(cuts: usize, hide_range: bool, attempts: u32) -> Pulled {
    pull_with_faults_after(cuts, hide_range, attempts, |_, _| {}).await
}

/// Like [`pull_with_faults`], with `prepare(layout, layer)` run before the pull.
async fn pull_with_faults_after(
    cuts: usize,
    hide_range: bool,
    attempts: u32,
    prepare: impl FnOnce(&Layout, &Digest),
) -> Pulled {
    let dir = tempfile::tempdir().unwrap();
    let (registry, layer, bytes) = registry_with_image(dir.path());
    let faults = faults(&layer, cuts, hide_range);
    let host = proxy(registry.host(), faults.clone()).await;
    let out = Layout::create(dir.path().join("pulled")).unwrap();
    prepare(&out, &layer);
    let image = ImageRef::parse(&format!("{host}/resume/app:v1")).unwrap();
    let result = client(attempts)
        .pull(&image, &out, "v1", &PullOptions::default())
        .await;
    Pulled {
        result,
        faults,
        out,
        layer,
        bytes,
        image,
        _dir: dir,
        _registry: registry,
    }
}

impl Pulled {
    /// Pulls again into the same layout, through the same proxy, with no more cuts.
    async fn again(&mut self) {
        self.faults.cuts_left.store(0, Ordering::SeqCst);
        self.faults.gets.lock().unwrap().clear();
        self.result = client(3)
            .pull(&self.image, &self.out, "v1", &PullOptions::default())
            .await;
    }

    /// The partial download of the layer that a failed pull left, if any.
    fn partial(&self) -> std::path::PathBuf {
        self.out
            .path()
            .join("blobs/sha256")
            .join(format!(".partial-{}", self.layer.hex()))
    }

    fn gets(&self) -> Vec<Option<String>> {
        self.faults.gets.lock().unwrap().clone()
    }

    /// Checks the pull succeeded with the layer's exact bytes and no temporary file left;
    /// returns the `range` headers of the layer's GETs.
    fn complete(&self) -> Vec<Option<String>> {
        self.result.as_ref().unwrap();
        assert_eq!(
            std::fs::read(self.out.blob_path(&self.layer)).unwrap(),
            self.bytes
        );
        assert!(partial_files(&self.out).is_empty());
        self.gets()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_cut_mid_blob_resumes_from_where_it_stopped() {
    let gets = pull_with_faults(1, false, 3).await.complete();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0], None);
    // The second GET asks only for what the cut one did not deliver.
    let resumed_at: u64 = gets[1]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no resumable range in {gets:?}"));
    assert!(
        resumed_at > 0 && resumed_at <= CUT_AFTER,
        "resumed at {resumed_at}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_ignores_the_range_gets_the_blob_again_from_the_start() {
    // The whole blob came twice; what was kept from the cut answer was dropped, not doubled.
    let gets = pull_with_faults(1, true, 3).await.complete();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(gets[1].is_some(), "{gets:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_that_gives_up_keeps_what_arrived_and_the_next_pull_resumes_from_it() {
    let mut pulled = pull_with_faults(usize::MAX, false, 3).await;
    let error = pulled.result.as_ref().unwrap_err();
    assert!(matches!(error, Error::Http { .. }), "{error}");
    assert_eq!(pulled.gets().len(), 3);
    let out = &pulled.out;
    assert!(!out.blob_path(&pulled.layer).exists());
    assert!(out.resolve(Some("v1")).is_err());
    // Only the layer's partial file is left, holding a prefix of the layer.
    assert_eq!(
        partial_files(out),
        [format!(".partial-{}", pulled.layer.hex())]
    );
    let kept = std::fs::read(pulled.partial()).unwrap();
    assert!(
        !kept.is_empty() && kept.len() < LAYER_SIZE,
        "{}",
        kept.len()
    );
    assert_eq!(kept, pulled.bytes[..kept.len()]);

    // The next pull into the layout asks only for the rest.
    pulled.again().await;
    let gets = pulled.complete();
    assert_eq!(gets, [Some(format!("bytes={}-", kept.len()))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_file_with_foreign_bytes_is_refused_and_dropped() {
    // A partial download that does not match the blob (an earlier hostile source, a disk
    // error): the completed content fails its digest, nothing is stored, the file goes.
    let mut pulled = pull_with_faults_after(0, false, 3, |layout, layer| {
        let path = layout
            .path()
            .join("blobs/sha256")
            .join(format!(".partial-{}", layer.hex()));
        std::fs::write(path, vec![0xAA; 1000]).unwrap();
    })
    .await;
    let error = pulled.result.as_ref().unwrap_err();
    assert!(matches!(error, Error::DigestMismatch { .. }), "{error}");
    assert_eq!(pulled.gets(), [Some("bytes=1000-".to_owned())]);
    assert!(!pulled.out.blob_path(&pulled.layer).exists());
    assert!(partial_files(&pulled.out).is_empty());
    // Starting clean, the next pull succeeds.
    pulled.again().await;
    assert_eq!(pulled.complete(), [None]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_partial_files_are_removed_only_when_unused_and_old() {
    let pulled = pull_with_faults(usize::MAX, false, 1).await;
    assert!(pulled.result.is_err());
    let out = &pulled.out;
    assert!(pulled.partial().exists());
    // Recent: kept.
    assert_eq!(
        out.remove_stale_files(std::time::Duration::from_secs(3600))
            .unwrap(),
        0
    );
    // In use by a pull (which holds its lock): kept, however old.
    let in_use = std::fs::File::open(pulled.partial()).unwrap();
    in_use.lock().unwrap();
    assert_eq!(
        out.remove_stale_files(std::time::Duration::ZERO).unwrap(),
        0
    );
    drop(in_use);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        out.remove_stale_files(std::time::Duration::ZERO).unwrap(),
        1
    );
    assert!(partial_files(out).is_empty());
}
