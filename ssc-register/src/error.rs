//! The crate's one error type.

/// Everything that can go wrong while building, sealing or opening a registration file, or
/// while encrypting a contract or checking an attestation record.
///
/// Variants are named after the check that failed and carry the values it compared. No
/// third-party error type appears here: messages from rPGP, RSA or YAML parsers are kept as
/// text in `reason`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The repository name is empty or contains whitespace.
    #[error(
        "invalid repository name {name:?}: expected a non-empty name like docker.io/user/image"
    )]
    InvalidRepositoryName {
        /// The rejected name.
        name: String,
    },
    /// A user whitelist names an environment variable the appliance reserves for itself.
    #[error(
        "environment variable {name} is reserved by the appliance: remove it from the whitelist"
    )]
    ReservedEnvName {
        /// The reserved name found in the user whitelist.
        name: String,
    },
    /// A whitelist entry is not a valid environment variable name.
    #[error(
        "invalid environment variable name {name:?}: use letters, digits and '_', not starting with a digit"
    )]
    InvalidEnvName {
        /// The rejected name.
        name: String,
    },
    /// A DCT key ID is not 64 lower-case hex digits.
    #[error("invalid key id {key_id:?}: expected 64 lower-case hex digits")]
    InvalidKeyId {
        /// The rejected key ID.
        key_id: String,
    },
    /// The key ID given (or listed in root.json) is not the ID of the key.
    #[error("key id mismatch: got {actual} for the root key, expected {expected}")]
    KeyIdMismatch {
        /// The key ID that was given or listed.
        expected: String,
        /// The ID computed from the key.
        actual: String,
    },
    /// The root key (`public_key`) is not valid base64 or not a key notary knows.
    #[error("malformed root key: {reason}")]
    MalformedRootKey {
        /// What is wrong with it.
        reason: String,
    },
    /// `root.json` could not be read as notary root metadata.
    #[error("malformed root.json: {reason}")]
    MalformedRootJson {
        /// What is wrong with it.
        reason: String,
    },
    /// The root role does not list exactly one key, so the root key to pin is ambiguous.
    #[error(
        "root role lists {key_ids:?}: expected exactly one root key; pass the key id explicitly"
    )]
    AmbiguousRootKey {
        /// The key IDs the root role lists.
        key_ids: Vec<String>,
    },
    /// An armored OpenPGP key could not be parsed or its self-signatures do not verify.
    #[error("malformed openpgp key: {reason}")]
    MalformedOpenPgpKey {
        /// What is wrong with it.
        reason: String,
    },
    /// A user ID for a new key is empty or holds control characters.
    #[error(
        "invalid openpgp user id {user_id:?}: {reason}; use a name like \"Vendor <vendor@example.com>\""
    )]
    InvalidUserId {
        /// The rejected user ID.
        user_id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The passphrase does not unlock the secret key.
    #[error(
        "wrong passphrase for openpgp key {fingerprint} (private key checksum failure): check the passphrase"
    )]
    WrongPassphrase {
        /// The fingerprint of the key that stayed locked.
        fingerprint: String,
    },
    /// The key has no component valid for signing.
    #[error(
        "openpgp key {fingerprint} has no signing key: use a key with a sign-capable primary or subkey"
    )]
    NoSigningKey {
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// The key has no component valid for encryption.
    #[error("openpgp key {fingerprint} has no encryption key: use a key with an encryption subkey")]
    NoEncryptionKey {
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// An OpenPGP operation (key generation, encryption, signing, export) failed.
    #[error("openpgp {operation} failed: {reason}")]
    OpenPgp {
        /// What was being done.
        operation: &'static str,
        /// rPGP's description.
        reason: String,
    },
    /// The input is not an OpenPGP message.
    #[error("malformed openpgp message: {reason}")]
    MalformedMessage {
        /// What is wrong with it.
        reason: String,
    },
    /// The message is damaged: cut short, or a packet no longer parses.
    #[error(
        "registration file is corrupt: {reason}; get an intact copy of the file (e.g. from the vendor)"
    )]
    CorruptMessage {
        /// What is damaged.
        reason: String,
    },
    /// The message is not encrypted at all.
    #[error("registration file is not encrypted: expected a message encrypted to the appliance")]
    NotEncrypted,
    /// The message is encrypted, but to other keys than the appliance's.
    #[error(
        "registration file is encrypted to {recipients:?}, not to this appliance ({appliance:?}): encrypt it to the appliance key"
    )]
    NotForThisAppliance {
        /// Key IDs the message is encrypted to.
        recipients: Vec<String>,
        /// Key IDs of the appliance key.
        appliance: Vec<String>,
    },
    /// Decryption failed after the session key was found: the ciphertext was modified.
    #[error("registration file was tampered with: {reason}")]
    TamperedCiphertext {
        /// What failed (integrity check, padding, packet structure).
        reason: String,
    },
    /// The decrypted payload is larger than a registration may be.
    #[error("registration payload exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The message carries no signature.
    #[error("registration file is not signed: sign it with the vendor key")]
    Unsigned,
    /// The signature was not made by the vendor key the registration names (or the caller expects).
    #[error("registration file is signed by {signer:?}, not by the vendor key {vendor}")]
    SignerNotVendor {
        /// Issuer key IDs / fingerprints named in the signature.
        signer: Vec<String>,
        /// Fingerprint of the vendor key the signature was checked against.
        vendor: String,
    },
    /// The registration's `vendor_key` is not the vendor key the caller expects.
    #[error("vendor key mismatch: registration names {actual}, expected {expected}")]
    UnexpectedVendorKey {
        /// Fingerprint the caller expects.
        expected: String,
        /// Fingerprint of the key in `vendor_key`.
        actual: String,
    },
    /// An update of an existing registration is signed by a different vendor key.
    #[error(
        "registration update signed by {signer}, but the repository is registered by {registered}: sign updates with the registered vendor key"
    )]
    VendorChanged {
        /// Fingerprint of the vendor key already registered.
        registered: String,
        /// Fingerprint of the key that signed the update.
        signer: String,
    },
    /// An update names a different repository than the registration it replaces.
    #[error("registration update is for {actual}, expected {expected}")]
    RepositoryChanged {
        /// The registered repository name.
        expected: String,
        /// The repository name in the update.
        actual: String,
    },
    /// The registration JSON is not valid.
    #[error("malformed registration json: {reason}")]
    MalformedJson {
        /// The parser's description.
        reason: String,
    },
    /// A required registration field is absent.
    #[error("registration json lacks the field {field}")]
    MissingField {
        /// The missing field's name.
        field: &'static str,
    },
    /// An X.509 certificate or public key PEM could not be read.
    #[error("malformed certificate: {reason}")]
    MalformedCertificate {
        /// What is wrong with it.
        reason: String,
    },
    /// An RSA key (PEM) could not be read, or is not RSA.
    #[error("malformed rsa key: {reason}")]
    MalformedRsaKey {
        /// What is wrong with it.
        reason: String,
    },
    /// A PEM key of a kind this crate does not read: encrypted, EC, Ed25519, a public key...
    #[error(
        "unsupported key: {found}; supported are unencrypted rsa private keys in pem ('BEGIN PRIVATE KEY' or 'BEGIN RSA PRIVATE KEY'): {hint}"
    )]
    UnsupportedKey {
        /// What the key is.
        found: String,
        /// What to do instead.
        hint: &'static str,
    },
    /// An RSA encryption, decryption or signing operation failed.
    #[error("rsa {operation} failed: {reason}")]
    Rsa {
        /// What was being done.
        operation: &'static str,
        /// The backend's description.
        reason: String,
    },
    /// An encrypted section does not have the `hyper-protect-basic.<b64>.<b64>` shape.
    #[error("malformed encrypted section: {reason}")]
    MalformedSection {
        /// What is wrong with it.
        reason: String,
    },
    /// The symmetric layer of an encrypted section did not decrypt (wrong password or modified data).
    #[error("encrypted section does not decrypt: {reason}")]
    SectionDecryption {
        /// What failed.
        reason: String,
    },
    /// A contract section or contract is not valid YAML (or not a mapping).
    #[error("malformed yaml in {what}: {reason}")]
    MalformedYaml {
        /// Which document.
        what: &'static str,
        /// The parser's description.
        reason: String,
    },
    /// A line of an attestation record is not `<sha256 hex> <name>`.
    #[error("malformed attestation record line {line:?}: expected '<sha256 hex> <name>'")]
    MalformedAttestation {
        /// The offending line.
        line: String,
    },
    /// A contract section has no entry in the attestation record.
    #[error("attestation record has no entry for {entry}")]
    AttestationEntryMissing {
        /// The entry name, e.g. `contract:workload`.
        entry: String,
    },
    /// An attestation checksum differs from the contract's.
    #[error("attestation checksum mismatch for {entry}: got {actual}, expected {expected}")]
    AttestationMismatch {
        /// The entry name, e.g. `contract:env`.
        entry: String,
        /// sha256 of the contract's section.
        expected: String,
        /// The checksum in the record.
        actual: String,
    },
}

