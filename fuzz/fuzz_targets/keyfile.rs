//! Private key files: PKCS#8 (plain and PBES2-encrypted, as notary writes them) and the
//! legacy PEM kinds (EC, RSA, notary's ED25519, with or without DEK-Info encryption). Reading
//! never panics, with or without a passphrase; a key read re-encodes and reads back as the
//! same key.
#![no_main]

use keymgmt::keyfile;
use keymgmt::passphrase::Passphrase;
use libfuzzer_sys::fuzz_target;

/// The passphrase of the committed seeds.
const PASSPHRASE: &str = "fuzz-passphrase";

fuzz_target!(|data: &[u8]| {
    let _ = keyfile::peek(data);
    let _ = keyfile::decode(data, None, None);
    let passphrase = Passphrase::new(PASSPHRASE);
    let Ok(file) = keyfile::decode(data, Some(&passphrase), None) else {
        return;
    };
    let id = file.key.key_id();
    let role = file.role.clone().unwrap_or_else(|| "targets".to_owned());
    let gun = file.gun.as_deref();
    if let Ok(text) = keyfile::encode_unencrypted(&file.key, &role, gun) {
        let back = keyfile::decode(text.as_bytes(), None, Some(id.as_str()))
            .expect("a key written unencrypted reads back");
        assert_eq!(back.key.key_id(), id);
    }
    let public = file.key.public_key();
    let _ = keyfile::public_key_pem(&public, &role);
});
