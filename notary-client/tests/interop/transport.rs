//! The transport against the real notary-server: plain HTTP only when asked for, registry-style
//! token auth, mutual TLS with a custom CA, and a publish cut mid-upload.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_must_be_asked_for_and_guns_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        url: "http://127.0.0.1:1".into(),
        ..Default::default()
    };
    assert!(matches!(
        Client::new(
            dir.path(),
            &config,
            Fixed(Passphrase::new(DEFAULT_PASSPHRASE))
        ),
        Err(notary_client::Error::Config { .. })
    ));
    let config = ServerConfig {
        security: Security::InsecureHttp,
        ..config
    };
    let client = Client::new(
        dir.path(),
        &config,
        Fixed(Passphrase::new(DEFAULT_PASSPHRASE)),
    )
    .unwrap();
    let err = client.repository("../../tmp/x").unwrap_err();
    assert!(
        matches!(err, notary_client::Error::Key(ref e) if matches!(**e, keymgmt::Error::InvalidGun { .. })),
        "{err}"
    );
    assert!(!dir.path().join("tuf").exists());
}

fn config_as(server: &NotaryServer, user: Option<(&str, &str)>) -> ServerConfig {
    ServerConfig {
        credentials: user.map_or(
            notary_client::transport::Credentials::Anonymous,
            |(u, p)| notary_client::transport::Credentials::basic(u, p),
        ),
        ..config(server)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_style_token_auth() {
    use devstack::{Anonymous, TokenIssuer, TokenUser};
    let users = || {
        vec![
            TokenUser::admin("alice", "alice-secret"),
            TokenUser::reader("bob", "bob-secret"),
        ]
    };
    let issuer = TokenIssuer::start(users(), Anonymous::Pull).unwrap();
    let server = NotaryServer::start_with_token_auth(NotaryOptions::default(), &issuer).unwrap();
    let gun = "registry.example.com/token/app";
    let pass = || Fixed(Passphrase::new(DEFAULT_PASSPHRASE));
    let as_user = |user: Option<(&str, &str)>, dir: &Path| {
        Client::new(dir, &config_as(&server, user), pass()).unwrap()
    };

    let alice_dir = tempfile::tempdir().unwrap();
    let alice = as_user(Some(("alice", "alice-secret")), alice_dir.path());
    let repo = created_with_v1(&alice, gun).await;
    repo.publish().await.unwrap();

    // Anonymous and read-only users verify, but cannot publish; refused changes stay staged.
    // (They use alice's trust dir, so they hold the keys: only the server can say no.)
    for (staged, (user, name)) in [(None, "anonymous"), (Some(("bob", "bob-secret")), "bob")]
        .into_iter()
        .enumerate()
    {
        let client = as_user(user, alice_dir.path());
        let r = client.repository(gun).unwrap();
        assert_eq!(r.list().await.unwrap().len(), 1, "{name} can pull");
        r.add_target("v2", FileMeta::of_bytes(b"v2"), &[]).unwrap();
        let err = r.publish().await.unwrap_err();
        assert!(
            matches!(
                err,
                notary_client::Error::Server {
                    status: 401 | 403,
                    ..
                }
            ),
            "{name}: {err}"
        );
        assert_eq!(r.status().unwrap().len(), staged + 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let wrong = as_user(Some(("alice", "wrong")), dir.path());
    assert!(matches!(
        wrong.repository(gun).unwrap().list().await,
        Err(notary_client::Error::Server { status: 401, .. })
    ));

    // The Go client: anonymous reads, and pushes with NOTARY_AUTH, against the same issuer.
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:alice-secret");
    let go = NotaryCli::with_trust_dir(&server, alice_dir.path())
        .unwrap()
        .env("NOTARY_AUTH", &auth);
    let scratch = tempfile::tempdir().unwrap();
    let f = write_file(scratch.path(), "go", b"go");
    // Go publishes its change together with the two refused ones still staged.
    go.run(&["add", gun, "go", &f, "-p"]).unwrap();
    assert_eq!(go_list(&NotaryCli::new(&server).unwrap(), gun).len(), 3);
    assert_eq!(repo.list().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_auth_without_anonymous_access_refuses_anonymous_reads() {
    use devstack::{Anonymous, TokenIssuer, TokenUser};
    let issuer = TokenIssuer::start(
        vec![TokenUser::admin("alice", "alice-secret")],
        Anonymous::Refused,
    )
    .unwrap();
    let server = NotaryServer::start_with_token_auth(NotaryOptions::default(), &issuer).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let anon = Client::new(
        dir.path(),
        &config_as(&server, None),
        Fixed(Passphrase::new(DEFAULT_PASSPHRASE)),
    )
    .unwrap();
    let err = anon
        .repository("registry.example.com/token/private")
        .unwrap()
        .list()
        .await
        .unwrap_err();
    assert!(
        matches!(err, notary_client::Error::Server { status: 401, .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_with_a_custom_ca() {
    let server = NotaryServer::start(NotaryOptions::with_security(
        devstack::ListenerSecurity::MutualTls,
    ))
    .unwrap();
    let tls = server.tls().unwrap();
    let ca = std::fs::read(&tls.ca_cert).unwrap();
    let identity = [
        std::fs::read(tls.client_cert.as_ref().unwrap()).unwrap(),
        std::fs::read(tls.client_key.as_ref().unwrap()).unwrap(),
    ]
    .concat();
    let gun = "registry.example.com/mtls/app";
    let https = |identity: Option<Vec<u8>>| ServerConfig {
        url: server.url().to_owned(),
        security: Security::Https,
        ca_pem: Some(ca.clone()),
        client_identity_pem: identity,
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let ours = Client::new(
        dir.path(),
        &https(Some(identity.clone())),
        Fixed(Passphrase::new(DEFAULT_PASSPHRASE)),
    )
    .unwrap();
    let repo = created_with_v1(&ours, gun).await;
    repo.publish().await.unwrap();
    assert_eq!(repo.list().await.unwrap().len(), 1);
    assert_eq!(go_list(&NotaryCli::new(&server).unwrap(), gun).len(), 1);

    // Without a client certificate the handshake is refused.
    let anon_dir = tempfile::tempdir().unwrap();
    let anon = Client::new(
        anon_dir.path(),
        &https(None),
        Fixed(Passphrase::new(DEFAULT_PASSPHRASE)),
    )
    .unwrap();
    let err = anon.repository(gun).unwrap().list().await.unwrap_err();
    assert!(
        matches!(err, notary_client::Error::Unreachable { .. }),
        "{err}"
    );
    // Nor is a server certificate from another CA accepted.
    let other = keymgmt::mtls::CertificateAuthority::generate("another CA").unwrap();
    let wrong = ServerConfig {
        ca_pem: Some(other.certificate_pem().as_bytes().to_vec()),
        ..https(Some(identity))
    };
    let other_dir = tempfile::tempdir().unwrap();
    let err = Client::new(
        other_dir.path(),
        &wrong,
        Fixed(Passphrase::new(DEFAULT_PASSPHRASE)),
    )
    .unwrap()
    .repository(gun)
    .unwrap()
    .list()
    .await
    .unwrap_err();
    assert!(
        matches!(err, notary_client::Error::Unreachable { .. }),
        "{err}"
    );
}

/// A TCP proxy in front of the real server that can cut a POST in half (fault injection a
/// real server cannot be asked for).
struct Proxy {
    url: String,
    cut_posts: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

async fn proxy_to(upstream: &str) -> Proxy {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cut_posts = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = cut_posts.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                continue;
            };
            let flag = flag.clone();
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let back = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match client_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let chunk = &buf[..n];
                    if flag.load(Ordering::SeqCst) && chunk.windows(5).any(|w| w == b"POST ") {
                        // Half the request reaches the server, then the connection dies.
                        let _ = server_write.write_all(&chunk[..n / 2]).await;
                        back.abort();
                        return;
                    }
                    if server_write.write_all(chunk).await.is_err() {
                        break;
                    }
                }
                let _ = back.await;
            });
        }
    });
    Proxy { url, cut_posts }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_cut_mid_upload_keeps_its_changes_and_completes_once() {
    use std::sync::atomic::Ordering;
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let proxy = proxy_to(server.url()).await;
    let gun = "registry.example.com/outage/midway";
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        url: proxy.url.clone(),
        security: Security::InsecureHttp,
        ..Default::default()
    };
    let ours = Client::new(
        dir.path(),
        &config,
        Fixed(Passphrase::new(DEFAULT_PASSPHRASE)),
    )
    .unwrap();
    let repo = created_with_v1(&ours, gun).await;
    repo.publish().await.unwrap();
    let before = repo
        .update()
        .await
        .unwrap()
        .role("targets")
        .unwrap()
        .file
        .signed
        .version;

    repo.add_target("v2", FileMeta::of_bytes(b"v2"), &[])
        .unwrap();
    proxy.cut_posts.store(true, Ordering::SeqCst);
    let err = repo.publish().await.unwrap_err();
    assert!(
        matches!(err, notary_client::Error::Unreachable { .. }),
        "{err}"
    );
    assert_eq!(
        repo.status().unwrap().len(),
        1,
        "the change is still staged"
    );
    let go = NotaryCli::new(&server).unwrap();
    assert_eq!(go_list(&go, gun).len(), 1, "nothing half-published");

    proxy.cut_posts.store(false, Ordering::SeqCst);
    repo.publish().await.unwrap();
    assert!(repo.status().unwrap().is_empty());
    let state = repo.update().await.unwrap();
    assert_eq!(
        state.role("targets").unwrap().file.signed.version,
        before + 1,
        "applied once"
    );
    let names: Vec<String> = go_list(&NotaryCli::new(&server).unwrap(), gun)
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(names, ["v1", "v2"]);
}