/// Whose fault an [`Error`] is: what a caller can do about it.
///
/// The same four answers as `keymgmt`, `notary-client` and `oci-push` give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Blame {
    /// Whoever made a sealed registration file, an encrypted section or an attestation record
    /// produced something a check refuses (not encrypted to this appliance, tampered, cut short,
    /// signed by another key, a different vendor or repository, checksums that differ): the
    /// file must be made again or fetched intact; retrying will not help.
    Peer,
    /// What the caller handed in to build or seal is wrong: names, whitelists, key IDs,
    /// `root.json`, OpenPGP or RSA keys, certificates, contract YAML.
    Input,
    /// The call cannot succeed as made: the passphrase does not unlock the key.
    Caller,
    /// A cryptographic operation of the backend failed (key generation, encryption, signing,
    /// export): a fault of the machine or the library, not of the data.
    Environment,
}

impl Error {
    /// Whose fault this error is (see [`Blame`]).
    pub fn blame(&self) -> Blame {
        match self {
            Error::MalformedMessage { .. }
            | Error::CorruptMessage { .. }
            | Error::NotEncrypted
            | Error::NotForThisAppliance { .. }
            | Error::TamperedCiphertext { .. }
            | Error::PayloadTooLarge { .. }
            | Error::Unsigned
            | Error::SignerNotVendor { .. }
            | Error::UnexpectedVendorKey { .. }
            | Error::VendorChanged { .. }
            | Error::RepositoryChanged { .. }
            | Error::MalformedJson { .. }
            | Error::MissingField { .. }
            | Error::MalformedSection { .. }
            | Error::SectionDecryption { .. }
            | Error::MalformedAttestation { .. }
            | Error::AttestationEntryMissing { .. }
            | Error::AttestationMismatch { .. } => Blame::Peer,
            // An RSA decryption fails on a ciphertext made for another key or modified.
            Error::Rsa {
                operation: "decryption",
                ..
            } => Blame::Peer,
            Error::InvalidRepositoryName { .. }
            | Error::ReservedEnvName { .. }
            | Error::InvalidEnvName { .. }
            | Error::InvalidKeyId { .. }
            | Error::KeyIdMismatch { .. }
            | Error::MalformedRootKey { .. }
            | Error::MalformedRootJson { .. }
            | Error::AmbiguousRootKey { .. }
            | Error::MalformedOpenPgpKey { .. }
            | Error::InvalidUserId { .. }
            | Error::NoSigningKey { .. }
            | Error::NoEncryptionKey { .. }
            | Error::MalformedCertificate { .. }
            | Error::MalformedRsaKey { .. }
            | Error::UnsupportedKey { .. }
            | Error::MalformedYaml { .. } => Blame::Input,
            Error::WrongPassphrase { .. } => Blame::Caller,
            Error::OpenPgp { .. } | Error::Rsa { .. } => Blame::Environment,
        }
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
