//! Mutual-TLS material judged by the real `openssl` binary: chains verify against the CA,
//! SANs and EKUs are what a TLS peer expects, and a certificate from another CA is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use keymgmt::mtls::{CertificateAuthority, MtlsMaterial, SubjectAltName};

fn openssl(args: &[&str]) -> (bool, String) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl not found on PATH: install the Debian package openssl by running ./scripts/test.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn verify(ca: &Path, cert: &Path, purpose: &str) -> (bool, String) {
    openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        "-purpose",
        purpose,
        cert.to_str().unwrap(),
    ])
}

fn x509_text(cert: &Path) -> String {
    let (ok, text) = openssl(&["x509", "-noout", "-text", "-in", cert.to_str().unwrap()]);
    assert!(ok, "{text}");
    text
}

#[test]
fn openssl_verifies_server_and_client_against_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let material = MtlsMaterial::generate("sbs.example", &SubjectAltName::loopback()).unwrap();
    let paths = material.write_pem_files(dir.path()).unwrap();

    let (ok, text) = verify(&paths.ca_cert, &paths.server_cert, "sslserver");
    assert!(ok && text.contains(": OK"), "{text}");
    let (ok, text) = verify(&paths.ca_cert, &paths.client_cert, "sslclient");
    assert!(ok && text.contains(": OK"), "{text}");
    // EKUs are enforced: the client certificate is no server certificate and vice versa.
    let (ok, text) = verify(&paths.ca_cert, &paths.client_cert, "sslserver");
    assert!(!ok, "{text}");
    let (ok, text) = verify(&paths.ca_cert, &paths.server_cert, "sslclient");
    assert!(!ok, "{text}");
}

#[test]
fn openssl_shows_sans_ekus_and_ca_constraints() {
    let dir = tempfile::tempdir().unwrap();
    let mut sans = SubjectAltName::loopback();
    sans.push(SubjectAltName::parse("sbs.example.com"));
    let material = MtlsMaterial::generate("sbs.example", &sans).unwrap();
    let paths = material.write_pem_files(dir.path()).unwrap();

    let server = x509_text(&paths.server_cert);
    assert!(server.contains("IP Address:127.0.0.1"), "{server}");
    assert!(server.contains("IP Address:0:0:0:0:0:0:0:1"), "{server}");
    assert!(server.contains("DNS:localhost"), "{server}");
    assert!(server.contains("DNS:sbs.example.com"), "{server}");
    assert!(server.contains("TLS Web Server Authentication"), "{server}");
    assert!(
        !server.contains("TLS Web Client Authentication"),
        "{server}"
    );
    assert!(server.contains("CA:FALSE"), "{server}");
    assert!(server.contains("ecdsa-with-SHA256"), "{server}");
    assert!(
        server.contains("NIST CURVE: P-256") || server.contains("prime256v1"),
        "{server}"
    );
    assert!(server.contains("Subject: CN = sbs.example"), "{server}");

    let client = x509_text(&paths.client_cert);
    assert!(client.contains("TLS Web Client Authentication"), "{client}");
    assert!(
        !client.contains("TLS Web Server Authentication"),
        "{client}"
    );

    let ca = x509_text(&paths.ca_cert);
    assert!(ca.contains("CA:TRUE"), "{ca}");
    assert!(ca.contains("Certificate Sign, CRL Sign"), "{ca}");

    // The private keys are PKCS#8 that openssl reads, and match their certificates.
    for (key, cert) in [
        (&paths.server_key, &paths.server_cert),
        (&paths.client_key, &paths.client_cert),
    ] {
        let (ok, key_pub) = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
        assert!(ok, "{key_pub}");
        let (ok, cert_pub) = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-pubkey"]);
        assert!(ok, "{cert_pub}");
        assert_eq!(key_pub, cert_pub);
    }
}

#[test]
fn certificate_from_another_ca_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let ours = MtlsMaterial::generate("ours", &SubjectAltName::loopback()).unwrap();
    let theirs = MtlsMaterial::generate("theirs", &SubjectAltName::loopback()).unwrap();
    let ours_paths = ours.write_pem_files(&dir.path().join("ours")).unwrap();
    let theirs_paths = theirs.write_pem_files(&dir.path().join("theirs")).unwrap();
    let (ok, text) = verify(&ours_paths.ca_cert, &theirs_paths.client_cert, "sslclient");
    assert!(!ok, "{text}");
    assert!(
        text.contains("unable to get local issuer certificate"),
        "{text}"
    );

    // Same CA name, different key: still refused.
    let impostor = CertificateAuthority::generate("ours CA").unwrap();
    let forged = impostor.issue_client("ours client").unwrap();
    let forged_path = dir.path().join("forged.pem");
    std::fs::write(&forged_path, forged.certificate_pem()).unwrap();
    let (ok, text) = verify(&ours_paths.ca_cert, &forged_path, "sslclient");
    assert!(!ok, "{text}");
}

#[test]
fn reloaded_ca_issues_certificates_openssl_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::generate("reloaded CA").unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.certificate_pem()).unwrap();
    let loaded =
        CertificateAuthority::from_pem(ca.certificate_pem(), ca.private_key_pem()).unwrap();
    let server = loaded
        .issue_server("later", &[SubjectAltName::parse("10.0.0.7")])
        .unwrap();
    let server_path = dir.path().join("server.pem");
    std::fs::write(&server_path, server.certificate_pem()).unwrap();
    let (ok, text) = verify(&ca_path, &server_path, "sslserver");
    assert!(ok, "{text}");
    assert!(x509_text(&server_path).contains("IP Address:10.0.0.7"));
}

#[test]
fn ca_made_by_openssl_can_be_loaded_and_used() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ca-key.pem");
    let cert = dir.path().join("ca.pem");
    let (ok, text) = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
        "-days",
        "30",
        "-subj",
        "/C=US/O=Example Org/CN=openssl CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    assert!(ok, "{text}");
    let ca = CertificateAuthority::from_pem(
        &std::fs::read_to_string(&cert).unwrap(),
        &std::fs::read_to_string(&key).unwrap(),
    )
    .unwrap();
    assert_eq!(ca.common_name(), "openssl CA");
    let client = ca.issue_client("someone").unwrap();
    let client_path = dir.path().join("client.pem");
    std::fs::write(&client_path, client.certificate_pem()).unwrap();
    let (ok, text) = verify(&cert, &client_path, "sslclient");
    assert!(ok, "{text}");
}
