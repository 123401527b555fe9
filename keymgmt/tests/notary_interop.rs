//! keymgmt against the real Go `notary` client and notary-server, in both directions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use devstack::{DEFAULT_PASSPHRASE, NotaryCli, NotaryOptions, NotaryServer};
use keymgmt::keystore::{DecryptedKey, KeyStore};
use keymgmt::passphrase::{Passphrase, PassphraseSource};
use keymgmt::{KeyAlgorithm, PrivateKey, PublicKey, SignatureMethod, x509};
use serde_json::Value;
use std::path::Path;

fn passphrase() -> Box<dyn PassphraseSource> {
    Box::new(keymgmt::passphrase::Fixed(Passphrase::new(
        DEFAULT_PASSPHRASE,
    )))
}

/// Reads `<trust_dir>/tuf/<gun>/metadata/root.json`: the raw `signed` bytes and the parsed file.
fn cached_root(trust_dir: &Path, gun: &str) -> (Vec<u8>, Value) {
    let path = trust_dir.join("tuf").join(gun).join("metadata/root.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        signed: &'a serde_json::value::RawValue,
    }
    let envelope: Envelope = serde_json::from_slice(&bytes).unwrap();
    let signed = envelope.signed.get().as_bytes().to_vec();
    (signed, serde_json::from_slice(&bytes).unwrap())
}

fn role_key(root: &Value, role: &str) -> PublicKey {
    let ids = root["signed"]["roles"][role]["keyids"].as_array().unwrap();
    assert_eq!(ids.len(), 1, "one {role} key expected");
    let id = ids[0].as_str().unwrap();
    let key = &root["signed"]["keys"][id];
    let public = PublicKey::from_json_fields(
        key["keytype"].as_str().unwrap(),
        key["keyval"]["public"].as_str().unwrap(),
    )
    .unwrap();
    // Our key ID computation agrees with the Go client's.
    assert_eq!(public.key_id().as_str(), id, "key ID of {role}");
    public
}

#[test]
fn go_made_keys_are_read_and_sign_verifiably() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let go = NotaryCli::new(&server).unwrap();
    let gun = "registry.example.com/go-made";
    go.run(&["init", gun, "-p"]).unwrap();

    let (signed, root) = cached_root(go.trust_dir(), gun);
    let root_cert = role_key(&root, "root");
    let targets_public = role_key(&root, "targets");
    assert_eq!(root_cert.algorithm(), KeyAlgorithm::EcdsaX509);
    x509::validate_root_certificate(
        root_cert.public_bytes(),
        gun,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();

    // Go's own signature over root.json verifies with our verifier.
    let sig = &root["signatures"][0];
    assert_eq!(sig["keyid"].as_str().unwrap(), root_cert.key_id().as_str());
    let sig_bytes = base64_decode(sig["sig"].as_str().unwrap());
    root_cert
        .verify(
            SignatureMethod::parse(sig["method"].as_str().unwrap()).unwrap(),
            &signed,
            &sig_bytes,
        )
        .unwrap();

    let store = KeyStore::open(go.trust_dir()).unwrap();
    let listed = store.list().unwrap();
    let pass = passphrase();

    // The root key file is named by the canonical ID of the certificate's key.
    let root_info = listed
        .iter()
        .find(|k| k.role == "root")
        .expect("root key listed");
    assert_eq!(root_info.key_id, root_cert.canonical_key_id());
    let DecryptedKey {
        key: root_key,
        role,
        gun: gun_header,
    } = store.get(&root_info.key_id, pass.as_ref()).unwrap();
    assert_eq!((role.as_str(), gun_header), ("root", None));
    let s = root_key.sign(b"payload");
    root_cert.verify(s.method, b"payload", &s.bytes).unwrap();

    let targets_info = listed
        .iter()
        .find(|k| k.role == "targets")
        .expect("targets key listed");
    assert_eq!(targets_info.key_id, targets_public.key_id());
    assert_eq!(targets_info.gun.as_deref(), Some(gun));
    let DecryptedKey {
        key: targets_key, ..
    } = store.get(&targets_info.key_id, pass.as_ref()).unwrap();
    let s = targets_key.sign(b"targets.json");
    targets_public
        .verify(s.method, b"targets.json", &s.bytes)
        .unwrap();

    // A wrong passphrase is a typed error naming the key, and leaves the file as it was.
    let file = go
        .trust_dir()
        .join("private")
        .join(format!("{}.key", targets_info.key_id));
    let before = std::fs::read(&file).unwrap();
    let wrong = keymgmt::passphrase::Fixed(Passphrase::new("not-the-passphrase"));
    match store.get(&targets_info.key_id, &wrong) {
        Err(keymgmt::Error::WrongPassphrase { key_id, role, .. }) => {
            assert_eq!(key_id, targets_info.key_id.as_str());
            assert_eq!(role, "targets");
        }
        other => panic!("expected WrongPassphrase, got {other:?}"),
    }
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn keymgmt_keys_and_root_cert_publish_with_go_client() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let go = NotaryCli::new(&server).unwrap();
    let gun = "registry.example.com/ours";
    let store = KeyStore::open(go.trust_dir()).unwrap();
    let pass = passphrase();

    let root_key = PrivateKey::generate_ecdsa();
    store.add(&root_key, "root", None, pass.as_ref()).unwrap();
    let root_cert = x509::generate_root_certificate(gun, &root_key).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let cert_path = scratch.path().join("root.crt");
    std::fs::write(&cert_path, root_cert.public_bytes()).unwrap();

    // notary-server and the Go client accept our certificate as the root of the collection.
    go.run(&["init", gun, "--rootcert", cert_path.to_str().unwrap(), "-p"])
        .unwrap();

    // Rotate to a targets key that keymgmt made and wrote; the Go client then signs with it.
    let targets_key = PrivateKey::generate_ecdsa();
    let targets_id = store
        .add(&targets_key, "targets", Some(gun), pass.as_ref())
        .unwrap();
    let exported = scratch.path().join("targets.pem");
    std::fs::write(&exported, store.export_pem(&targets_id).unwrap()).unwrap();
    go.run(&[
        "key",
        "rotate",
        gun,
        "targets",
        "-k",
        exported.to_str().unwrap(),
    ])
    .unwrap();

    let payload = scratch.path().join("payload.txt");
    std::fs::write(&payload, b"hello from keymgmt").unwrap();
    go.run(&["add", gun, "v1", payload.to_str().unwrap(), "-p"])
        .unwrap();

    // A fresh Go client (TOFU) verifies the collection.
    let fresh = NotaryCli::new(&server).unwrap();
    let listing = fresh.run(&["list", gun]).unwrap();
    assert!(listing.contains("v1"), "listing: {listing}");
    let (_, root) = cached_root(fresh.trust_dir(), gun);
    assert_eq!(role_key(&root, "root").key_id(), root_cert.key_id());
    assert_eq!(role_key(&root, "targets").key_id(), targets_key.key_id());
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}
