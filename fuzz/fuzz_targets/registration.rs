//! Registration files as an appliance receives them: ASCII armor or binary OpenPGP, opened
//! with a fixed appliance key (gpg-made, committed under fixtures/) through the same
//! `seal::open` the appliance uses, with and without an expected vendor. The fuzzer cannot
//! forge a signed, encrypted payload, so the parsers behind the decryption get the bytes
//! directly too: the registration JSON, the vendor key it carries, and the notary root.json
//! `regfile` takes the root key from.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ssc_register::{OpenOptions, PublicKey, Registration, RootKey, Secret, SecretKey, seal};

static APPLIANCE: LazyLock<SecretKey> = LazyLock::new(|| {
    SecretKey::from_armored(include_bytes!("../fixtures/appliance.asc"), Secret::new(""))
        .unwrap_or_else(|e| panic!("fixtures/appliance.asc: {e}"))
});
static VENDOR: LazyLock<PublicKey> = LazyLock::new(|| {
    PublicKey::from_armored(include_bytes!("../fixtures/vendor.asc"))
        .unwrap_or_else(|e| panic!("fixtures/vendor.asc: {e}"))
});

fuzz_target!(|data: &[u8]| {
    if let Ok(opened) = seal::open(data, &APPLIANCE, &OpenOptions::default()) {
        // Only a file signed by the key it names opens.
        let vendor = PublicKey::from_armored(opened.registration.vendor_key.as_bytes())
            .expect("an opened registration names a readable vendor key");
        assert_eq!(vendor.fingerprint(), opened.signer_fingerprint);
    }
    let expecting = OpenOptions {
        expected_vendor: Some(&VENDOR),
        registered: None,
    };
    if let Ok(opened) = seal::open(data, &APPLIANCE, &expecting) {
        assert_eq!(opened.signer_fingerprint, VENDOR.fingerprint());
    }
    if let Ok(registration) = Registration::from_json(data) {
        let json = registration
            .to_json()
            .expect("a parsed registration serialises");
        let back = Registration::from_json(&json).expect("a serialised registration parses");
        assert_eq!(back, registration);
        let _ = registration.user_envs().count();
        let _ = PublicKey::from_armored(registration.vendor_key.as_bytes());
    }
    // `regfile create --root-json` reads the root key from a notary root.json.
    if let Ok(root) = RootKey::from_root_json(data) {
        RootKey::new(root.key_id(), root.public_base64()).expect("a root key read is valid");
    }
    if let Ok(key) = PublicKey::from_armored(data) {
        let _ = key.fingerprint();
        let _ = key.key_ids();
        let _ = key.to_armored();
    }
});
