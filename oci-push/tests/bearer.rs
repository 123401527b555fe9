//! Bearer-token challenges and the token cache, counted against a minimal in-process registry
//! front (how many token requests are made cannot be observed on docker-registry;
//! `tests/token.rs` runs the same flow against docker-registry's token mode).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use oci_push::{
    Client, ClientOptions, CredentialSource, Credentials, Digest, Error, ImageRef, Security,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

/// Serves `/token` (basic auth alice:pw, counts requests) and one manifest that requires
/// `Bearer tok-1`.
async fn serve(listener: tokio::net::TcpListener, tokens: Arc<AtomicUsize>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let tokens = Arc::clone(&tokens);
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 8192];
            let mut read = 0;
            loop {
                let n = socket.read(&mut buffer[read..]).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                read += n;
                let text = String::from_utf8_lossy(&buffer[..read]).to_string();
                if !text.contains("\r\n\r\n") {
                    continue;
                }
                read = 0;
                let lower = text.to_ascii_lowercase();
                let (status, headers, body) = if text.starts_with("GET /token?") {
                    tokens.fetch_add(1, Ordering::SeqCst);
                    // alice:pw
                    if lower.contains("authorization: basic ywxpy2u6chc=")
                        && text.contains("scope=repository%3Aapp%3Apull")
                        && text.contains("service=test-registry")
                    {
                        (
                            "200 OK",
                            String::new(),
                            r#"{"token":"tok-1","expires_in":300}"#.to_owned(),
                        )
                    } else {
                        ("401 Unauthorized", String::new(), "{}".to_owned())
                    }
                } else if lower.contains("authorization: bearer tok-1") {
                    let digest = Digest::of(MANIFEST.as_bytes());
                    (
                        "200 OK",
                        format!(
                            "Content-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: {digest}\r\n"
                        ),
                        MANIFEST.to_owned(),
                    )
                } else {
                    (
                        "401 Unauthorized",
                        format!(
                            "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test-registry\",scope=\"repository:app:pull\"\r\n"
                        ),
                        "{}".to_owned(),
                    )
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if socket.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[tokio::test]
async fn bearer_challenge_token_is_fetched_once_and_cached() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tokens = Arc::new(AtomicUsize::new(0));
    tokio::spawn(serve(listener, Arc::clone(&tokens)));
    let reference = ImageRef::parse(&format!("127.0.0.1:{port}/app:1")).unwrap();
    let client = |password: &str| {
        Client::new(ClientOptions {
            security: Security::InsecureHttp,
            credentials: CredentialSource::Static(Credentials::basic("alice", password)),
            attempts: 1,
            ..ClientOptions::default()
        })
        .unwrap()
    };
    let good = client("pw");
    let first = good.resolve(&reference).await.unwrap();
    assert_eq!(first.digest, Digest::of(MANIFEST.as_bytes()));
    good.resolve(&reference).await.unwrap();
    assert_eq!(tokens.load(Ordering::SeqCst), 1, "the token is cached");

    let error = client("wrong").resolve(&reference).await.unwrap_err();
    assert!(matches!(error, Error::Unauthorized { .. }), "{error}");
}

/// A registry front for pushes: `/token` (counted), bearer-protected `/v2/`, blob HEADs that
/// find every blob, and manifest PUTs answered with their digest.
async fn serve_push(listener: tokio::net::TcpListener, tokens: Arc<AtomicUsize>) {
    let port = listener.local_addr().unwrap().port();
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let tokens = Arc::clone(&tokens);
        tokio::spawn(async move {
            let mut buffer: Vec<u8> = Vec::new();
            let mut chunk = vec![0u8; 8192];
            loop {
                let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    continue;
                };
                let head = String::from_utf8_lossy(&buffer[..end]).to_string();
                let lower = head.to_ascii_lowercase();
                let length: usize = lower
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buffer.len() < end + 4 + length {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                }
                let body = buffer[end + 4..end + 4 + length].to_vec();
                buffer.drain(..end + 4 + length);
                let (status, headers, text) = if head.starts_with("GET /token?") {
                    tokens.fetch_add(1, Ordering::SeqCst);
                    // Slow enough that requests challenged together would overlap.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    ("200 OK", String::new(), r#"{"token":"tok-1"}"#.to_owned())
                } else if !lower.contains("authorization: bearer tok-1") {
                    (
                        "401 Unauthorized",
                        format!(
                            "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test-registry\"\r\n"
                        ),
                        String::new(),
                    )
                } else if head.starts_with("PUT /v2/app/manifests/") {
                    let digest = Digest::of(&body);
                    (
                        "201 Created",
                        format!("Docker-Content-Digest: {digest}\r\n"),
                        String::new(),
                    )
                } else {
                    // `/v2/` and every blob HEAD.
                    ("200 OK", String::new(), String::new())
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n{text}",
                    text.len()
                );
                if socket.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_of_many_blobs_authenticates_once() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tokens = Arc::new(AtomicUsize::new(0));
    tokio::spawn(serve_push(listener, Arc::clone(&tokens)));
    let dir = tempfile::tempdir().unwrap();
    let layout = oci_push::Layout::create(dir.path()).unwrap();
    let mut image =
        oci_push::ImageBuilder::scratch(oci_push::Platform::parse("linux/amd64").unwrap(), 0);
    for i in 0..8 {
        let context = dir.path().join(format!("ctx{i}"));
        std::fs::create_dir_all(&context).unwrap();
        std::fs::write(context.join("f"), format!("layer {i}")).unwrap();
        let mut layer = oci_push::LayerBuilder::new();
        layer.add_path(&context, &format!("/l{i}")).unwrap();
        image.add_layer(&layout, &layer, "COPY").unwrap();
    }
    image.finish(&layout, "v1").unwrap();
    let client = Client::new(ClientOptions {
        security: Security::InsecureHttp,
        parallelism: 8,
        attempts: 1,
        ..ClientOptions::default()
    })
    .unwrap();
    let target = ImageRef::parse(&format!("127.0.0.1:{port}/app:v1")).unwrap();
    client
        .push_layout(
            &layout,
            Some("v1"),
            &target,
            &oci_push::PushOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        tokens.load(Ordering::SeqCst),
        1,
        "nine blobs, one token for the push"
    );
}
