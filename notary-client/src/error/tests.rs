//! Every variant with the blame it carries and the values its message names.

use super::*;
use crate::pinning::PinFailure;

fn key(error: keymgmt::Error) -> Error {
    Error::from(error)
}

#[test]
fn every_variant_says_whose_fault_it_is_and_names_its_values() {
    let role = || "targets".to_owned();
    let gun = || "example.com/app".to_owned();
    let cases: Vec<(Error, &[&str], Blame)> = vec![
        (
            Error::MalformedMetadata {
                role: role(),
                reason: "not JSON".into(),
            },
            &["targets", "not JSON"],
            Blame::Peer,
        ),
        (
            Error::VersionOutOfRange {
                role: role(),
                version: 0,
                maximum: 7,
            },
            &["targets", " 0 ", "7"],
            Blame::Peer,
        ),
        (
            Error::LengthMismatch {
                role: role(),
                expected: 10,
                actual: 11,
            },
            &["11", "10"],
            Blame::Peer,
        ),
        (
            Error::HashMismatch {
                role: role(),
                algorithm: "sha256".into(),
                expected: "aa".into(),
                actual: "bb".into(),
            },
            &["sha256", "aa", "bb"],
            Blame::Peer,
        ),
        (
            Error::TooLarge {
                role: role(),
                limit: 5,
            },
            &["targets", "5-byte"],
            Blame::Peer,
        ),
        (
            Error::LengthOverLimit {
                role: role(),
                parent: "snapshot".into(),
                length: 9,
                limit: 5,
                field: "targets",
            },
            &["snapshot", " 9 ", "5-byte", "Limits::targets"],
            Blame::Peer,
        ),
        (
            Error::Rollback {
                role: role(),
                cached: 4,
                received: 3,
            },
            &["version 3", "version 4"],
            Blame::Peer,
        ),
        (
            Error::Expired {
                role: role(),
                expires: "2020-01-01T00:00:00Z".into(),
            },
            &["2020-01-01T00:00:00Z"],
            Blame::Peer,
        ),
        (
            Error::ThresholdNotMet {
                role: role(),
                required: 2,
                valid: 1,
            },
            &["1 valid", "2 required"],
            Blame::Peer,
        ),
        (
            Error::SignatureKeyNotInRole {
                role: role(),
                key_id: "abc".into(),
            },
            &["abc"],
            Blame::Peer,
        ),
        (
            Error::SignatureMethodMismatch {
                role: role(),
                key_id: "abc".into(),
                method: "rsapss".into(),
                keytype: "ecdsa".into(),
            },
            &["abc", "rsapss", "ecdsa"],
            Blame::Peer,
        ),
        (
            Error::BadSignature {
                role: role(),
                key_id: "abc".into(),
            },
            &["abc"],
            Blame::Peer,
        ),
        (
            Error::KeyIdMismatch {
                listed: "abc".into(),
                computed: "def".into(),
            },
            &["abc", "def"],
            Blame::Peer,
        ),
        (
            Error::InvalidThreshold {
                role: role(),
                threshold: 3,
                keys: 1,
            },
            &["threshold 3", "1 keys"],
            Blame::Peer,
        ),
        (
            Error::RootCertificate {
                gun: gun(),
                key_id: "abc".into(),
                source: Box::new(keymgmt::Error::WeakCertificateSignature {
                    common_name: "example.com/app".into(),
                    algorithm: "sha1WithRSAEncryption".into(),
                }),
            },
            &["abc", "example.com/app"],
            Blame::Peer,
        ),
        (
            Error::RootKeyNotCertificate {
                gun: gun(),
                key_id: "abc".into(),
                keytype: "ecdsa".into(),
            },
            &["abc", "ecdsa"],
            Blame::Peer,
        ),
        (
            Error::RootNotPinned {
                gun: gun(),
                root_keys: vec!["abc".into()],
                failure: PinFailure::NoPinnedKey {
                    pinned: vec!["def".into()],
                },
            },
            &["example.com/app", "abc", "def"],
            Blame::Peer,
        ),
        (
            Error::RootRotationUnsigned {
                version: 3,
                source: Box::new(Error::ThresholdNotMet {
                    role: "root".into(),
                    required: 1,
                    valid: 0,
                }),
            },
            &["version 3"],
            Blame::Peer,
        ),
        (
            Error::TooManyRootRotations {
                trusted: 1,
                newest: 200,
                limit: 100,
            },
            &["200", "199 versions", "100"],
            Blame::Peer,
        ),
        (
            Error::DelegationPathViolation {
                role: "targets/releases".into(),
                target: "v1".into(),
                paths: vec!["beta/".into()],
            },
            &["targets/releases", "\"v1\"", "beta/"],
            Blame::Peer,
        ),
        (
            Error::Server {
                method: "GET",
                url: "https://notary/v2".into(),
                status: 500,
                message: "boom".into(),
            },
            &["GET", "https://notary/v2", "500", "boom"],
            Blame::Peer,
        ),
        (
            Error::Server {
                method: "POST",
                url: "https://notary/v2".into(),
                status: 401,
                message: "denied".into(),
            },
            &["POST", "401", "denied"],
            Blame::Caller,
        ),
        (
            Error::Canonical {
                reason: "a float".into(),
            },
            &["a float"],
            Blame::Input,
        ),
        (
            Error::InvalidPin {
                pattern: "example.com/*".into(),
                reason: "not a key ID".into(),
            },
            &["example.com/*", "not a key ID"],
            Blame::Input,
        ),
        (
            Error::InvalidRole {
                role: "targets/".into(),
            },
            &["\"targets/\""],
            Blame::Input,
        ),
        (
            Error::Config {
                reason: "TLS settings".into(),
                source: Some("bad CA".into()),
            },
            &["invalid configuration", "TLS settings"],
            Blame::Input,
        ),
        (
            Error::GunNotARepositoryName {
                gun: "a b".into(),
                reason: "it contains ' '".into(),
            },
            &["\"a b\"", "it contains ' '"],
            Blame::Input,
        ),
        (
            Error::ControlCharacterInName {
                name: "v\u{1}".into(),
                character: '\u{1}',
            },
            &["\\u{1}"],
            Blame::Input,
        ),
        (
            Error::NotPublished {
                gun: gun(),
                server: "https://notary".into(),
            },
            &["example.com/app", "https://notary"],
            Blame::Caller,
        ),
        (
            Error::NotInitialized { gun: gun() },
            &["example.com/app", "init"],
            Blame::Caller,
        ),
        (
            Error::TargetNotFound {
                gun: gun(),
                target: "v9".into(),
            },
            &["\"v9\"", "example.com/app"],
            Blame::Caller,
        ),
        (
            Error::MissingSigningKey {
                gun: gun(),
                role: role(),
                key_ids: vec!["abc".into()],
            },
            &["targets", "abc"],
            Blame::Caller,
        ),
        (
            Error::ParentRoleMissing {
                role: "targets/a/b".into(),
                parent: "targets/a".into(),
            },
            &["targets/a/b", "targets/a "],
            Blame::Caller,
        ),
        (
            Error::NoSuchChange {
                gun: gun(),
                number: 5,
                staged: 2,
            },
            &["number 5", "2 change"],
            Blame::Caller,
        ),
        (
            Error::GunOwnedByAnotherRoot {
                gun: gun(),
                server: "https://notary".into(),
                local_root_keys: vec!["abc".into()],
                server_root_keys: vec!["def".into()],
            },
            &["abc", "def", "https://notary"],
            Blame::Caller,
        ),
        (
            Error::CorruptCache {
                gun: gun(),
                role: "snapshot".into(),
                path: PathBuf::from("/trust/tuf/x/metadata/snapshot.json"),
                source: Box::new(Error::MalformedMetadata {
                    role: "snapshot".into(),
                    reason: "cut".into(),
                }),
            },
            &["snapshot.json", "not of the server"],
            Blame::Environment,
        ),
        (
            Error::Unreachable {
                url: "https://notary".into(),
                source: Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            },
            &["https://notary"],
            Blame::Environment,
        ),
        (
            Error::InvalidEnvironment {
                variable: "NOTARY_AUTH",
                reason: "not base64".into(),
            },
            &["NOTARY_AUTH", "not base64"],
            Blame::Environment,
        ),
        (
            Error::Changelist {
                path: PathBuf::from("/trust/tuf/x/changelist/1.change"),
                reason: "not JSON".into(),
            },
            &["1.change", "not JSON"],
            Blame::Environment,
        ),
        (
            Error::Io {
                action: "read",
                path: PathBuf::from("/trust/x"),
                source: std::io::Error::other("disk"),
            },
            &["read", "/trust/x", "disk"],
            Blame::Environment,
        ),
    ];
    for (error, needles, blame) in cases {
        assert_eq!(error.blame(), blame, "{error}");
        let message = error.to_string();
        for needle in needles {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
    }
}

#[test]
fn key_errors_answer_as_keymgmt_except_keys_read_from_metadata() {
    let malformed_key = key(keymgmt::Error::MalformedPublicKey {
        keytype: "ecdsa",
        reason: "short".into(),
    });
    assert_eq!(malformed_key.blame(), Blame::Peer);
    let unsupported = key(keymgmt::Error::UnsupportedKeyType {
        keytype: "dsa".into(),
    });
    assert_eq!(unsupported.blame(), Blame::Peer);
    let wrong_passphrase = key(keymgmt::Error::WrongPassphrase {
        key_id: "abc".into(),
        role: "targets".into(),
        gun: None,
    });
    assert_eq!(wrong_passphrase.blame(), Blame::Caller);
    let bad_gun = key(keymgmt::Error::InvalidGun {
        gun: "../x".into(),
        reason: "it has an empty, '.' or '..' path segment",
    });
    assert_eq!(bad_gun.blame(), Blame::Input);
    let io = key(keymgmt::Error::Io {
        action: "read",
        path: PathBuf::from("/trust/private/abc.key"),
        source: std::io::Error::other("disk"),
    });
    assert_eq!(io.blame(), Blame::Environment);
}

#[test]
fn network_and_configuration_errors_keep_their_cause_as_source() {
    use std::error::Error as _;
    let unreachable = Error::Unreachable {
        url: "https://notary".into(),
        source: Box::new(std::io::Error::other("connection refused")),
    };
    assert_eq!(unreachable.to_string(), "cannot reach https://notary");
    assert_eq!(
        unreachable.source().map(|s| s.to_string()).as_deref(),
        Some("connection refused")
    );
    assert_eq!(unreachable.blame(), Blame::Environment);

    let caused = Error::Config {
        reason: "TLS settings".into(),
        source: Some("CA certificate: not PEM".into()),
    };
    assert_eq!(caused.to_string(), "invalid configuration: TLS settings");
    assert_eq!(
        caused.source().map(|s| s.to_string()).as_deref(),
        Some("CA certificate: not PEM")
    );
    assert_eq!(caused.blame(), Blame::Input);

    let plain = Error::Config {
        reason: "\"x\" is not an http(s) URL".into(),
        source: None,
    };
    assert!(plain.source().is_none());
    assert_eq!(plain.blame(), Blame::Input);
}
