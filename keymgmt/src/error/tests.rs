//! Every variant formatted, with the blame it carries.

use super::*;

/// Every variant formats to a lowercase message that carries its values, and says whose
/// fault it is.
#[test]
fn every_variant_formats_with_its_values() {
    let path = PathBuf::from("/trust/private/abc.key");
    let cases: Vec<(Error, &[&str], Blame)> = vec![
        (
            Error::UnsupportedKeyType {
                keytype: "dsa".into(),
            },
            &["\"dsa\"", "ecdsa-x509"],
            Blame::Input,
        ),
        (
            Error::MalformedPublicKey {
                keytype: "ecdsa",
                reason: "short".into(),
            },
            &["ecdsa", "short"],
            Blame::Input,
        ),
        (
            Error::CorruptPrivateKey {
                key_id: None,
                path: Some(path.clone()),
                reason: "truncated".into(),
            },
            &["/trust/private/abc.key", "truncated"],
            Blame::Input,
        ),
        (
            Error::WrongPassphrase {
                key_id: "abc".into(),
                role: "targets".into(),
                gun: Some("example.com/app".into()),
            },
            &["abc", "targets", "example.com/app", "passphrase variable"],
            Blame::Caller,
        ),
        (
            Error::PassphraseUnavailable {
                key_id: "abc".into(),
                role: "root".into(),
                reason: "set NOTARY_ROOT_PASSPHRASE".into(),
            },
            &["abc", "root", "NOTARY_ROOT_PASSPHRASE"],
            Blame::Environment,
        ),
        (
            Error::KeyNotFound {
                key_id: "abc".into(),
                dir: PathBuf::from("/trust/private"),
            },
            &["abc", "/trust/private"],
            Blame::Caller,
        ),
        (
            Error::MethodMismatch {
                method: "eddsa".into(),
                keytype: "ecdsa",
            },
            &["eddsa", "ecdsa"],
            Blame::Input,
        ),
        (
            Error::UnknownSignatureMethod {
                method: "hmac".into(),
            },
            &["hmac"],
            Blame::Input,
        ),
        (
            Error::SignatureLength {
                method: "ecdsa",
                expected: 64,
                actual: 70,
            },
            &["70", "64"],
            Blame::Input,
        ),
        (
            Error::BadSignature {
                key_id: "abc".into(),
                method: "ecdsa",
            },
            &["abc", "ecdsa"],
            Blame::Input,
        ),
        (
            Error::WeakRsaKey {
                bits: 1024,
                minimum: 2048,
            },
            &["1024", "2048"],
            Blame::Input,
        ),
        (
            Error::InvalidGun {
                gun: "../x".into(),
                reason: "no .. segments",
            },
            &["../x", ".."],
            Blame::Input,
        ),
        (
            Error::InvalidRole {
                role: "Targets".into(),
            },
            &["Targets"],
            Blame::Input,
        ),
        (
            Error::MalformedCertificate {
                reason: "bad pem".into(),
            },
            &["bad pem"],
            Blame::Input,
        ),
        (
            Error::CertificateNameMismatch {
                common_name: "a".into(),
                gun: "b".into(),
            },
            &["\"a\"", "\"b\""],
            Blame::Input,
        ),
        (
            Error::CertificateExpired {
                common_name: "a".into(),
                now: time::macros::datetime!(2022-03-04 05:06:07 UTC),
                not_before: time::macros::datetime!(2020-01-01 00:00:00 UTC),
                not_after: time::macros::datetime!(2021-01-01 00:00:00 UTC),
            },
            &[
                "2022-03-04T05:06:07Z",
                "2020-01-01T00:00:00Z",
                "2021-01-01T00:00:00Z",
            ],
            Blame::Input,
        ),
        (
            Error::WeakCertificateSignature {
                common_name: "a".into(),
                algorithm: "1.2.840.113549.1.1.5".into(),
            },
            &["1.2.840.113549.1.1.5"],
            Blame::Input,
        ),
        (
            Error::CertificateGeneration {
                what: "ca".into(),
                reason: "boom".into(),
            },
            &["ca", "boom"],
            Blame::Environment,
        ),
        (
            Error::io("write", &path)(std::io::Error::other("disk full")),
            &["write", "/trust/private/abc.key", "disk full"],
            Blame::Environment,
        ),
        (
            Error::PassphraseTooShort {
                key_id: "abc".into(),
                role: "root".into(),
                minimum: 8,
            },
            &["abc", "8"],
            Blame::Input,
        ),
        (
            Error::KeyExists {
                path: path.clone(),
                stored_role: "root".into(),
                stored_gun: None,
                role: "targets".into(),
                gun: Some("example.com/app".into()),
            },
            &["abc", "\"root\"", "\"targets\"", "\"example.com/app\""],
            Blame::Caller,
        ),
        (
            Error::NotCertificateAuthority {
                common_name: "leaf".into(),
            },
            &["\"leaf\"", "CA:TRUE"],
            Blame::Input,
        ),
        (
            Error::CaKeyMismatch {
                common_name: "ca".into(),
            },
            &["\"ca\"", "matching key"],
            Blame::Input,
        ),
        (
            Error::NonAsciiDnsName {
                name: "bücher.example".into(),
            },
            &["\"bücher.example\"", "punycode"],
            Blame::Input,
        ),
        (
            Error::FileExists { path: path.clone() },
            &["/trust/private/abc.key", "exists"],
            Blame::Caller,
        ),
        (
            Error::LegacyKeyConflict {
                key_id: "abc".into(),
                path: path.clone(),
                legacy_path: PathBuf::from("/trust/private/root_keys/abc_root.key"),
            },
            &["abc", "/trust/private/abc.key", "root_keys/abc_root.key"],
            Blame::Caller,
        ),
        (
            Error::UnexpectedPem {
                expected: "PUBLIC KEY",
                found: Some("PRIVATE KEY".into()),
            },
            &["PUBLIC KEY", "\"PRIVATE KEY\""],
            Blame::Input,
        ),
        (
            Error::UnexpectedPem {
                expected: "PUBLIC KEY",
                found: None,
            },
            &["no PEM block"],
            Blame::Input,
        ),
        (
            Error::MalformedSshKey {
                reason: "truncated".into(),
            },
            &["OpenSSH", "truncated"],
            Blame::Input,
        ),
        (
            Error::EncryptedSshKey {
                fingerprint: "SHA256:abc".into(),
            },
            &["SHA256:abc", "ssh-keygen -p"],
            Blame::Input,
        ),
        (
            Error::UnsupportedSshKeyType {
                algorithm: "ecdsa-sha2-nistp256".into(),
            },
            &["ecdsa-sha2-nistp256", "ssh-ed25519"],
            Blame::Input,
        ),
        (
            Error::InvalidSshComment {
                comment: "a\nb".into(),
            },
            &["\"a\\nb\"", "line break"],
            Blame::Input,
        ),
        (
            Error::InvalidKeyFileName {
                name: "../id".into(),
                reason: "it contains '/' or NUL",
            },
            &["\"../id\"", "'/'"],
            Blame::Input,
        ),
        (
            Error::SshKeyGeneration {
                kind: crate::ssh::SshKeyKind::Rsa4096,
                reason: "no entropy".into(),
            },
            &["RSA 4096", "no entropy"],
            Blame::Environment,
        ),
    ];
    for (error, needles, blame) in cases {
        assert_eq!(error.blame(), blame, "{error}");
        let message = error.to_string();
        assert!(
            message.chars().next().is_some_and(|c| !c.is_uppercase()),
            "{message}"
        );
        for needle in needles {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
    }
}
