//! `hpvs_api::SbsClient` against the real Secure Build Server over mutual TLS, with
//! certificates made by the real `openssl` as the lab makes them (the client's is X.509 v1,
//! which rustls' `with_client_auth_cert` refuses: the client presents it through a resolver).
//! The build is the protocol tests' test pipeline: here the client is under test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "sbs_protocol/lab.rs"]
mod lab;

use std::sync::Arc;
use std::time::Duration;

use hpvs_api::{Error, SbsClient, SbsConfig, Secret};
use lab::{FakePipeline, Lab, SECRET, init_body, start};
use tokio::sync::Semaphore;

fn client(lab: &Lab, addr: std::net::SocketAddr, ca: &str, who: &str) -> SbsClient {
    SbsClient::new(SbsConfig {
        url: format!("https://127.0.0.1:{}", addr.port()),
        ca_cert_pem: lab.pem(ca),
        client_cert_pem: lab.pem(&format!("{who}.crt")),
        client_key_pem: Secret::new(String::from_utf8(lab.pem(&format!("{who}.key"))).unwrap()),
    })
    .unwrap()
    .with_poll_interval(Duration::from_millis(20))
}

/// The whole error chain, for matching a TLS failure's cause.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_build_and_every_answer_of_a_build_with_a_v1_client_certificate() {
    let lab = Lab::make();
    let state = tempfile::tempdir().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let running = start(
        &lab,
        state.path(),
        FakePipeline {
            gate: Some(gate.clone()),
            fail: false,
        },
    )
    .await;
    let sbs = client(&lab, running.addr, "ca.crt", "client");

    let fresh = sbs.status().await.unwrap();
    assert_eq!(fresh.status, "");
    assert!(fresh.build_name.is_none());

    // Before init: refused, mapped to SbsRefused with the server's status and message.
    match sbs.build().await {
        Err(Error::SbsRefused {
            call,
            status,
            message,
        }) => {
            assert_eq!((call.as_str(), status), ("SBS PUT /image", 409));
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }

    assert_eq!(sbs.init(&init_body()).await.unwrap().status, "OK");
    assert_eq!(sbs.build().await.unwrap().status, "OK: async build started");
    // A second build while one runs: 409.
    assert!(matches!(
        sbs.build().await,
        Err(Error::SbsRefused { status: 409, .. })
    ));
    // A wait that runs out names the last status.
    match sbs.wait_for_build(Duration::from_millis(60), |_| {}).await {
        Err(Error::BuildTimeout { last_status, .. }) => assert_eq!(last_status, "cleaned up"),
        other => panic!("{other:?}"),
    }
    gate.add_permits(4);
    let mut seen = Vec::new();
    let done = sbs
        .wait_for_build(Duration::from_secs(20), |s| {
            if seen.last() != Some(&s.status) {
                seen.push(s.status.clone());
            }
        })
        .await
        .unwrap();
    assert!(done.succeeded(), "{done:?}");
    assert_eq!(seen.last().map(String::as_str), Some("success"));
    let name = done.build_name.clone().unwrap();
    assert_eq!(done.image_tag.as_deref(), Some("latest-abc1234"));
    assert_eq!(done.build_image_tag.as_deref(), Some("1.3.0.9"));
    assert_eq!(done.manifest_key_gen.as_deref(), Some("soft_crypto"));
    assert_eq!(
        done.manifest_public_key,
        Some(format!("manifest.{name}-public.pem"))
    );
    assert_eq!(done.root_ssh_enabled, Some(false));

    let log = sbs.log("build").await.unwrap();
    assert!(log.trim_end().ends_with("completed a build"), "{log}");
    assert!(matches!(
        sbs.log("nope").await,
        Err(Error::SbsRefused { status: 404, .. })
    ));

    for by in [None, Some(name.as_str())] {
        let manifest = sbs.manifest(by).await.unwrap();
        assert_eq!(manifest.manifest_name, format!("manifest.{name}"));
        assert_eq!(
            manifest.decode().unwrap(),
            format!("fake manifest of {name}").into_bytes()
        );
        let key = sbs.public_key(by).await.unwrap();
        assert_eq!(key.build_name, name);
        assert!(key.public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    }
    assert!(matches!(
        sbs.manifest(Some("no.such.build")).await,
        Err(Error::SbsRefused { status: 404, .. })
    ));

    let config = sbs.config_json().await.unwrap();
    assert_eq!(config.repository_name, "registry.example/user/app");
    assert_eq!(config.envs_whitelist, ["GREETING"]);
    assert_eq!(config.public_key_id.len(), 64);
    assert_eq!(
        sbs.image_digest().await.unwrap(),
        format!("registry.example/user/app@sha256:{}", "ab".repeat(32))
    );

    // The state image: exported, refused with a wrong secret, imported with the right one.
    let image = sbs.export_state().await.unwrap();
    assert!(!image.state.is_empty());
    assert!(matches!(
        sbs.import_state(&Secret::new("d3Jvbmc="), &image.state)
            .await,
        Err(Error::SbsRefused { status: 403, .. })
    ));
    assert_eq!(
        sbs.import_state(&Secret::new(SECRET), &image.state)
            .await
            .unwrap()
            .status,
        "OK"
    );

    assert_eq!(sbs.clean().await.unwrap().status, "OK");
    assert_eq!(sbs.status().await.unwrap().status, "restarted cicd");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_is_an_answer_and_wrong_cas_are_refused_in_the_handshake() {
    let lab = Lab::make();
    let state = tempfile::tempdir().unwrap();
    let running = start(
        &lab,
        state.path(),
        FakePipeline {
            gate: None,
            fail: true,
        },
    )
    .await;
    let sbs = client(&lab, running.addr, "ca.crt", "client");
    sbs.init(&init_body()).await.unwrap();
    sbs.build().await.unwrap();
    let failed = sbs
        .wait_for_build(Duration::from_secs(20), |_| {})
        .await
        .unwrap();
    assert!(failed.failed(), "{failed:?}");
    assert_eq!(
        failed.status,
        "exiting due to a non-zero return value: 2, cmd: buildah bud"
    );

    // The client trusts another CA: it refuses the server's certificate.
    let distrustful = client(&lab, running.addr, "other-ca.crt", "client");
    match distrustful.status().await {
        Err(error @ Error::SbsUnreachable { .. }) => {
            let text = chain(&error);
            assert!(
                text.contains("UnknownIssuer") || text.contains("issuer"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The server refuses a client certificate of another CA.
    let rogue = client(&lab, running.addr, "ca.crt", "rogue");
    assert!(matches!(
        rogue.status().await,
        Err(Error::SbsUnreachable { .. })
    ));
}
