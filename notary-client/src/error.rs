//! The one error type of this crate.

use std::path::PathBuf;

/// Whose fault an [`Error`] is, from [`Error::blame`]: what a caller can do about it.
///
/// The same four answers as `keymgmt` and `oci-push` give (rustls's `PeerMisbehaved`,
/// `InvalidMessage` and `InvalidCertificate` are the model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Blame {
    /// The server, or the trust data it serves, fails a check: a bad signature, a rollback,
    /// an expired or unpinned root, a hash or length that differs, malformed metadata or a
    /// malformed key in it, an error status. Retrying will not help; the server or its data
    /// must change.
    Peer,
    /// What the caller handed in is malformed: a GUN, role or target name, a trust pin, a
    /// server URL or TLS file, metadata that cannot be written.
    Input,
    /// The call cannot succeed as made: a collection that is not initialised or published, a
    /// target or change that does not exist, a signing key the key store lacks, a GUN another
    /// root owns, credentials the server refuses, a wrong passphrase.
    Caller,
    /// The machine or the network let the operation down: the server cannot be reached, the
    /// local cache or changelist is unusable, a file operation failed, a passphrase or
    /// `NOTARY_AUTH` variable is missing or invalid. Fix the environment and retry.
    Environment,
}

/// Everything that can go wrong in notary-client.
///
/// Variants are named after the check that failed and carry the values compared. Each attack
/// of the TUF threat list and the notary audits has a variant of its own, so a caller (and a
/// test) can tell a rollback from a freeze from a substitution; [`Error::blame`] says whose
/// fault it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key, certificate or key store operation failed.
    #[error(transparent)]
    Key(Box<keymgmt::Error>),
    /// Metadata that cannot be written as canonical JSON (a float, say).
    #[error("cannot write canonical JSON: {reason}")]
    Canonical {
        /// Why.
        reason: String,
    },
    /// Metadata that does not parse or has the wrong shape.
    #[error("malformed {role} metadata: {reason}")]
    MalformedMetadata {
        /// The role whose file it is.
        role: String,
        /// What is wrong.
        reason: String,
    },
    /// A version outside `1..=MAX_VERSION` (huge versions lock clients out).
    #[error("{role} version {version} is out of range: expected 1 to {maximum}")]
    VersionOutOfRange {
        /// The role.
        role: String,
        /// The version found.
        version: i64,
        /// The largest accepted version.
        maximum: i64,
    },
    /// A file longer or shorter than the length its parent metadata records.
    #[error("{role} is {actual} bytes, expected {expected}")]
    LengthMismatch {
        /// The role or target.
        role: String,
        /// Length recorded by the parent.
        expected: i64,
        /// Length received.
        actual: i64,
    },
    /// A file whose hash differs from the one its parent records (substitution, mix-and-match).
    #[error("{role} {algorithm} hash is {actual}, expected {expected}")]
    HashMismatch {
        /// The role or target.
        role: String,
        /// `sha256` or `sha512`.
        algorithm: String,
        /// Hash recorded by the parent.
        expected: String,
        /// Hash of what was received.
        actual: String,
    },
    /// A response larger than allowed (endless data attack).
    #[error("{role} exceeds the {limit}-byte limit: the server sent more data than allowed")]
    TooLarge {
        /// The role being downloaded.
        role: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A file whose verified parent records a length over the limit of its kind: refused
    /// before it is requested (forged-length and endless data attacks).
    #[error(
        "{parent} records {role} as {length} bytes, over the {limit}-byte limit: refused before downloading it (raise Limits::{field} if the collection really is that large)"
    )]
    LengthOverLimit {
        /// The role of the file.
        role: String,
        /// The role whose metadata records the length.
        parent: String,
        /// The recorded length.
        length: i64,
        /// The limit in bytes.
        limit: u64,
        /// The [`Limits`](crate::limits::Limits) field that sets the limit.
        field: &'static str,
    },
    /// A version older than the one already trusted (rollback attack).
    #[error("{role} version {received} is older than the trusted version {cached}")]
    Rollback {
        /// The role.
        role: String,
        /// The trusted version.
        cached: i64,
        /// The version received.
        received: i64,
    },
    /// Metadata past its expiry (freeze attack, or an expired root).
    #[error("{role} metadata expired at {expires}")]
    Expired {
        /// The role.
        role: String,
        /// The `expires` value.
        expires: String,
    },
    /// Fewer valid signatures than the role's threshold.
    #[error("{role} has {valid} valid signatures, {required} required")]
    ThresholdNotMet {
        /// The role.
        role: String,
        /// The role's threshold.
        required: i64,
        /// Distinct valid signing keys found.
        valid: usize,
    },
    /// A signature by a key that the role does not list.
    #[error("{role} is signed by key {key_id}, which is not one of the role's keys")]
    SignatureKeyNotInRole {
        /// The role.
        role: String,
        /// The signing key.
        key_id: String,
    },
    /// A signature whose method does not fit its key type (NCC 2015).
    #[error("{role} signature by {key_id} uses method {method} with a {keytype} key")]
    SignatureMethodMismatch {
        /// The role.
        role: String,
        /// The signing key.
        key_id: String,
        /// The claimed method.
        method: String,
        /// The key's type.
        keytype: String,
    },
    /// A signature that does not verify.
    #[error("{role} signature by key {key_id} is invalid")]
    BadSignature {
        /// The role.
        role: String,
        /// The signing key.
        key_id: String,
    },
    /// A key listed under an ID that is not its own.
    #[error("key listed as {listed} has ID {computed}")]
    KeyIdMismatch {
        /// The ID in the metadata.
        listed: String,
        /// The ID computed from the key.
        computed: String,
    },
    /// A role with a threshold below 1 or above its number of keys.
    #[error("{role} threshold {threshold} is invalid for {keys} keys")]
    InvalidThreshold {
        /// The role.
        role: String,
        /// The threshold.
        threshold: i64,
        /// Number of keys listed.
        keys: usize,
    },
    /// A root certificate that fails notary's checks (CN, validity, SHA-1, key size).
    #[error("root certificate {key_id} is not acceptable for {gun}: {source}")]
    RootCertificate {
        /// The GUN.
        gun: String,
        /// The certificate's key ID.
        key_id: String,
        /// The failed check.
        #[source]
        source: Box<keymgmt::Error>,
    },
    /// A root key that is not an X.509 certificate.
    #[error("root key {key_id} of {gun} is a {keytype} key: root keys must be certificates")]
    RootKeyNotCertificate {
        /// The GUN.
        gun: String,
        /// The key.
        key_id: String,
        /// Its type.
        keytype: String,
    },
    /// A root that trust pinning rejects.
    #[error("root of {gun} is not pinned: its root keys are {root_keys:?}; {failure}")]
    RootNotPinned {
        /// The GUN.
        gun: String,
        /// The key IDs the root lists for the root role.
        root_keys: Vec<String>,
        /// Which pin it fails, with the pinned values.
        failure: crate::pinning::PinFailure,
    },
    /// A new root not signed by a threshold of the previous root's keys.
    #[error("root version {version} is not signed by the previous root's keys: {source}")]
    RootRotationUnsigned {
        /// The new root's version.
        version: i64,
        /// Why the old keys' threshold is not met.
        #[source]
        source: Box<Error>,
    },
    /// A root rotation longer than [`Limits::max_root_rotations`](crate::limits::Limits).
    #[error(
        "the server's root is version {newest}, {} versions after the trusted version {trusted}: over the limit of {limit} rotations in one update",
        newest - trusted
    )]
    TooManyRootRotations {
        /// The trusted root's version.
        trusted: i64,
        /// The newest root's version.
        newest: i64,
        /// The limit.
        limit: u64,
    },
    /// A trust pin that cannot be one (not a key ID, an unreadable CA certificate).
    #[error("invalid trust pin for {pattern:?}: {reason}")]
    InvalidPin {
        /// The GUN or GUN pattern the pin is for.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A cached metadata file that cannot be used: a problem of the local trust dir, not of
    /// the server. It is never read as "nothing cached", which would drop rollback protection.
    #[error(
        "the cached {role} metadata of {gun}, {}, is unusable: {source}. This is a problem of the local trust dir, not of the server: remove the local cache of {gun} (`trust delete {gun}` or `notary delete {gun}`; the server's copy stays) and fetch it again",
        .path.display()
    )]
    CorruptCache {
        /// The GUN.
        gun: String,
        /// The role whose cached file it is.
        role: String,
        /// The cached file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: Box<Error>,
    },
    /// A target signed by a delegation outside its paths.
    #[error("{role} signs {target:?}, outside its delegated paths {paths:?}")]
    DelegationPathViolation {
        /// The delegation.
        role: String,
        /// The target name.
        target: String,
        /// The paths it may sign.
        paths: Vec<String>,
    },
    /// A role name notary does not accept.
    #[error("invalid role {role:?}: expected targets or targets/<name> of [-a-z0-9_/]")]
    InvalidRole {
        /// The role as given.
        role: String,
    },
    /// The server has no trust data for this GUN.
    #[error("no trust data for {gun} on {server}: initialise and publish it first")]
    NotPublished {
        /// The GUN.
        gun: String,
        /// The server URL.
        server: String,
    },
    /// No local repository to publish: `init` was not run.
    #[error(
        "{gun} is not initialised in this trust dir and does not exist on the server: run init"
    )]
    NotInitialized {
        /// The GUN.
        gun: String,
    },
    /// A target name that no role lists.
    #[error("no target {target:?} in {gun}")]
    TargetNotFound {
        /// The GUN.
        gun: String,
        /// The target.
        target: String,
    },
    /// None of the role's private keys is in the key store.
    #[error("cannot sign {role} of {gun}: none of its keys {key_ids:?} is in the key store")]
    MissingSigningKey {
        /// The GUN.
        gun: String,
        /// The role.
        role: String,
        /// The role's key IDs.
        key_ids: Vec<String>,
    },
    /// The server answered with an error.
    #[error("{method} {url} failed with HTTP {status}: {message}")]
    Server {
        /// HTTP method.
        method: &'static str,
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The server's error code and message, or the body.
        message: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("cannot reach {url}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why: the HTTP, TLS or I/O error, with its own causes.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A bad client configuration (TLS files, URL).
    #[error("invalid configuration: {reason}")]
    Config {
        /// What is wrong, or what was being set up when `source` failed.
        reason: String,
        /// The TLS or HTTP library's error, when one refused the setting.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// An environment variable holds something unusable (`NOTARY_AUTH`).
    #[error("{variable} is invalid: {reason}")]
    InvalidEnvironment {
        /// The variable.
        variable: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// A GUN that is not a repository name docker accepts (it would be cut or decoded in URLs).
    #[error(
        "invalid GUN {gun:?}: {reason}; expected a repository name like registry.example.com/team/app"
    )]
    GunNotARepositoryName {
        /// The GUN as given.
        gun: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A target name or delegation path with a control character, which notary's canonical
    /// JSON cannot sign.
    #[error(
        "name {name:?} contains the control character {character:?}, which notary's canonical JSON cannot sign: use a name without control characters"
    )]
    ControlCharacterInName {
        /// The name as given.
        name: String,
        /// The first control character.
        character: char,
    },
    /// A nested delegation staged before its parent exists.
    #[error("parent role {parent} does not exist: add the delegation {parent} before {role}")]
    ParentRoleMissing {
        /// The delegation being added.
        role: String,
        /// Its missing parent.
        parent: String,
    },
    /// A reset of a change number that the status does not list.
    #[error(
        "{gun} has no staged change number {number}: status lists {staged} change(s), numbered from 0"
    )]
    NoSuchChange {
        /// The GUN.
        gun: String,
        /// The number asked for.
        number: usize,
        /// How many changes are staged.
        staged: usize,
    },
    /// A collection initialised in this trust dir whose GUN the server already holds under a
    /// different root key.
    #[error(
        "{gun} already exists on {server} under another root (root keys {server_root_keys:?}, this trust dir's are {local_root_keys:?}): choose another GUN, or `delete {gun}` locally and work with the existing collection"
    )]
    GunOwnedByAnotherRoot {
        /// The GUN.
        gun: String,
        /// The server URL.
        server: String,
        /// Root key IDs of the local, unpublished root.
        local_root_keys: Vec<String>,
        /// Root key IDs of the server's root.
        server_root_keys: Vec<String>,
    },
    /// A staged change that cannot be read.
    #[error("unreadable staged change {}: {reason}", .path.display())]
    Changelist {
        /// The change file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl From<keymgmt::Error> for Error {
    fn from(error: keymgmt::Error) -> Self {
        Error::Key(Box::new(error))
    }
}

