//! Canonical JSON: any JSON value that encodes re-parses to the same value, and encoding its
//! canonical form again gives the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notary_client::canonical;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(bytes) = canonical::encode(&value) else {
        return;
    };
    let reparsed: serde_json::Value =
        serde_json::from_slice(&bytes).expect("canonical output is JSON");
    assert_eq!(reparsed, value);
    assert_eq!(canonical::encode(&reparsed).expect("encodes again"), bytes);
});
