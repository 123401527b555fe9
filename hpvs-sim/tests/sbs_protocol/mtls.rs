//! Mutual TLS: what the handshake refuses, the lab's v1 client certificate, the verifier's
//! checks one by one, and the identity's errors.

use std::process::Command;
use std::time::Duration;

use hpvs_sim::sbs::identity::env_value;
use hpvs_sim::sbs::tls::ClientCaVerifier;
use hpvs_sim::sbs::{SbsError, SbsIdentity};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier as _;
use serde_json::{Value, json};

use crate::lab::{FakePipeline, Lab, call, curl, openssl, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_refuses_no_certificate_another_cas_and_a_server_only_one() {
    let lab = Lab::make();
    let state = tempfile::tempdir().unwrap();
    let running = start(&lab, state.path(), FakePipeline::default()).await;
    let url = format!("https://127.0.0.1:{}/image", running.addr.port());
    for (who, alert) in [
        (None, "alert certificate required"),
        (Some("rogue"), "alert unknown ca"),
        (Some("server-only"), "alert unsupported certificate"),
    ] {
        let refused = curl(&lab, running.addr, who, "GET", "/image", None).await;
        let (exit, stderr) = refused.expect_err("curl got an answer");
        assert!(
            exit != 0 && stderr.contains(alert),
            "{who:?}: {exit} {stderr}"
        );
        assert!(
            lab.reqwest(who).get(&url).send().await.is_err(),
            "{who:?} was served"
        );
    }
    // TLS 1.3 only (the module doc says why).
    let out = Command::new("curl")
        .args([
            "-sS",
            "--tls-max",
            "1.2",
            "--cacert",
            &lab.path("ca.crt").display().to_string(),
            "--cert",
            &lab.path("client.crt").display().to_string(),
            "--key",
            &lab.path("client.key").display().to_string(),
            &url,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_labs_v1_client_certificate_is_accepted_and_checked_like_a_v3_one() {
    let lab = Lab::make();
    let text = openssl(
        lab.dir.path(),
        &["x509", "-noout", "-text", "-in", "client.crt"],
    );
    assert!(text.contains("Version: 1 (0x0)"), "{text}");
    let state = tempfile::tempdir().unwrap();
    let running = start(&lab, state.path(), FakePipeline::default()).await;
    // A fresh server, through curl with `""` and through reqwest with an empty body.
    assert_eq!(
        call(&lab, running.addr, "GET", "/image", None).await,
        (200, json!({"status": ""}))
    );
    let url = format!("https://127.0.0.1:{}/image", running.addr.port());
    let answer = lab.reqwest(Some("client")).get(&url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({"status": ""}));
    let v3 = curl(&lab, running.addr, Some("client-v3"), "GET", "/image", None)
        .await
        .unwrap();
    assert_eq!(v3.0, 200);

    // The verifier's checks, one by one, on the real certificates.
    let verifier = ClientCaVerifier::new(&lab.der("ca.crt")).unwrap();
    let at = |seconds: u64| UnixTime::since_unix_epoch(Duration::from_secs(seconds));
    let now = UnixTime::now();
    assert!(
        verifier
            .verify_client_cert(&lab.der("client.crt"), &[], now)
            .is_ok()
    );
    let refusal =
        |cert: &CertificateDer<'_>, time| verifier.verify_client_cert(cert, &[], time).unwrap_err();
    use rustls::CertificateError as E;
    let matches_error = |e: rustls::Error, check: fn(&E) -> bool| match e {
        rustls::Error::InvalidCertificate(e) => check(&e),
        _ => false,
    };
    assert!(matches_error(
        refusal(&lab.der("client.crt"), at(4_102_444_800)),
        |e| matches!(e, E::ExpiredContext { .. })
    ));
    assert!(matches_error(
        refusal(&lab.der("client.crt"), at(1_000_000)),
        |e| matches!(e, E::NotValidYetContext { .. })
    ));
    assert!(matches_error(
        refusal(&lab.der("rogue.crt"), now),
        |e| matches!(e, E::UnknownIssuer)
    ));
    assert!(matches_error(
        refusal(&lab.der("server-only.crt"), now),
        |e| matches!(e, E::InvalidPurpose)
    ));
    let mut forged = lab.der("client.crt").as_ref().to_vec();
    let last = forged.len() - 5;
    forged[last] ^= 1; // inside the signature
    assert!(matches_error(
        refusal(&CertificateDer::from(forged), now),
        |e| matches!(e, E::BadSignature)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_errors_name_the_variable_at_fault() {
    let lab = Lab::make();
    let mut env = lab.env();
    env.insert("SERVER_KEY".into(), env_value(&lab.pem("client.key")));
    assert!(matches!(
        SbsIdentity::from_env(&env),
        Err(SbsError::KeyMismatch { .. })
    ));
    let mut env = lab.env();
    env.remove("CLIENT_CA");
    assert!(matches!(
        SbsIdentity::from_env(&env),
        Err(SbsError::EnvMissing { name: "CLIENT_CA" })
    ));
    let mut env = lab.env();
    env.insert("CLIENT_CRT".into(), "%%".into());
    assert!(matches!(
        SbsIdentity::from_env(&env),
        Err(SbsError::EnvNotBase64 {
            name: "CLIENT_CRT",
            ..
        })
    ));
    let mut env = lab.env();
    env.insert("SERVER_KEY".into(), env_value(&lab.pem("server.crt")));
    assert!(matches!(
        SbsIdentity::from_env(&env),
        Err(SbsError::EnvNotPem {
            name: "SERVER_KEY",
            expected: "private key",
            ..
        })
    ));
    assert!(SbsIdentity::from_env(&lab.env()).is_ok());
}
