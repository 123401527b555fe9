//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong in keymgmt.
///
/// Variants are named after the check that failed and carry the offending values, so that a
/// caller can match on them and a person can act on the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key type string that notary does not know, or that this operation cannot use.
    #[error(
        "unsupported key type {keytype:?}: expected one of ecdsa, ecdsa-x509, rsa, rsa-x509, ed25519"
    )]
    UnsupportedKeyType {
        /// The key type as found.
        keytype: String,
    },
    /// Public key bytes that do not parse as the key type says.
    #[error("malformed {keytype} public key: {reason}")]
    MalformedPublicKey {
        /// The declared key type.
        keytype: &'static str,
        /// What did not parse.
        reason: String,
    },
    /// A private key file or blob that is corrupt or truncated (PEM or DER).
    #[error("corrupt private key{}: {reason}", describe_key(.key_id, .path))]
    CorruptPrivateKey {
        /// The key ID, when known (from the file name).
        key_id: Option<String>,
        /// The file, when the key came from one.
        path: Option<PathBuf>,
        /// What is wrong with it.
        reason: String,
    },
    /// The passphrase did not decrypt the key.
    #[error("wrong passphrase for {role} key {key_id}{}: check the passphrase variable for this role", gun_suffix(.gun))]
    WrongPassphrase {
        /// The key ID.
        key_id: String,
        /// The key's role (`root`, `targets`, `targets/releases`...).
        role: String,
        /// The GUN the key belongs to, for targets/snapshot keys.
        gun: Option<String>,
    },
    /// The passphrase source gave up (no variable set, prompt cancelled, too many attempts).
    #[error("no passphrase for {role} key {key_id}: {reason}")]
    PassphraseUnavailable {
        /// The key ID.
        key_id: String,
        /// The key's role.
        role: String,
        /// Why no passphrase could be had.
        reason: String,
    },
    /// No key with this ID in the key store.
    #[error("no private key {key_id} in {}: import it or generate a new one", .dir.display())]
    KeyNotFound {
        /// The key ID looked for.
        key_id: String,
        /// The `private/` directory searched.
        dir: PathBuf,
    },
    /// A signature method used with a key of another type (NCC 2015 finding).
    #[error("signature method {method} does not match key type {keytype}")]
    MethodMismatch {
        /// The method the signature claims.
        method: String,
        /// The type of the key it is checked with.
        keytype: &'static str,
    },
    /// A signature method notary does not know.
    #[error("unknown signature method {method:?}: expected ecdsa, rsapss, rsapkcs1v15 or eddsa")]
    UnknownSignatureMethod {
        /// The method as found.
        method: String,
    },
    /// A signature of the wrong length for its method.
    #[error("{method} signature is {actual} bytes, expected {expected}")]
    SignatureLength {
        /// The method.
        method: &'static str,
        /// The required length.
        expected: usize,
        /// The length found.
        actual: usize,
    },
    /// A signature that does not verify.
    #[error("invalid {method} signature by key {key_id}")]
    BadSignature {
        /// The signing key's ID.
        key_id: String,
        /// The method.
        method: &'static str,
    },
    /// An RSA key below the minimum size.
    #[error("key of {bits} bits is too small for RSA: at least {minimum} bits are required")]
    WeakRsaKey {
        /// The key size found.
        bits: usize,
        /// The minimum.
        minimum: usize,
    },
    /// A GUN that is empty, too long or could escape a directory.
    #[error("invalid GUN {gun:?}: {reason}")]
    InvalidGun {
        /// The GUN as given.
        gun: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A role name notary would not accept.
    #[error(
        "invalid role {role:?}: expected root, targets, snapshot, timestamp or targets/<name> matching [-a-z0-9_/]"
    )]
    InvalidRole {
        /// The role as given.
        role: String,
    },
    /// A certificate that does not parse.
    #[error("malformed certificate: {reason}")]
    MalformedCertificate {
        /// What did not parse.
        reason: String,
    },
    /// A root certificate whose common name is not the GUN.
    #[error("certificate common name {common_name:?} does not match GUN {gun:?}")]
    CertificateNameMismatch {
        /// The CN in the certificate.
        common_name: String,
        /// The GUN it was checked against.
        gun: String,
    },
    /// A certificate outside its validity period.
    #[error(
        "certificate for {common_name:?} is not valid now: valid from {not_before} until {not_after}"
    )]
    CertificateExpired {
        /// The CN in the certificate.
        common_name: String,
        /// Start of validity (RFC 3339).
        not_before: String,
        /// End of validity (RFC 3339).
        not_after: String,
    },
    /// A certificate signed with SHA-1 (or another digest notary refuses).
    #[error("certificate for {common_name:?} uses weak signature algorithm {algorithm}")]
    WeakCertificateSignature {
        /// The CN in the certificate.
        common_name: String,
        /// The signature algorithm OID or name.
        algorithm: String,
    },
    /// Certificate generation failed.
    #[error("cannot generate certificate {what}: {reason}")]
    CertificateGeneration {
        /// Which certificate.
        what: String,
        /// The reason.
        reason: String,
    },
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being done (`read`, `write`, `create directory`...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A passphrase for a new key file that is too short (notary's rule).
    #[error(
        "passphrase for new {role} key {key_id} is too short: use at least {minimum} characters, ideally a random one from a password manager"
    )]
    PassphraseTooShort {
        /// The key ID.
        key_id: String,
        /// The key's role.
        role: String,
        /// The minimum length in characters.
        minimum: usize,
    },
    /// A key store already holds a different file under this key ID.
    #[error("key {key_id} already exists at {}: {reason}", .path.display())]
    KeyExists {
        /// The key ID.
        key_id: String,
        /// The existing file.
        path: PathBuf,
        /// How the existing file differs and what to do.
        reason: String,
    },
}

