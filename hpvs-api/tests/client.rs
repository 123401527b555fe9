//! The client against an in-process HTTP server that records what it receives and answers
//! what each test scripts, including answers no appliance should give.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use harness::{Recorded, answer, json, no_content, serve, serve_tls};
use hpvs_api::wire::{
    ErrorCode, Filesystem, NewQuotagroup, NewRegistry, NewRepository, NewVirtualServer,
    RegistryUpdate, ServerState,
};
use hpvs_api::{ANSWER_LIMIT, ApplianceConfig, Client, Error, Force, Secret};
use keymgmt::mtls::{CertificateAuthority, SubjectAltName};
use serde_json::{Value, json};

const TOKEN: &str = "appliance-admin-t0ken";

fn client(url: &str) -> Client {
    Client::new(ApplianceConfig::new(url, Secret::new(TOKEN))).unwrap()
}

fn registry_json() -> Value {
    json!({"name": "r", "url": "127.0.0.1:5000", "dct": "https://127.0.0.1:4443",
           "user": "u", "has_password": true})
}

fn repository_json() -> Value {
    json!({"id": "wallet", "repository_name": "127.0.0.1:5000/vendor/wallet",
           "root_key_id": "ab".repeat(32), "vendor_fingerprint": "F00D",
           "envs_whitelist": ["EX_VOLUMES"], "cap_add": ["ALL"], "runtime": "runc",
           "servers": []})
}

fn quotagroup_json() -> Value {
    json!({"name": "q", "size": 40u64 << 30, "filesystem": "btrfs", "passthrough": false,
           "pool_id": "pool-1", "containers": [], "available": 40u64 << 30})
}

fn server_json(state: &str, reason: Option<&str>) -> Value {
    json!({"name": "w", "repo": "wallet", "tag": "latest", "digest": null, "cpu": 2,
           "ram": 2048, "state": state, "reason": reason, "quotagroups": [], "env_names": [],
           "ports": [{"containerport": 443, "protocol": "tcp", "hostport": 30100}],
           "created_at": "2024-01-01T00:00:00Z", "started_at": null})
}

fn image_json() -> Value {
    json!({"digest": format!("sha256:{}", "c".repeat(64)), "repo": "wallet",
           "repository_name": "127.0.0.1:5000/vendor/wallet", "size": 1234, "servers": ["w"]})
}

/// The appliance's answers to every call, by method and path (query stripped).
fn appliance(request: &Recorded) -> Vec<u8> {
    let path = request.target.split('?').next().unwrap();
    let path = path.strip_prefix("/api/v1").unwrap();
    match (request.method.as_str(), path) {
        ("GET", "/appliance/key") => json(
            "200 OK",
            &json!({"public_key": "-----BEGIN PGP PUBLIC KEY BLOCK-----", "fingerprint": "AB"}),
        ),
        ("POST", "/registries") => json("201 Created", &registry_json()),
        ("GET", "/registries") => json("200 OK", &json!([registry_json()])),
        ("GET" | "PUT", "/registries/r") => json("200 OK", &registry_json()),
        ("POST", "/repositories") => json("201 Created", &repository_json()),
        ("GET", "/repositories") => json("200 OK", &json!([repository_json()])),
        ("GET" | "PUT", "/repositories/wallet") => json("200 OK", &repository_json()),
        ("DELETE", "/repositories/wallet") => json(
            "200 OK",
            &json!({"id": "wallet", "servers": ["w"], "images": [image_json()["digest"]]}),
        ),
        ("POST", "/quotagroups") => json("201 Created", &quotagroup_json()),
        ("GET", "/quotagroups") => json("200 OK", &json!([quotagroup_json()])),
        ("GET", "/quotagroups/q") => json("200 OK", &quotagroup_json()),
        ("POST", "/virtual-servers") => json("202 Accepted", &server_json("creating", None)),
        ("GET", "/virtual-servers") => json("200 OK", &json!([server_json("running", None)])),
        ("GET", "/virtual-servers/w") => json("200 OK", &server_json("running", None)),
        ("POST", "/virtual-servers/w/stop") => json("200 OK", &server_json("stopped", None)),
        ("POST", "/virtual-servers/w/start" | "/virtual-servers/w/restart") => {
            json("200 OK", &server_json("running", None))
        }
        ("GET", "/virtual-servers/w/logs") => answer("200 OK", "text/plain", b"line 1\nline 2\n"),
        ("GET", "/images") => json("200 OK", &json!([image_json()])),
        ("DELETE", _) => no_content(),
        _ => json(
            "404 Not Found",
            &json!({"code": "NOT_FOUND", "message": format!("no route {path}")}),
        ),
    }
}

