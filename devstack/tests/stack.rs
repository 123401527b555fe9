//! The real peers: notary-server with the Go notary client over plain HTTP, TLS and mutual
//! TLS; docker-registry plain, with basic auth, with TLS, and across a restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use devstack::{
    Error, ListenerSecurity, NotaryCli, NotaryOptions, NotaryServer, Registry, RegistryOptions,
    Stack, StackOptions, TlsFiles,
};
use sha2::Digest as _;

fn http_client(tls: Option<&TlsFiles>, with_identity: bool) -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy();
    if let Some(tls) = tls {
        let ca = std::fs::read(&tls.ca_cert).unwrap();
        builder = builder.tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()]);
        if with_identity && let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
            let mut pem = std::fs::read(cert).unwrap();
            pem.extend(std::fs::read(key).unwrap());
            builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
        }
    }
    builder.build().unwrap()
}

/// `list` of an unknown GUN fails, `init -p` publishes, then `list` shows no targets.
fn init_and_list(server: &NotaryServer, gun: &str) {
    let cli = NotaryCli::new(server).unwrap();
    match cli.run(&["list", "example.com/nothing"]) {
        // The Go client prints its fatal errors on stdout.
        Err(Error::Cli { stdout, stderr, .. }) => {
            assert!(
                stdout.contains("does not have trust data"),
                "{stdout}\n{stderr}"
            )
        }
        other => panic!("listing an unknown GUN should fail, got {other:?}"),
    }
    let out = cli.run(&["init", gun, "-p"]).unwrap();
    assert!(out.contains("Successfully published"), "{out}");
    let out = cli.run(&["list", gun]).unwrap();
    assert!(out.contains("No targets present"), "{out}");
    assert!(
        cli.trust_dir().join("private").is_dir(),
        "keys are in the CLI's own trust dir"
    );
}

#[test]
fn notary_plain_http() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    assert!(
        server.url().starts_with("http://127.0.0.1:"),
        "{}",
        server.url()
    );
    assert!(server.tls().is_none());
    init_and_list(&server, "example.com/plain");
    let health = format!("{}/_notary_server/health", server.url());
    assert_eq!(
        http_client(None, false)
            .get(health)
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn notary_tls() {
    let server = NotaryServer::start(NotaryOptions {
        security: ListenerSecurity::Tls,
    })
    .unwrap();
    assert!(
        server.url().starts_with("https://127.0.0.1:"),
        "{}",
        server.url()
    );
    let tls = server.tls().unwrap();
    assert!(tls.ca_cert.is_file());
    assert!(tls.client_cert.is_none() && tls.client_key.is_none());
    init_and_list(&server, "example.com/tls");
}

#[test]
fn notary_mutual_tls_refuses_clients_without_certificate() {
    let server = NotaryServer::start(NotaryOptions {
        security: ListenerSecurity::MutualTls,
    })
    .unwrap();
    let tls = server.tls().unwrap();
    assert!(tls.client_cert.as_ref().unwrap().is_file());
    assert!(tls.client_key.as_ref().unwrap().is_file());
    init_and_list(&server, "example.com/mtls");

    let health = format!("{}/_notary_server/health", server.url());
    assert_eq!(
        http_client(Some(tls), true)
            .get(&health)
            .send()
            .unwrap()
            .status(),
        200
    );
    assert!(
        http_client(Some(tls), false).get(&health).send().is_err(),
        "no client certificate, no answer"
    );

    let cli = NotaryCli::new(&server)
        .unwrap()
        .without_client_certificate();
    let err = cli.run(&["init", "example.com/refused", "-p"]).unwrap_err();
    assert!(matches!(err, Error::Cli { .. }), "{err}");
}

#[test]
fn notary_cli_with_caller_trust_dir_and_passphrase() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("trust");
    {
        let cli = NotaryCli::with_trust_dir(&server, &trust)
            .unwrap()
            .passphrase("another-passphrase-2");
        assert_eq!(cli.trust_dir(), trust);
        cli.run(&["init", "example.com/mine", "-p"]).unwrap();
        // A wrong targets passphrase cannot decrypt the targets key to sign.
        let wrong = NotaryCli::with_trust_dir(&server, &trust)
            .unwrap()
            .env("NOTARY_TARGETS_PASSPHRASE", "wrong-passphrase-3");
        let err = wrong
            .run(&[
                "addhash",
                "example.com/mine",
                "v1",
                "3",
                "--sha256",
                &"ab".repeat(32),
                "-p",
            ])
            .unwrap_err();
        match err {
            Error::Cli { stdout, .. } => assert!(
                stdout.contains("could not find necessary signing keys"),
                "{stdout}"
            ),
            other => panic!("expected a CLI error, got {other}"),
        }
        // The right passphrase (set on `cli`) signs.
        cli.run(&[
            "addhash",
            "example.com/mine",
            "v1",
            "3",
            "--sha256",
            &"ab".repeat(32),
            "-p",
        ])
        .unwrap();
        assert!(
            cli.run(&["list", "example.com/mine"])
                .unwrap()
                .contains("v1")
        );
    }
    assert!(
        trust.join("private").is_dir(),
        "the caller's trust dir is kept"
    );
}

