//! The token cache and bounded reads against an in-process HTTP server that counts requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use registry_http::{
    Credentials, Error, TlsOptions, TokenCache, TokenKey, TokenRequest, TrustRoots, read_limited,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Serves `respond(request)` to every connection (one request each) and counts them.
async fn serve(
    respond: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    let respond = Arc::new(respond);
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            let respond = Arc::clone(&respond);
            tokio::spawn(async move {
                let mut request = vec![0; 8192];
                let n = socket.read(&mut request).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..n]).into_owned();
                // Slow enough that concurrent callers overlap.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = socket.write_all(&respond(&request)).await;
            });
        }
    });
    (url, count)
}

fn http() -> reqwest::Client {
    let tls = TlsOptions {
        roots: TrustRoots::Nothing,
        client_identity_pem: None,
    };
    tls.reqwest_builder()
        .unwrap()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn concurrent_requests_for_one_token_make_one_token_request() {
    let (realm, count) = serve(|request| {
        assert!(request.starts_with("GET /token?service=registry&scope=repository%3Aa%3Apull "));
        // "alice:pw"
        assert!(
            request
                .to_ascii_lowercase()
                .contains("authorization: basic ywxpy2u6chc=")
        );
        ok(r#"{"token":"shared","expires_in":300}"#)
    })
    .await;
    let realm = format!("{realm}/token");
    let cache = Arc::new(TokenCache::new());
    let http = http();
    let credentials = Credentials::basic("alice", "pw");
    let scopes = vec!["repository:a:pull".to_owned()];
    let key = TokenKey {
        realm: realm.clone(),
        service: Some("registry".to_owned()),
        scope: scopes.join(" "),
    };
    let tasks = (0..8).map(|_| {
        let (cache, http, key, realm) = (cache.clone(), http.clone(), key.clone(), realm.clone());
        let (credentials, scopes) = (credentials.clone(), scopes.clone());
        tokio::spawn(async move {
            let request = TokenRequest {
                realm: &realm,
                service: Some("registry"),
                scopes: &scopes,
                credentials: &credentials,
                client_id: "test",
            };
            cache
                .get_or_fetch("a", key, None, || request.send(&http))
                .await
        })
    });
    for task in tasks.collect::<Vec<_>>() {
        assert_eq!(task.await.unwrap().unwrap().expose(), "shared");
    }
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(cache.cached("a").unwrap().expose(), "shared");
}

#[tokio::test]
async fn token_service_failures_are_typed() {
    let (base, _) = serve(|request| {
        if request.starts_with("GET /denied") {
            b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()
        } else {
            ok("not json")
        }
    })
    .await;
    let send = |path: &str| {
        let realm = format!("{base}{path}");
        async move {
            TokenRequest {
                realm: &realm,
                service: None,
                scopes: &[],
                credentials: &Credentials::Anonymous,
                client_id: "test",
            }
            .send(&http())
            .await
        }
    };
    assert!(matches!(
        send("/denied").await,
        Err(Error::TokenDenied { status: 401, .. })
    ));
    assert!(matches!(
        send("/garbage").await,
        Err(Error::TokenService { status: None, .. })
    ));
    let not_a_url = TokenRequest {
        realm: "file:///etc/passwd",
        service: None,
        scopes: &[],
        credentials: &Credentials::Anonymous,
        client_id: "test",
    };
    assert!(matches!(
        not_a_url.send(&http()).await,
        Err(Error::TokenService { realm, .. }) if realm == "file:///etc/passwd"
    ));
}

#[tokio::test]
async fn an_endless_body_is_refused_at_the_limit() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/blob", listener.local_addr().unwrap());
    let written = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&written);
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0; 4096];
        let _ = socket.read(&mut request).await;
        let _ = socket
            .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("{:x}\r\n{}\r\n", 4096, "x".repeat(4096));
        while socket.write_all(chunk.as_bytes()).await.is_ok() {
            counter.fetch_add(4096, Ordering::SeqCst);
        }
    });
    let response = http().get(&url).send().await.unwrap();
    match read_limited(response, 10_000).await {
        Err(Error::TooLarge { url: at, limit, .. }) => {
            assert_eq!((at.as_str(), limit), (url.as_str(), 10_000));
        }
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The client stopped reading: the server is blocked on a full socket, far short of
    // an endless body.
    assert!(written.load(Ordering::SeqCst) < 16 << 20);
}