fn new_server() -> NewVirtualServer {
    serde_json::from_value(
        json!({"name": "w", "repo": "wallet", "tag": "latest", "cpu": 2,
                                  "ram": 2048, "env": {"EX_VOLUMES": "/docker,/data"}}),
    )
    .unwrap()
}

#[tokio::test]
async fn every_call_uses_its_method_and_path_and_carries_the_bearer_token() {
    let server = serve(appliance).await;
    let client = client(&server.url);
    let digest = format!("sha256:{}", "c".repeat(64));

    assert_eq!(client.appliance_key().await.unwrap().fingerprint, "AB");
    let new_registry = NewRegistry {
        name: "r".into(),
        url: "127.0.0.1:5000".into(),
        dct: "https://127.0.0.1:4443".into(),
        user: "u".into(),
        password: Secret::new("hunter2"),
    };
    assert!(
        client
            .add_registry(&new_registry)
            .await
            .unwrap()
            .has_password
    );
    assert_eq!(client.registries().await.unwrap().len(), 1);
    assert_eq!(client.registry("r").await.unwrap().user, "u");
    let update = RegistryUpdate {
        user: Some("v".into()),
        ..Default::default()
    };
    client.update_registry("r", &update).await.unwrap();
    client.delete_registry("r").await.unwrap();

    let regfile = NewRepository {
        id: "wallet".into(),
        regfile: "-----BEGIN PGP MESSAGE-----".into(),
    };
    assert_eq!(
        client.register_repository(&regfile).await.unwrap().runtime,
        "runc"
    );
    client.update_repository(&regfile).await.unwrap();
    assert_eq!(client.repositories().await.unwrap().len(), 1);
    assert_eq!(client.repository("wallet").await.unwrap().cap_add, ["ALL"]);
    let deleted = client
        .delete_repository("wallet", Force::DeleteServersAndImages)
        .await
        .unwrap();
    assert_eq!(deleted.servers, ["w"]);
    client
        .delete_repository("wallet", Force::RefuseIfInUse)
        .await
        .unwrap();

    let quotagroup = NewQuotagroup {
        name: "q".into(),
        size: 40 << 30,
        filesystem: Filesystem::Btrfs,
        passthrough: false,
    };
    assert_eq!(
        client.create_quotagroup(&quotagroup).await.unwrap().pool_id,
        "pool-1"
    );
    assert_eq!(client.quotagroups().await.unwrap().len(), 1);
    assert_eq!(client.quotagroup("q").await.unwrap().available, 40 << 30);
    client.delete_quotagroup("q").await.unwrap();

    let created = client.create_virtual_server(&new_server()).await.unwrap();
    assert_eq!(created.state, ServerState::Creating);
    assert_eq!(client.virtual_servers().await.unwrap().len(), 1);
    assert_eq!(
        client.virtual_server("w").await.unwrap().ports[0].hostport,
        30100
    );
    assert_eq!(client.stop("w").await.unwrap().state, ServerState::Stopped);
    assert_eq!(client.start("w").await.unwrap().state, ServerState::Running);
    assert_eq!(
        client.restart("w").await.unwrap().state,
        ServerState::Running
    );
    assert_eq!(client.logs("w", Some(2)).await.unwrap(), "line 1\nline 2\n");
    client.logs("w", None).await.unwrap();
    client.delete_virtual_server("w").await.unwrap();
    assert_eq!(client.images().await.unwrap()[0].digest, digest);
    client.delete_image(&digest).await.unwrap();

    let requests = server.requests();
    let seen: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    let expected = [
        "GET /api/v1/appliance/key",
        "POST /api/v1/registries",
        "GET /api/v1/registries",
        "GET /api/v1/registries/r",
        "PUT /api/v1/registries/r",
        "DELETE /api/v1/registries/r",
        "POST /api/v1/repositories",
        "PUT /api/v1/repositories/wallet",
        "GET /api/v1/repositories",
        "GET /api/v1/repositories/wallet",
        "DELETE /api/v1/repositories/wallet?force=true",
        "DELETE /api/v1/repositories/wallet?force=false",
        "POST /api/v1/quotagroups",
        "GET /api/v1/quotagroups",
        "GET /api/v1/quotagroups/q",
        "DELETE /api/v1/quotagroups/q",
        "POST /api/v1/virtual-servers",
        "GET /api/v1/virtual-servers",
        "GET /api/v1/virtual-servers/w",
        "POST /api/v1/virtual-servers/w/stop",
        "POST /api/v1/virtual-servers/w/start",
        "POST /api/v1/virtual-servers/w/restart",
        "GET /api/v1/virtual-servers/w/logs?tail=2",
        "GET /api/v1/virtual-servers/w/logs",
        "DELETE /api/v1/virtual-servers/w",
        "GET /api/v1/images",
        &format!("DELETE /api/v1/images/sha256%3A{}", "c".repeat(64)),
    ];
    assert_eq!(seen, expected);
    for request in &requests {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{} {}",
            request.method,
            request.target
        );
    }
    // The bodies are the wire types: the password is sent (and only there), absent update
    // fields are left out, env values travel as given.
    assert_eq!(requests[1].json()["password"], "hunter2");
    assert_eq!(requests[1].header("content-type"), Some("application/json"));
    assert_eq!(requests[4].json(), json!({"user": "v"}));
    assert_eq!(requests[6].json()["regfile"], "-----BEGIN PGP MESSAGE-----");
    assert_eq!(requests[16].json()["env"]["EX_VOLUMES"], "/docker,/data");
}