impl Error {
    /// Wraps an I/O error with the action and path it happened on.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

fn describe_key(key_id: &Option<String>, path: &Option<PathBuf>) -> String {
    match (key_id, path) {
        (_, Some(path)) => format!(" {}", path.display()),
        (Some(id), None) => format!(" {id}"),
        (None, None) => String::new(),
    }
}

fn gun_suffix(gun: &Option<String>) -> String {
    gun.as_ref().map(|g| format!(" of {g}")).unwrap_or_default()
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant formats to a lowercase message that carries its values.
    #[test]
    fn every_variant_formats_with_its_values() {
        let path = PathBuf::from("/trust/private/abc.key");
        let cases: Vec<(Error, &[&str])> = vec![
            (
                Error::UnsupportedKeyType {
                    keytype: "dsa".into(),
                },
                &["\"dsa\"", "ecdsa-x509"],
            ),
            (
                Error::MalformedPublicKey {
                    keytype: "ecdsa",
                    reason: "short".into(),
                },
                &["ecdsa", "short"],
            ),
            (
                Error::CorruptPrivateKey {
                    key_id: None,
                    path: Some(path.clone()),
                    reason: "truncated".into(),
                },
                &["/trust/private/abc.key", "truncated"],
            ),
            (
                Error::WrongPassphrase {
                    key_id: "abc".into(),
                    role: "targets".into(),
                    gun: Some("example.com/app".into()),
                },
                &["abc", "targets", "example.com/app", "passphrase variable"],
            ),
            (
                Error::PassphraseUnavailable {
                    key_id: "abc".into(),
                    role: "root".into(),
                    reason: "set NOTARY_ROOT_PASSPHRASE".into(),
                },
                &["abc", "root", "NOTARY_ROOT_PASSPHRASE"],
            ),
            (
                Error::KeyNotFound {
                    key_id: "abc".into(),
                    dir: PathBuf::from("/trust/private"),
                },
                &["abc", "/trust/private"],
            ),
            (
                Error::MethodMismatch {
                    method: "eddsa".into(),
                    keytype: "ecdsa",
                },
                &["eddsa", "ecdsa"],
            ),
            (
                Error::UnknownSignatureMethod {
                    method: "hmac".into(),
                },
                &["hmac"],
            ),
            (
                Error::SignatureLength {
                    method: "ecdsa",
                    expected: 64,
                    actual: 70,
                },
                &["70", "64"],
            ),
            (
                Error::BadSignature {
                    key_id: "abc".into(),
                    method: "ecdsa",
                },
                &["abc", "ecdsa"],
            ),
            (
                Error::WeakRsaKey {
                    bits: 1024,
                    minimum: 2048,
                },
                &["1024", "2048"],
            ),
            (
                Error::InvalidGun {
                    gun: "../x".into(),
                    reason: "no .. segments",
                },
                &["../x", ".."],
            ),
            (
                Error::InvalidRole {
                    role: "Targets".into(),
                },
                &["Targets"],
            ),
            (
                Error::MalformedCertificate {
                    reason: "bad pem".into(),
                },
                &["bad pem"],
            ),
            (
                Error::CertificateNameMismatch {
                    common_name: "a".into(),
                    gun: "b".into(),
                },
                &["\"a\"", "\"b\""],
            ),
            (
                Error::CertificateExpired {
                    common_name: "a".into(),
                    not_before: "2020".into(),
                    not_after: "2021".into(),
                },
                &["2020", "2021"],
            ),
            (
                Error::WeakCertificateSignature {
                    common_name: "a".into(),
                    algorithm: "1.2.840.113549.1.1.5".into(),
                },
                &["1.2.840.113549.1.1.5"],
            ),
            (
                Error::CertificateGeneration {
                    what: "ca".into(),
                    reason: "boom".into(),
                },
                &["ca", "boom"],
            ),
            (
                Error::io("write", &path)(std::io::Error::other("disk full")),
                &["write", "/trust/private/abc.key", "disk full"],
            ),
            (
                Error::PassphraseTooShort {
                    key_id: "abc".into(),
                    role: "root".into(),
                    minimum: 8,
                },
                &["abc", "8"],
            ),
            (
                Error::KeyExists {
                    key_id: "abc".into(),
                    path: path.clone(),
                    reason: "different role".into(),
                },
                &["abc", "different role"],
            ),
        ];
        for (error, needles) in cases {
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
}
