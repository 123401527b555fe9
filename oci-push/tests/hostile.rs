//! A hostile registry cannot make the client buffer without bound: endless error bodies are
//! cut to their start, endless token responses are refused. docker-registry never sends
//! such answers, so a small in-process server does (fault injection).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use oci_push::{Client, ClientOptions, Error, ImageRef, Security};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// How the server answers the token endpoint.
#[derive(Clone, Copy)]
enum TokenAnswer {
    /// A `Content-Length` far beyond any token, then endless bytes.
    HugeLength,
    /// No length: bytes until the client hangs up.
    Endless,
}

/// Serves `/v2/…/manifests/…` with an endless 500 body (`endless-error` repositories), an
/// endless manifest (`huge-manifest`) or a bearer challenge (others), and `/token` as
/// `token` says. Returns `host:port`.
async fn hostile_server(token: TokenAnswer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let realm = format!("http://{host}/token");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let realm = realm.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut reader = BufReader::new(read);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                    return;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).await.unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                }
                let head = if request_line.contains("/token") {
                    match token {
                        TokenAnswer::HugeLength => {
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n".to_owned()
                        }
                        TokenAnswer::Endless => {
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".to_owned()
                        }
                    }
                } else if request_line.contains("huge-manifest") {
                    "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n".to_owned()
                } else if request_line.contains("endless-error") {
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n".to_owned()
                } else {
                    format!(
                        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"hostile\"\r\nContent-Length: 0\r\n\r\n"
                    )
                };
                if write.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                if head.starts_with("HTTP/1.1 401") {
                    return;
                }
                // Bytes until the client hangs up.
                let filler = vec![b'x'; 64 * 1024];
                while write.write_all(&filler).await.is_ok() {}
            });
        }
    });
    host
}

fn client() -> Client {
    Client::new(ClientOptions {
        security: Security::InsecureHttp,
        attempts: 1,
        ..ClientOptions::default()
    })
    .unwrap()
}

async fn within_seconds<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(20), future)
        .await
        .expect("the client kept reading a body without end")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_error_body_is_cut_to_its_start() {
    let host = hostile_server(TokenAnswer::Endless).await;
    let image = ImageRef::parse(&format!("{host}/endless-error/app:v1")).unwrap();
    let error = within_seconds(client().resolve(&image)).await.unwrap_err();
    match &error {
        Error::RegistryStatus { status, body, .. } => {
            assert_eq!(*status, 500);
            assert!(!body.is_empty() && body.len() <= 512, "{}", body.len());
        }
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_token_response_is_refused() {
    for answer in [TokenAnswer::HugeLength, TokenAnswer::Endless] {
        let host = hostile_server(answer).await;
        let image = ImageRef::parse(&format!("{host}/private/app:v1")).unwrap();
        let error = within_seconds(client().resolve(&image)).await.unwrap_err();
        assert!(
            matches!(&error, Error::TooLarge { what, limit: 65536, .. } if what.starts_with("token response")),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_manifest_is_refused_at_the_document_limit() {
    let host = hostile_server(TokenAnswer::Endless).await;
    let image = ImageRef::parse(&format!("{host}/huge-manifest/app:v1")).unwrap();
    let error = within_seconds(client().resolve(&image)).await.unwrap_err();
    assert!(
        matches!(&error, Error::TooLarge { what, limit, .. }
            if what.starts_with("manifest") && *limit == oci_push::MAX_DOCUMENT_SIZE),
        "{error}"
    );
}