#[test]
fn notary_server_is_killed_and_cleaned_on_drop() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let pid = server.pid().unwrap();
    let dir = server.dir().to_owned();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(server);
    assert!(!dir.exists(), "temporary directory removed");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process killed and reaped"
    );
}

#[test]
fn registry_plain() {
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    assert_eq!(registry.url(), format!("http://{}", registry.host()));
    let response = http_client(None, false)
        .get(format!("{}/v2/", registry.url()))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(registry.storage_dir().is_dir());
}

#[test]
fn registry_basic_auth() {
    let registry = Registry::start(RegistryOptions {
        basic_auth: Some(("alice".into(), "s3cret-pass".into())),
        tls: false,
    })
    .unwrap();
    let client = http_client(None, false);
    let url = format!("{}/v2/", registry.url());
    let response = client.get(&url).send().unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("devstack")
    );
    let wrong = client
        .get(&url)
        .basic_auth("alice", Some("nope"))
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = client
        .get(&url)
        .basic_auth("alice", Some("s3cret-pass"))
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[test]
fn registry_tls() {
    let registry = Registry::start(RegistryOptions {
        basic_auth: None,
        tls: true,
    })
    .unwrap();
    assert!(registry.url().starts_with("https://127.0.0.1:"));
    let tls = registry.tls().unwrap();
    let url = format!("{}/v2/", registry.url());
    assert_eq!(
        http_client(Some(tls), false)
            .get(&url)
            .send()
            .unwrap()
            .status(),
        200
    );
    // A client that does not trust the registry's CA is refused.
    let other = devstack::Registry::start(RegistryOptions {
        basic_auth: None,
        tls: true,
    })
    .unwrap();
    assert!(http_client(other.tls(), false).get(&url).send().is_err());
}

#[test]
fn registry_restart_keeps_port_and_storage() {
    let mut registry = Registry::start(RegistryOptions::default()).unwrap();
    let client = http_client(None, false);
    let blob = b"devstack restart test blob".to_vec();
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&blob)));
    let start = client
        .post(format!(
            "{}/v2/devstack/test/blobs/uploads/",
            registry.url()
        ))
        .send()
        .unwrap();
    assert_eq!(start.status(), 202);
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let location = if location.starts_with("http") {
        location
    } else {
        format!("{}{location}", registry.url())
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let put = client
        .put(format!("{location}{separator}digest={digest}"))
        .header("content-type", "application/octet-stream")
        .body(blob.clone())
        .send()
        .unwrap();
    assert_eq!(put.status(), 201);

    let (url, host, storage) = (
        registry.url().to_owned(),
        registry.host(),
        registry.storage_dir().to_owned(),
    );
    let pid = registry.pid().unwrap();
    registry.stop();
    assert!(!registry.is_running());
    assert!(client.get(format!("{url}/v2/")).send().is_err(), "stopped");
    registry.restart().unwrap();
    assert_ne!(registry.pid(), Some(pid));
    assert_eq!(
        (registry.url(), registry.host(), registry.storage_dir()),
        (url.as_str(), host, storage.as_path())
    );
    let blob_url = format!("{url}/v2/devstack/test/blobs/{digest}");
    let got = client.get(&blob_url).send().unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().unwrap().as_ref(), blob.as_slice());
    // Restarting a running registry works too.
    registry.restart().unwrap();
    assert_eq!(client.head(&blob_url).send().unwrap().status(), 200);
}

#[test]
fn missing_binary_names_the_package_and_test_script() {
    let err = devstack::require_binary("definitely-missing-xyz", "pkg").unwrap_err();
    assert!(
        matches!(&err, Error::MissingBinary { name, package } if name == "definitely-missing-xyz" && package == "pkg")
    );
    let message = err.to_string();
    assert!(
        message.contains("definitely-missing-xyz not found on PATH"),
        "{message}"
    );
    assert!(message.contains("./scripts/test.sh"), "{message}");
    assert!(message.contains("apt-get install -y pkg"), "{message}");
    assert!(
        devstack::require_binary("notary-server", "notary")
            .unwrap()
            .is_file()
    );
}

/// The crate-level doc example, run for real.
#[test]
fn stack_with_tls_notary_as_in_the_doc_example() {
    let stack = Stack::start(StackOptions {
        notary: NotaryOptions {
            security: ListenerSecurity::Tls,
        },
        registry: RegistryOptions::default(),
    })
    .unwrap();
    let cli = NotaryCli::new(&stack.notary).unwrap();
    cli.run(&["init", "example.com/app", "-p"]).unwrap();
    assert!(
        cli.run(&["list", "example.com/app"])
            .unwrap()
            .contains("No targets")
    );
    assert_ne!(stack.registry.host(), stack.notary.url());
    assert!(stack.notary.log_path().is_file());
}