impl Error {
    /// Whose fault this error is ([`Blame`]). A key store error ([`Error::Key`]) answers as
    /// `keymgmt` does, except that a malformed or unsupported public key or certificate is
    /// [`Blame::Peer`]: this crate reads those only from metadata.
    pub fn blame(&self) -> Blame {
        match self {
            Error::Key(error) => key_blame(error),
            Error::MalformedMetadata { .. }
            | Error::VersionOutOfRange { .. }
            | Error::LengthMismatch { .. }
            | Error::HashMismatch { .. }
            | Error::TooLarge { .. }
            | Error::LengthOverLimit { .. }
            | Error::Rollback { .. }
            | Error::Expired { .. }
            | Error::ThresholdNotMet { .. }
            | Error::SignatureKeyNotInRole { .. }
            | Error::SignatureMethodMismatch { .. }
            | Error::BadSignature { .. }
            | Error::KeyIdMismatch { .. }
            | Error::InvalidThreshold { .. }
            | Error::RootCertificate { .. }
            | Error::RootKeyNotCertificate { .. }
            | Error::RootNotPinned { .. }
            | Error::RootRotationUnsigned { .. }
            | Error::TooManyRootRotations { .. }
            | Error::DelegationPathViolation { .. } => Blame::Peer,
            Error::Server { status, .. } => match status {
                401 | 403 => Blame::Caller,
                _ => Blame::Peer,
            },
            Error::Canonical { .. }
            | Error::InvalidPin { .. }
            | Error::InvalidRole { .. }
            | Error::Config { .. }
            | Error::GunNotARepositoryName { .. }
            | Error::ControlCharacterInName { .. } => Blame::Input,
            Error::NotPublished { .. }
            | Error::NotInitialized { .. }
            | Error::TargetNotFound { .. }
            | Error::MissingSigningKey { .. }
            | Error::ParentRoleMissing { .. }
            | Error::NoSuchChange { .. }
            | Error::GunOwnedByAnotherRoot { .. } => Blame::Caller,
            Error::CorruptCache { .. }
            | Error::Unreachable { .. }
            | Error::InvalidEnvironment { .. }
            | Error::Changelist { .. }
            | Error::Io { .. } => Blame::Environment,
        }
    }

    #[cfg(feature = "client")]
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

/// keymgmt's answer for `error`, with public keys and certificates (read here only from
/// metadata) the peer's.
fn key_blame(error: &keymgmt::Error) -> Blame {
    use keymgmt::Error as Key;
    match error {
        Key::UnsupportedKeyType { .. }
        | Key::MalformedPublicKey { .. }
        | Key::MalformedCertificate { .. }
        | Key::WeakRsaKey { .. } => Blame::Peer,
        other => match other.blame() {
            keymgmt::Blame::Peer => Blame::Peer,
            keymgmt::Blame::Input => Blame::Input,
            keymgmt::Blame::Caller => Blame::Caller,
            _ => Blame::Environment,
        },
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
