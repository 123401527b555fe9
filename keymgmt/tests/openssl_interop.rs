//! Signatures exchanged with the real `openssl` in both directions: RSA (PSS with a 32-byte
//! salt, as notary uses, and PKCS#1 v1.5, as the build manifest uses), Ed25519 and P-256.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keymgmt::{KeyAlgorithm, PrivateKey, PublicKey, SignatureMethod};
use std::path::Path;
use std::process::Command;

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl not found: run ./scripts/test.sh to install it");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn public_pem(key: &PublicKey) -> String {
    pem::encode(&pem::Pem::new(
        "PUBLIC KEY",
        key.plain().public_bytes().to_vec(),
    ))
}

const MESSAGE: &[u8] = b"{\"signed\":{\"_type\":\"Targets\"}}";

#[test]
fn rsa_openssl_key_signs_pss_and_pkcs1_that_we_verify() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("rsa.pem");
    let msg = dir.path().join("msg");
    std::fs::write(&msg, MESSAGE).unwrap();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        path(&key),
    ]);
    let ours = PrivateKey::import_rsa_pem(&std::fs::read_to_string(&key).unwrap()).unwrap();
    let public = ours.public_key();
    assert_eq!(public.algorithm(), KeyAlgorithm::Rsa);

    let pss = openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        path(&key),
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
        path(&msg),
    ]);
    public
        .verify(SignatureMethod::RsaPss, MESSAGE, &pss)
        .unwrap();
    let pkcs1 = openssl(&["dgst", "-sha256", "-sign", path(&key), path(&msg)]);
    public
        .verify(SignatureMethod::RsaPkcs1v15, MESSAGE, &pkcs1)
        .unwrap();
    // The methods are not interchangeable, and a changed message fails.
    assert!(
        public
            .verify(SignatureMethod::RsaPss, MESSAGE, &pkcs1)
            .is_err()
    );
    assert!(
        public
            .verify(SignatureMethod::RsaPkcs1v15, b"other", &pkcs1)
            .is_err()
    );
}

#[test]
fn our_rsa_signatures_verify_in_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate_rsa(2048).unwrap();
    let pubfile = dir.path().join("pub.pem");
    let msg = dir.path().join("msg");
    std::fs::write(&pubfile, public_pem(&key.public_key())).unwrap();
    std::fs::write(&msg, MESSAGE).unwrap();
    for (method, extra) in [
        (
            SignatureMethod::RsaPss,
            vec![
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ],
        ),
        (SignatureMethod::RsaPkcs1v15, vec![]),
    ] {
        let sig = key.sign_with(method, MESSAGE).unwrap();
        let sigfile = dir.path().join(format!("{method}.sig"));
        std::fs::write(&sigfile, &sig.bytes).unwrap();
        let mut args = vec!["dgst", "-sha256", "-verify", path(&pubfile)];
        args.extend(extra);
        args.extend(["-signature", path(&sigfile), path(&msg)]);
        let out = openssl(&args);
        assert!(
            String::from_utf8_lossy(&out).contains("Verified OK"),
            "{method}"
        );
    }
    assert!(matches!(
        PrivateKey::generate_rsa(1024),
        Err(keymgmt::Error::WeakRsaKey { bits: 1024, .. })
    ));
}

#[test]
fn ed25519_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("msg");
    std::fs::write(&msg, MESSAGE).unwrap();

    // ours -> openssl
    let key = PrivateKey::generate_ed25519();
    let pubfile = dir.path().join("ours.pub.pem");
    let ed_spki = {
        // SubjectPublicKeyInfo for Ed25519 (RFC 8410): fixed 12-byte prefix + 32 raw bytes.
        let mut der = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        der.extend_from_slice(key.public_key().public_bytes());
        der
    };
    std::fs::write(&pubfile, pem::encode(&pem::Pem::new("PUBLIC KEY", ed_spki))).unwrap();
    let sigfile = dir.path().join("ours.sig");
    std::fs::write(&sigfile, key.sign(MESSAGE).bytes).unwrap();
    let out = openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        path(&pubfile),
        "-rawin",
        "-in",
        path(&msg),
        "-sigfile",
        path(&sigfile),
    ]);
    assert!(String::from_utf8_lossy(&out).contains("Signature Verified Successfully"));

    // openssl -> ours
    let theirs = dir.path().join("theirs.pem");
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", path(&theirs)]);
    let der = openssl(&["pkey", "-in", path(&theirs), "-pubout", "-outform", "DER"]);
    let public = PublicKey::from_parts(KeyAlgorithm::Ed25519, der[12..].to_vec()).unwrap();
    let sig = openssl(&[
        "pkeyutl",
        "-sign",
        "-inkey",
        path(&theirs),
        "-rawin",
        "-in",
        path(&msg),
    ]);
    public
        .verify(SignatureMethod::Eddsa, MESSAGE, &sig)
        .unwrap();
}

