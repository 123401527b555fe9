//! The one error type of this crate.

use std::path::PathBuf;

use time::OffsetDateTime;

/// Whose fault an [`Error`] is: what a caller can do about it.
///
/// The same four answers as `notary-client` and `oci-push` give. keymgmt talks to no server,
/// so it never answers [`Peer`](Blame::Peer) itself; a caller that got the bytes from a server
/// (`notary-client` verifying metadata) reports their [`Input`](Blame::Input) errors as `Peer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Blame {
    /// A remote party sent something that fails a check: retrying will not help, the peer or
    /// the data it serves must change.
    Peer,
    /// The bytes handed in (key files, PEM, certificates, signatures, key JSON, names) are
    /// malformed, of an unsupported kind, or fail a check: fix or replace them.
    Input,
    /// The call itself cannot succeed as made (a wrong passphrase, a key that is not in the
    /// store, a key stored for another role): change the request or the state it assumes.
    Caller,
    /// The machine let the operation down (file system, missing passphrase variables, random
    /// number or certificate generation): fix the environment and retry.
    Environment,
}

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
    /// Input that holds no PEM block of the kind the operation reads.
    #[error("expected a PEM {expected} block, found {}", describe_pem(.found))]
    UnexpectedPem {
        /// The block types that would have been read.
        expected: &'static str,
        /// The type of the first PEM block found, `None` when there is no PEM block at all.
        found: Option<String>,
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
        "certificate for {common_name:?} is not valid at {}: valid from {} until {}",
        rfc3339(.now), rfc3339(.not_before), rfc3339(.not_after)
    )]
    CertificateExpired {
        /// The CN in the certificate.
        common_name: String,
        /// The time it was checked at.
        now: OffsetDateTime,
        /// Start of validity.
        not_before: OffsetDateTime,
        /// End of validity.
        not_after: OffsetDateTime,
    },
    /// A certificate signed with SHA-1 (or another digest notary refuses).
    #[error("certificate for {common_name:?} uses weak signature algorithm {algorithm}")]
    WeakCertificateSignature {
        /// The CN in the certificate.
        common_name: String,
        /// The signature algorithm OID or name.
        algorithm: String,
    },
    /// A certificate loaded as a CA that is not one.
    #[error(
        "certificate {common_name:?} is not a CA (no basicConstraints CA:TRUE): load a CA certificate"
    )]
    NotCertificateAuthority {
        /// The certificate's CN.
        common_name: String,
    },
    /// A CA private key that is not the key of the CA certificate.
    #[error(
        "the private key does not belong to the CA certificate {common_name:?}: pass the matching key"
    )]
    CaKeyMismatch {
        /// The CA certificate's CN.
        common_name: String,
    },
    /// A DNS subject alternative name that is not ASCII (certificates hold IA5 strings).
    #[error("non-ASCII DNS name {name:?}: use its punycode form")]
    NonAsciiDnsName {
        /// The name as given.
        name: String,
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
    /// A file that was to be written new exists already.
    #[error("{} exists already", .path.display())]
    FileExists {
        /// The file.
        path: PathBuf,
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
    /// A key store already holds this key for another role or GUN.
    #[error(
        "key file {} already exists for role {stored_role:?} and GUN {:?}, not {role:?} and {:?}: remove it first to store it again",
        .path.display(), .stored_gun.as_deref().unwrap_or_default(), .gun.as_deref().unwrap_or_default()
    )]
    KeyExists {
        /// The existing file (named by the key ID).
        path: PathBuf,
        /// The role the existing file is stored for (empty when it has no role header).
        stored_role: String,
        /// The GUN the existing file is stored for.
        stored_gun: Option<String>,
        /// The role asked for.
        role: String,
        /// The GUN asked for.
        gun: Option<String>,
    },
    /// A key in the pre-0.4 layout differs from the file of the same key ID in `private/`.
    #[error(
        "key {key_id} exists at {} and, different, at {} in the pre-0.4 layout: compare them and remove one",
        .path.display(), .legacy_path.display()
    )]
    LegacyKeyConflict {
        /// The key ID.
        key_id: String,
        /// The file in the current layout.
        path: PathBuf,
        /// The file in the pre-0.4 layout that could not be moved.
        legacy_path: PathBuf,
    },
    /// An OpenSSH private key block that does not decode.
    #[error("malformed OpenSSH private key: {reason}")]
    MalformedSshKey {
        /// What did not decode.
        reason: String,
    },
    /// An OpenSSH private key protected by a passphrase, where an unencrypted one is needed.
    #[error(
        "encrypted OpenSSH private key {fingerprint}: remove its passphrase with ssh-keygen -p -N '' or use an unencrypted key"
    )]
    EncryptedSshKey {
        /// The key's `SHA256:` fingerprint (its public half is stored unencrypted).
        fingerprint: String,
    },
    /// An OpenSSH key of a type that is not Ed25519 or RSA.
    #[error("unsupported SSH key type {algorithm}: expected ssh-ed25519 or ssh-rsa")]
    UnsupportedSshKeyType {
        /// The key's algorithm name.
        algorithm: String,
    },
    /// An SSH key comment that would break the one-line public key.
    #[error("invalid SSH key comment {comment:?}: it must not contain a line break")]
    InvalidSshComment {
        /// The comment as given.
        comment: String,
    },
    /// A key file name that is not a plain file name.
    #[error("invalid key file name {name:?}: {reason}")]
    InvalidKeyFileName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// SSH key generation failed.
    #[error("cannot generate {kind} SSH key: {reason}")]
    SshKeyGeneration {
        /// The kind of key.
        kind: crate::ssh::SshKeyKind,
        /// The reason.
        reason: String,
    },
}

