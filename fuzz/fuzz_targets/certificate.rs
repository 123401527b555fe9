//! Notary root certificates as root.json carries them (PEM, base64 in `keyval.public`):
//! validation for a GUN and the public-key parsers (certificate, any PEM, key JSON) never panic, and a
//! certificate that validates yields the key its parsers agree on.
#![no_main]

use base64::Engine as _;
use keymgmt::PublicKey;
use keymgmt::x509;
use libfuzzer_sys::fuzz_target;

const GUN: &str = "example.com/fuzz";

fuzz_target!(|data: &[u8]| {
    let now = time::OffsetDateTime::now_utc();
    let _ = PublicKey::from_pem(data);
    let from_pem = PublicKey::from_certificate_pem(data);
    if let Ok(validated) = x509::validate_root_certificate(data, GUN, now) {
        let parsed = from_pem.expect("a valid root certificate parses as a public key");
        assert_eq!(validated.key_id(), parsed.key_id());
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    for keytype in ["ecdsa-x509", "rsa-x509", "ecdsa", "rsa", "ed25519"] {
        if let Ok(key) = PublicKey::from_json_fields(keytype, &b64) {
            let _ = key.key_id();
            let _ = key.canonical_key_id();
            let _ = key.plain();
        }
    }
});
