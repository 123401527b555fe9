//! TUF metadata as a server sends it: the signed envelope and the signed part of every role
//! (root, targets with delegations, snapshot, timestamp). Parsing never panics; what parses is
//! run through the checks a client applies before trusting it (root self-signature and
//! certificates, the threshold of a role's keys, delegation keys, hashes against a fixed
//! Go-notary root), and its signed part re-encodes canonically.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use notary_client::canonical;
use notary_client::metadata::{self, MetaFile, RoleType, Root, SignedFile, Targets};
use notary_client::verify;

/// The GUN the committed seeds were published under (by the Go notary client).
const GUN: &str = "example.com/fuzz";

/// A root made by the Go client: the keys snapshot, timestamp and targets seeds are checked
/// against.
static ROOT: LazyLock<Root> = LazyLock::new(|| {
    metadata::parse::<Root>(
        "root",
        RoleType::Root,
        include_bytes!("../fixtures/root.json"),
    )
    .map(|file| file.signed)
    .unwrap_or_else(|e| panic!("fixtures/root.json: {e}"))
});

fn check_by_root<T>(role: &str, file: &SignedFile<T>) {
    if let Ok(entry) = ROOT.role(role) {
        let _ = verify::check_signatures(role, file, &entry.keyids, entry.threshold, &ROOT.keys);
    }
}

fn reencodes<T: serde::Serialize>(signed: &T) {
    let bytes = canonical::encode_serialize(signed).expect("a parsed signed part encodes");
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).expect("canonical output is JSON");
    assert_eq!(canonical::encode(&value).expect("encodes again"), bytes);
}

fuzz_target!(|data: &[u8]| {
    let now = time::OffsetDateTime::now_utc();
    if let Ok(file) = metadata::parse::<Root>("root", RoleType::Root, data) {
        reencodes(&file.signed);
        let _ = verify::check_root_self(GUN, &file, now);
        for step in [verify::RotationStep::Intermediate, verify::RotationStep::Newest] {
            let _ = verify::check_root_rotation(GUN, &ROOT, &file, now, step);
        }
        for key in file.signed.keys.values() {
            let _ = key.to_public();
            let _ = verify::keytype_of(key);
        }
    }
    if let Ok(file) = metadata::parse::<Targets>("targets", RoleType::Targets, data) {
        reencodes(&file.signed);
        check_by_root("targets", &file);
        let delegations = &file.signed.delegations;
        for role in &delegations.roles {
            let _ = metadata::is_delegation_name(&role.name);
            let _ = role.covers("v1");
            let _ = verify::check_signatures(
                &role.name,
                &file,
                &role.keyids,
                role.threshold,
                &delegations.keys,
            );
        }
        for meta in file.signed.targets.values() {
            let _ = meta.sha256();
            let _ = meta.check("target", b"hello\n");
        }
    }
    for (role, role_type) in [
        ("snapshot", RoleType::Snapshot),
        ("timestamp", RoleType::Timestamp),
    ] {
        if let Ok(file) = metadata::parse::<MetaFile>(role, role_type, data) {
            reencodes(&file.signed);
            check_by_root(role, &file);
            let _ = verify::check_expiry(role, &file.signed.expires, now);
            for (name, meta) in &file.signed.meta {
                let _ = meta.sha256();
                let _ = meta.check(name, include_bytes!("../fixtures/root.json"));
            }
        }
    }
});