impl Error {
    /// Whose fault this error is (see [`Blame`]).
    pub fn blame(&self) -> Blame {
        match self {
            Error::UnsupportedKeyType { .. }
            | Error::MalformedPublicKey { .. }
            | Error::UnexpectedPem { .. }
            | Error::CorruptPrivateKey { .. }
            | Error::MethodMismatch { .. }
            | Error::UnknownSignatureMethod { .. }
            | Error::SignatureLength { .. }
            | Error::BadSignature { .. }
            | Error::WeakRsaKey { .. }
            | Error::InvalidGun { .. }
            | Error::InvalidRole { .. }
            | Error::MalformedCertificate { .. }
            | Error::CertificateNameMismatch { .. }
            | Error::CertificateExpired { .. }
            | Error::WeakCertificateSignature { .. }
            | Error::PassphraseTooShort { .. }
            | Error::NotCertificateAuthority { .. }
            | Error::CaKeyMismatch { .. }
            | Error::NonAsciiDnsName { .. }
            | Error::MalformedSshKey { .. }
            | Error::EncryptedSshKey { .. }
            | Error::UnsupportedSshKeyType { .. }
            | Error::InvalidSshComment { .. }
            | Error::InvalidKeyFileName { .. } => Blame::Input,
            Error::WrongPassphrase { .. }
            | Error::KeyNotFound { .. }
            | Error::KeyExists { .. }
            | Error::LegacyKeyConflict { .. }
            | Error::FileExists { .. } => Blame::Caller,
            Error::PassphraseUnavailable { .. }
            | Error::CertificateGeneration { .. }
            | Error::SshKeyGeneration { .. }
            | Error::Io { .. } => Blame::Environment,
        }
    }

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

fn describe_pem(found: &Option<String>) -> String {
    found
        .as_ref()
        .map_or_else(|| "no PEM block".to_owned(), |tag| format!("{tag:?}"))
}

fn rfc3339(t: &OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn gun_suffix(gun: &Option<String>) -> String {
    gun.as_ref().map(|g| format!(" of {g}")).unwrap_or_default()
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
