//! Upload behaviours docker-registry cannot be asked for, served by a small in-process
//! registry (fault injection a real peer cannot produce): a registry that refuses monolithic
//! uploads (413) gets the blobs in chunks of at least its `OCI-Chunk-Min-Length`; a registry
//! slow to commit a blob does not hold up the next blob's transfer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use oci_push::{
    Client, ClientOptions, ImageBuilder, ImageRef, LayerBuilder, Layout, Platform, PushOptions,
    Security,
};
use sha2::Digest as _;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

/// Above the client's 8 MiB fallback chunk, so that honouring it shows.
const MIN_CHUNK: usize = 10 * 1024 * 1024;

/// How the registry misbehaves.
#[derive(Clone, Copy, Default)]
struct Quirks {
    /// Refuse a `PUT` that carries data (413), stating a minimum chunk length.
    refuse_monolithic: bool,
    /// Answer the first completed blob only once a second blob's data has arrived (or after
    /// 10 s): a slow commit.
    hold_first_commit: bool,
}

#[derive(Default)]
struct Seen {
    refused_puts: usize,
    patches: Vec<usize>,
    blobs: HashMap<String, Vec<u8>>,
    manifest: bool,
    sessions: usize,
    /// `PUT`s that carried a blob's data.
    data_puts: usize,
    commit_held: bool,
    /// The held commit was answered because the next blob's data came, not by the timeout.
    commit_released_by_next_upload: Option<bool>,
}

async fn serve(listener: tokio::net::TcpListener, seen: Arc<Mutex<Seen>>, quirks: Quirks) {
    let uploads: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    while let Ok((socket, _)) = listener.accept().await {
        let (seen, uploads) = (seen.clone(), uploads.clone());
        tokio::spawn(async move {
            let (read, mut write) = socket.into_split();
            let mut reader = BufReader::new(read);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let mut parts = line.split_whitespace();
                let (method, target) = (
                    parts.next().unwrap_or("").to_owned(),
                    parts.next().unwrap_or("").to_owned(),
                );
                let mut length = 0usize;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if header == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).await.is_err() {
                    return;
                }
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let digest = query.strip_prefix("digest=").map(|d| d.replace("%3A", ":"));
                let (status, extra) = match (method.as_str(), path) {
                    ("HEAD", _) => ("404 Not Found", String::new()),
                    ("POST", "/v2/app/blobs/uploads/") => {
                        let id = {
                            let mut seen = seen.lock().unwrap();
                            seen.sessions += 1;
                            format!("u{}", seen.sessions)
                        };
                        uploads.lock().unwrap().insert(id.clone(), Vec::new());
                        let min = if quirks.refuse_monolithic {
                            format!("OCI-Chunk-Min-Length: {MIN_CHUNK}\r\n")
                        } else {
                            String::new()
                        };
                        (
                            "202 Accepted",
                            format!("Location: /v2/app/blobs/uploads/{id}\r\n{min}"),
                        )
                    }
                    ("PATCH", p) => {
                        let id = p.rsplit('/').next().unwrap().to_owned();
                        let mut all = uploads.lock().unwrap();
                        let data = all.get_mut(&id).unwrap();
                        data.extend_from_slice(&body);
                        seen.lock().unwrap().patches.push(body.len());
                        (
                            "202 Accepted",
                            format!("Location: {p}\r\nRange: 0-{}\r\n", data.len() - 1),
                        )
                    }
                    ("PUT", p) if p.starts_with("/v2/app/blobs/uploads/") => {
                        if quirks.refuse_monolithic && !body.is_empty() {
                            seen.lock().unwrap().refused_puts += 1;
                            ("413 Payload Too Large", String::new())
                        } else {
                            let id = p.rsplit('/').next().unwrap().to_owned();
                            let mut data = uploads.lock().unwrap().remove(&id).unwrap_or_default();
                            data.extend_from_slice(&body);
                            if !body.is_empty() {
                                seen.lock().unwrap().data_puts += 1;
                            }
                            let hold = quirks.hold_first_commit && {
                                let mut seen = seen.lock().unwrap();
                                !std::mem::replace(&mut seen.commit_held, true)
                            };
                            if hold {
                                // Answer once a second blob's data is in, or give up.
                                let mut released = false;
                                for _ in 0..1000 {
                                    if seen.lock().unwrap().data_puts >= 2 {
                                        released = true;
                                        break;
                                    }
                                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                                }
                                seen.lock().unwrap().commit_released_by_next_upload =
                                    Some(released);
                            }
                            let actual =
                                format!("sha256:{}", hex::encode(sha2::Sha256::digest(&data)));
                            if Some(&actual) == digest.as_ref() {
                                seen.lock().unwrap().blobs.insert(actual, data);
                                ("201 Created", String::new())
                            } else {
                                ("400 Bad Request", String::new())
                            }
                        }
                    }
                    ("PUT", p) if p.starts_with("/v2/app/manifests/") => {
                        seen.lock().unwrap().manifest = true;
                        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&body)));
                        (
                            "201 Created",
                            format!("Docker-Content-Digest: {digest}\r\n"),
                        )
                    }
                    _ => ("404 Not Found", String::new()),
                };
                let head = format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\n\r\n");
                if write.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// A registry with `quirks` on a free loopback port: its address and what it saw.