#[test]
fn p256_public_key_matches_openssl_and_verifies_its_signature() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ec.pem");
    let msg = dir.path().join("msg");
    std::fs::write(&msg, MESSAGE).unwrap();
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        path(&key),
    ]);
    let der = openssl(&["ec", "-in", path(&key), "-pubout", "-outform", "DER"]);
    let public = PublicKey::from_parts(KeyAlgorithm::Ecdsa, der).unwrap();
    // openssl writes DER ECDSA signatures; notary carries raw r||s.
    let der_sig = openssl(&["dgst", "-sha256", "-sign", path(&key), path(&msg)]);
    let raw = p256::ecdsa::Signature::from_der(&der_sig)
        .unwrap()
        .to_bytes();
    public
        .verify(SignatureMethod::Ecdsa, MESSAGE, &raw)
        .unwrap();
    // A DER signature is refused by length, as notary does.
    assert!(matches!(
        public.verify(SignatureMethod::Ecdsa, MESSAGE, &der_sig),
        Err(keymgmt::Error::SignatureLength { .. })
    ));
}

#[test]
fn root_certificate_has_notarys_profile_in_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate_ecdsa();
    let gun = "registry.example.com/team/app";
    let cert = keymgmt::x509::generate_root_certificate(gun, &key).unwrap();
    let file = dir.path().join("root.crt");
    std::fs::write(&file, cert.public_bytes()).unwrap();
    let text =
        String::from_utf8(openssl(&["x509", "-in", path(&file), "-noout", "-text"])).unwrap();
    let compact: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for expected in [
        "Signature Algorithm: ecdsa-with-SHA256",
        "Subject: CN = registry.example.com/team/app",
        "Issuer: CN = registry.example.com/team/app",
        "X509v3 Key Usage: critical Digital Signature, Key Encipherment",
        "X509v3 Extended Key Usage: Code Signing",
        "X509v3 Basic Constraints: critical CA:FALSE",
        "ASN1 OID: prime256v1",
    ] {
        assert!(
            compact.contains(expected),
            "missing {expected:?} in:\n{text}"
        );
    }
    // Self-signed: openssl verifies it against itself, for code signing.
    let out = openssl(&[
        "verify",
        "-CAfile",
        path(&file),
        "-partial_chain",
        path(&file),
    ]);
    assert!(String::from_utf8_lossy(&out).contains("OK"));
    // Ten years of validity (3650 days).
    let end = String::from_utf8(openssl(&[
        "x509",
        "-in",
        path(&file),
        "-noout",
        "-checkend",
        &(3649 * 86400).to_string(),
    ]))
    .unwrap();
    assert!(end.contains("will not expire"), "{end}");
    let end = Command::new("openssl")
        .args([
            "x509",
            "-in",
            path(&file),
            "-noout",
            "-checkend",
            &(3651 * 86400).to_string(),
        ])
        .output()
        .unwrap();
    assert!(!end.status.success(), "expires within 3651 days");
}

#[test]
fn our_p256_signatures_verify_in_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate_ecdsa();
    let pubfile = dir.path().join("pub.pem");
    let msg = dir.path().join("msg");
    std::fs::write(&pubfile, public_pem(&key.public_key())).unwrap();
    std::fs::write(&msg, MESSAGE).unwrap();
    for round in 0..5 {
        let sig = key.sign(MESSAGE);
        assert_eq!(sig.bytes.len(), 64, "raw r||s");
        // openssl wants DER; notary carries raw r||s.
        let der = p256::ecdsa::Signature::from_slice(&sig.bytes)
            .unwrap()
            .to_der();
        let sigfile = dir.path().join(format!("{round}.sig"));
        std::fs::write(&sigfile, der.as_bytes()).unwrap();
        let out = openssl(&[
            "dgst",
            "-sha256",
            "-verify",
            path(&pubfile),
            "-signature",
            path(&sigfile),
            path(&msg),
        ]);
        assert!(String::from_utf8_lossy(&out).contains("Verified OK"));
    }
}