#[tokio::test]
async fn a_json_conflict_becomes_an_api_error_with_its_code() {
    let server = serve(|_| {
        json(
            "409 Conflict",
            &json!({"code": "CONFLICT", "message": "quotagroup q is used by server w"}),
        )
    })
    .await;
    let err = client(&server.url)
        .delete_quotagroup("q")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict));
    match err {
        Error::Api {
            status,
            code,
            message,
        } => {
            assert_eq!((status, code), (409, ErrorCode::Conflict));
            assert_eq!(message, "quotagroup q is used by server w");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_code_from_a_newer_appliance_is_still_an_api_error() {
    let server = serve(|_| {
        json(
            "422 Unprocessable Entity",
            &json!({"code": "GPU_MISSING", "message": "no gpu"}),
        )
    })
    .await;
    let err = client(&server.url).images().await.unwrap_err();
    assert!(
        matches!(err, Error::Api { status: 422, code: ErrorCode::Unknown, ref message } if message == "no gpu"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_non_json_502_becomes_an_unexpected_answer_with_the_start_of_its_body() {
    let page = format!("<html><body>Bad Gateway{}</body></html>", "x".repeat(2000));
    let body = page.clone();
    let server = serve(move |_| answer("502 Bad Gateway", "text/html", body.as_bytes())).await;
    let err = client(&server.url).registries().await.unwrap_err();
    match err {
        Error::UnexpectedAnswer { status, body_start } => {
            assert_eq!(status, 502);
            assert_eq!(body_start, page[..512]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        client(&server.url).registries().await.unwrap_err().code(),
        None
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed_with_the_token() {
    let server = serve(|_| {
        b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.2:1/steal\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            .to_vec()
    })
    .await;
    let err = client(&server.url).images().await.unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedAnswer { status: 302, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_announced_oversized_body_is_refused_before_it_is_read() {
    let server = serve(|_| {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n[",
            ANSWER_LIMIT + 1
        )
        .into_bytes()
    })
    .await;
    match client(&server.url).images().await.unwrap_err() {
        Error::AnswerTooLarge { call, limit, seen } => {
            assert_eq!(call, "GET /api/v1/images");
            assert_eq!((limit, seen), (ANSWER_LIMIT, ANSWER_LIMIT + 1));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_endless_log_is_cut_at_the_limit() {
    // Chunked, with no length announced: the bound must hold while streaming.
    let server = serve(|_| {
        let mut bytes =
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
                .to_vec();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..17 {
            bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            bytes.extend_from_slice(&chunk);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        bytes
    })
    .await;
    match client(&server.url).logs("w", None).await.unwrap_err() {
        Error::AnswerTooLarge { limit, seen, .. } => {
            assert_eq!(limit, ANSWER_LIMIT);
            assert!(
                seen > ANSWER_LIMIT && seen <= ANSWER_LIMIT + (1 << 20),
                "{seen}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_body_that_is_not_the_calls_answer_is_a_decode_error_naming_the_call() {
    let server = serve(|_| json("200 OK", &json!({"name": "r"}))).await;
    match client(&server.url).registry("r").await.unwrap_err() {
        Error::Decode { call, reason } => {
            assert_eq!(call, "GET /api/v1/registries/r");
            assert!(reason.contains("missing field"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn names_are_percent_encoded_and_dot_segments_never_sent() {
    let server = serve(|_| no_content()).await;
    let client = client(&server.url);
    client.delete_virtual_server("a/b c?d#e").await.unwrap();
    client.delete_registry("../images").await.unwrap();
    for name in ["..", ".", ""] {
        let err = client.delete_quotagroup(name).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidName { what: "quotagroup", name: ref given } if given == name),
            "{err:?}"
        );
    }
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            "/api/v1/virtual-servers/a%2Fb%20c%3Fd%23e",
            "/api/v1/registries/..%2Fimages"
        ]
    );
}

#[tokio::test]
async fn debug_of_the_config_and_the_client_never_shows_the_token() {
    let config = ApplianceConfig::new("http://127.0.0.1:9", Secret::new(TOKEN))
        .with_ca_pem(b"-----BEGIN CERTIFICATE-----".to_vec());
    let printed = format!("{config:?}");
    assert!(!printed.contains(TOKEN), "{printed}");
    assert!(printed.contains("[redacted]"), "{printed}");
    let client = client("http://127.0.0.1:9");
    let printed = format!("{client:?}");
    assert!(!printed.contains(TOKEN), "{printed}");
    assert!(printed.contains("http://127.0.0.1:9/api/v1"), "{printed}");
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error_naming_the_call() {
    // Bind then drop, so that nothing listens on the port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = client(&format!("http://127.0.0.1:{port}"))
        .virtual_servers()
        .await
        .unwrap_err();
    match err {
        Error::Transport { call, source } => {
            assert_eq!(call, "GET /api/v1/virtual-servers");
            assert!(!source.to_string().is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn waiting_reports_progress_and_returns_the_failed_server() {
    let polls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&polls);
    let server = serve(move |_| match counter.fetch_add(1, Ordering::SeqCst) {
        0 => json("200 OK", &server_json("creating", Some("pulling"))),
        1 => json("200 OK", &server_json("creating", Some("verifying"))),
        _ => json(
            "200 OK",
            &server_json("failed", Some("pinned root mismatch for latest")),
        ),
    })
    .await;
    let mut seen = Vec::new();
    let settled = client(&server.url)
        .wait_until_settled("w", Duration::from_secs(30), |s| {
            seen.push(s.reason.clone().unwrap_or_default());
        })
        .await
        .unwrap();
    assert_eq!(settled.state, ServerState::Failed);
    assert_eq!(
        seen,
        ["pulling", "verifying", "pinned root mismatch for latest"]
    );
    assert_eq!(polls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn waiting_on_a_server_that_stays_creating_times_out_with_its_name() {
    let server = serve(|_| json("200 OK", &server_json("creating", Some("pulling")))).await;
    let started = std::time::Instant::now();
    let err = client(&server.url)
        .wait_until_settled("w", Duration::from_millis(1200), |_| {})
        .await
        .unwrap_err();
    match err {
        Error::Timeout { name, waited } => {
            assert_eq!(name, "w");
            assert!(waited >= Duration::from_millis(1200), "{waited:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(server.requests().len() >= 3);
}

/// An HTTPS test server whose certificate is issued by a fresh CA; returns the CA's PEM.
async fn tls_server() -> (harness::TestServer, String) {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let ca = CertificateAuthority::generate("hpvs-api test CA").unwrap();
    let issued = ca
        .issue_server("appliance", &SubjectAltName::loopback())
        .unwrap();
    let chain = vec![CertificateDer::from_pem_slice(issued.certificate_pem().as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(issued.private_key_pem().as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let server = serve_tls(acceptor, |_| json("200 OK", &json!([]))).await;
    (server, ca.certificate_pem().to_owned())
}

#[tokio::test]
async fn over_https_only_the_pinned_ca_is_trusted() {
    let (server, ca_pem) = tls_server().await;
    let pinned =
        Client::new(ApplianceConfig::new(&server.url, Secret::new(TOKEN)).with_ca_pem(ca_pem))
            .unwrap();
    assert!(pinned.images().await.unwrap().is_empty());

    let other_ca = CertificateAuthority::generate("another CA").unwrap();
    let wrong = Client::new(
        ApplianceConfig::new(&server.url, Secret::new(TOKEN))
            .with_ca_pem(other_ca.certificate_pem().as_bytes().to_vec()),
    )
    .unwrap();
    let err = wrong.images().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    let platform = client(&server.url);
    let err = platform.images().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    // Only the pinned client's request got through the handshake.
    assert_eq!(server.requests().len(), 1);
}
