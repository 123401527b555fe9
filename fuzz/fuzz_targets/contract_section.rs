//! HPCR contract sections (`hyper-protect-basic.<b64 RSA-encrypted password>.<b64 openssl
//! enc data>`) decrypted with a fixed RSA key (openssl-made, under fixtures/), the openssl
//! `enc -pbkdf2` framing on its own, and the contract YAML whose sections they are. Nothing
//! panics, and a contract that parses serialises and parses again.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ssc_register::{Contract, RsaSecretKey, basic};

static KEY: LazyLock<RsaSecretKey> = LazyLock::new(|| {
    RsaSecretKey::from_pem(include_str!("../fixtures/contract-key.pem"))
        .unwrap_or_else(|e| panic!("fixtures/contract-key.pem: {e}"))
});

fuzz_target!(|data: &[u8]| {
    let _ = basic::openssl_dec(b"fuzz-password", data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = basic::decrypt(text, &KEY);
    if let Ok(contract) = Contract::from_yaml(text) {
        for (_, section) in contract.sections() {
            let _ = basic::decrypt(section, &KEY);
        }
        let yaml = contract.to_yaml().expect("a parsed contract serialises");
        Contract::from_yaml(&yaml).expect("a serialised contract parses");
    }
});
