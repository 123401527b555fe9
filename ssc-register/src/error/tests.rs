//! Every variant formatted, with the blame it carries.

use super::*;

/// Every variant says whose fault it is and formats to a lowercase message holding the
/// values it carries.
#[test]
fn every_variant_has_its_blame_and_values_in_its_message() {
    let s = |v: &str| v.to_owned();
    let cases: Vec<(Error, Blame, &[&str])> = vec![
        (
            Error::InvalidRepositoryName { name: s("a b") },
            Blame::Input,
            &["\"a b\""],
        ),
        (
            Error::ReservedEnvName { name: s("POD") },
            Blame::Input,
            &["POD"],
        ),
        (
            Error::InvalidEnvName { name: s("1X") },
            Blame::Input,
            &["\"1X\""],
        ),
        (
            Error::InvalidKeyId { key_id: s("xyz") },
            Blame::Input,
            &["\"xyz\""],
        ),
        (
            Error::KeyIdMismatch {
                expected: s("aa"),
                actual: s("bb"),
            },
            Blame::Input,
            &["got bb", "expected aa"],
        ),
        (
            Error::MalformedRootKey { reason: s("r1") },
            Blame::Input,
            &["r1"],
        ),
        (
            Error::MalformedRootJson { reason: s("r2") },
            Blame::Input,
            &["r2"],
        ),
        (
            Error::AmbiguousRootKey {
                key_ids: vec![s("k1"), s("k2")],
            },
            Blame::Input,
            &["k1", "k2"],
        ),
        (
            Error::MalformedOpenPgpKey { reason: s("r3") },
            Blame::Input,
            &["r3"],
        ),
        (
            Error::InvalidUserId {
                user_id: s("u\n"),
                reason: "it holds control characters",
            },
            Blame::Input,
            &["\"u\\n\"", "control characters"],
        ),
        (
            Error::WrongPassphrase {
                fingerprint: s("FPR1"),
            },
            Blame::Caller,
            &["FPR1"],
        ),
        (
            Error::NoSigningKey {
                fingerprint: s("FPR2"),
            },
            Blame::Input,
            &["FPR2"],
        ),
        (
            Error::NoEncryptionKey {
                fingerprint: s("FPR3"),
            },
            Blame::Input,
            &["FPR3"],
        ),
        (
            Error::OpenPgp {
                operation: "encryption",
                reason: s("r4"),
            },
            Blame::Environment,
            &["encryption", "r4"],
        ),
        (
            Error::MalformedMessage { reason: s("r5") },
            Blame::Peer,
            &["r5"],
        ),
        (
            Error::CorruptMessage { reason: s("r6") },
            Blame::Peer,
            &["r6"],
        ),
        (Error::NotEncrypted, Blame::Peer, &["not encrypted"]),
        (
            Error::NotForThisAppliance {
                recipients: vec![s("K1")],
                appliance: vec![s("K2")],
            },
            Blame::Peer,
            &["K1", "K2"],
        ),
        (
            Error::TamperedCiphertext { reason: s("mdc") },
            Blame::Peer,
            &["mdc"],
        ),
        (
            Error::PayloadTooLarge { limit: 10 },
            Blame::Peer,
            &["10 bytes"],
        ),
        (Error::Unsigned, Blame::Peer, &["not signed"]),
        (
            Error::SignerNotVendor {
                signer: vec![s("K3")],
                vendor: s("FPR4"),
            },
            Blame::Peer,
            &["K3", "FPR4"],
        ),
        (
            Error::UnexpectedVendorKey {
                expected: s("E1"),
                actual: s("A1"),
            },
            Blame::Peer,
            &["names A1", "expected E1"],
        ),
        (
            Error::VendorChanged {
                registered: s("R1"),
                signer: s("S1"),
            },
            Blame::Peer,
            &["signed by S1", "registered by R1"],
        ),
        (
            Error::RepositoryChanged {
                expected: s("x/old"),
                actual: s("y/new"),
            },
            Blame::Peer,
            &["for y/new", "expected x/old"],
        ),
        (
            Error::MalformedJson { reason: s("r7") },
            Blame::Peer,
            &["r7"],
        ),
        (
            Error::MissingField {
                field: "vendor_key",
            },
            Blame::Peer,
            &["vendor_key"],
        ),
        (
            Error::MalformedCertificate { reason: s("r8") },
            Blame::Input,
            &["r8"],
        ),
        (
            Error::MalformedRsaKey { reason: s("r9") },
            Blame::Input,
            &["r9"],
        ),
        (
            Error::UnsupportedKey {
                found: s("an ec key"),
                hint: "convert it",
            },
            Blame::Input,
            &["an ec key", "convert it"],
        ),
        (
            Error::Rsa {
                operation: "decryption",
                reason: s("r10"),
            },
            Blame::Peer,
            &["decryption", "r10"],
        ),
        (
            Error::Rsa {
                operation: "key generation",
                reason: s("r11"),
            },
            Blame::Environment,
            &["key generation", "r11"],
        ),
        (
            Error::MalformedSection { reason: s("r12") },
            Blame::Peer,
            &["r12"],
        ),
        (
            Error::SectionDecryption { reason: s("r13") },
            Blame::Peer,
            &["r13"],
        ),
        (
            Error::MalformedYaml {
                what: "env",
                reason: s("r14"),
            },
            Blame::Input,
            &["env", "r14"],
        ),
        (
            Error::MalformedAttestation { line: s("l1") },
            Blame::Peer,
            &["\"l1\""],
        ),
        (
            Error::AttestationEntryMissing {
                entry: s("contract:env"),
            },
            Blame::Peer,
            &["contract:env"],
        ),
        (
            Error::AttestationMismatch {
                entry: s("contract:workload"),
                expected: s("e1"),
                actual: s("a1"),
            },
            Blame::Peer,
            &["contract:workload", "got a1", "expected e1"],
        ),
    ];
    for (error, blame, needles) in cases {
        let text = error.to_string();
        assert_eq!(error.blame(), blame, "{text}");
        assert!(text.starts_with(|c: char| c.is_lowercase()), "{text}");
        for needle in needles {
            assert!(text.contains(needle), "{text:?} lacks {needle:?}");
        }
    }
}
