//! `/manifest`'s answer verifies with `/publickey`'s key, as the lab's openssl commands do;
//! another key and a changed byte are refused, naming the manifest and the failed check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use hpvs_api::Error;
use hpvs_api::manifest::ManifestError;
use hpvs_api::sbs_wire::ManifestAnswer;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifest/");

fn answer(bytes: &[u8]) -> ManifestAnswer {
    serde_json::from_value(serde_json::json!({
        "manifest_name": "manifest.fixture",
        "encoded_manifest": base64::engine::general_purpose::STANDARD.encode(bytes),
    }))
    .unwrap()
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURE}{name}")).unwrap()
}

#[test]
fn a_manifest_answer_verifies_with_its_key_and_is_refused_with_another() {
    let signed = read("manifest.fixture.sig.tbz");
    let public = String::from_utf8(read("public.pem")).unwrap();
    let verified = answer(&signed).verify(&public).unwrap();
    assert_eq!(verified.name, "manifest.fixture");
    assert!(verified.build_json.is_object());

    let other = String::from_utf8(read("other-public.pem")).unwrap();
    match answer(&signed).verify(&other) {
        Err(Error::ManifestRefused {
            manifest_name,
            source: ManifestError::SignatureMismatch { .. },
        }) => assert_eq!(manifest_name, "manifest.fixture"),
        other => panic!("expected a signature mismatch, got {other:?}"),
    }

    let mut changed = signed.clone();
    let middle = changed.len() / 2;
    changed[middle] ^= 0x40;
    assert!(matches!(
        answer(&changed).verify(&public),
        Err(Error::ManifestRefused { .. })
    ));
}