async fn start(quirks: Quirks) -> (std::net::SocketAddr, Arc<Mutex<Seen>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    tokio::spawn(serve(listener, seen.clone(), quirks));
    (address, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_monolithic_upload_is_sent_in_chunks() {
    let (address, seen) = start(Quirks {
        refuse_monolithic: true,
        ..Quirks::default()
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    let context = dir.path().join("ctx");
    std::fs::create_dir_all(&context).unwrap();
    // Incompressible content, a little over two minimum chunks long.
    let content: Vec<u8> = (0..(21 * 1024 * 1024 / 32) as u32)
        .flat_map(|i| sha2::Sha256::digest(i.to_be_bytes()))
        .collect();
    std::fs::write(context.join("data.bin"), &content).unwrap();
    let mut image = ImageBuilder::scratch(Platform::parse("linux/amd64").unwrap(), 0);
    let mut layer = LayerBuilder::new();
    layer.add_path(&context, "/data").unwrap();
    image.add_layer(&layout, &layer, "COPY . /data").unwrap();
    image.finish(&layout, "v1").unwrap();

    let client = Client::new(ClientOptions {
        security: Security::InsecureHttp,
        ..Default::default()
    })
    .unwrap();
    let target = ImageRef::parse(&format!("{address}/app:v1")).unwrap();
    client
        .push_layout(&layout, Some("v1"), &target, &PushOptions::default())
        .await
        .unwrap();

    let seen = seen.lock().unwrap();
    assert!(seen.manifest, "the manifest went up after its blobs");
    assert_eq!(
        seen.refused_puts, 2,
        "config and layer were each tried whole once"
    );
    assert_eq!(
        seen.blobs.len(),
        2,
        "both blobs arrived, with the right digests"
    );
    // The config fits one chunk; the layer (uploaded alongside, in any order) goes in chunks
    // of the registry's minimum length, not the client's 8 MiB.
    assert_eq!(seen.patches.len(), 4, "{:?}", seen.patches);
    let full = seen.patches.iter().filter(|&&n| n == MIN_CHUNK).count();
    assert_eq!(full, 2, "{:?}", seen.patches);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_commit_does_not_hold_up_the_next_transfer() {
    let (address, seen) = start(Quirks {
        hold_first_commit: true,
        ..Quirks::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    let mut image = ImageBuilder::scratch(Platform::parse("linux/amd64").unwrap(), 0);
    for name in ["a", "b"] {
        let context = dir.path().join(name);
        std::fs::create_dir_all(&context).unwrap();
        std::fs::write(context.join(name), name.repeat(100_000)).unwrap();
        let mut layer = LayerBuilder::new();
        layer.add_path(&context, "/").unwrap();
        image.add_layer(&layout, &layer, name).unwrap();
    }
    image.finish(&layout, "v1").unwrap();

    // One transfer at a time: the second blob can only start if the first one's slot is
    // free while the registry still works on committing it.
    let client = Client::new(ClientOptions {
        security: Security::InsecureHttp,
        parallelism: 1,
        ..Default::default()
    })
    .unwrap();
    let target = ImageRef::parse(&format!("{address}/app:v1")).unwrap();
    client
        .push_layout(&layout, Some("v1"), &target, &PushOptions::default())
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.blobs.len(), 3, "config and both layers arrived");
    assert!(seen.manifest);
    assert_eq!(
        seen.commit_released_by_next_upload,
        Some(true),
        "the next blob waited for the registry to commit the previous one"
    );
}
