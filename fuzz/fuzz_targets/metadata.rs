//! The metadata parser never panics, and what it accepts re-encodes to its canonical bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notary_client::canonical;
use notary_client::metadata::{self, MetaFile, RoleType, Root, Targets};

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = metadata::parse::<Root>("root", RoleType::Root, data) {
        let _ = canonical::encode_serialize(&file.signed);
    }
    if let Ok(file) = metadata::parse::<Targets>("targets", RoleType::Targets, data) {
        let _ = canonical::encode_serialize(&file.signed);
    }
    let _ = metadata::parse::<MetaFile>("snapshot", RoleType::Snapshot, data);
    let _ = metadata::parse::<MetaFile>("timestamp", RoleType::Timestamp, data);
});
