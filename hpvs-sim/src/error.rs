//! The appliance's one error type, and how each variant answers over the API.

use hpvs_api::wire::ErrorCode;

use crate::runtime::RuntimeError;

/// A `Result` with [`ApplianceError`].
pub type Result<T, E = ApplianceError> = std::result::Result<T, E>;

/// Everything a call to the appliance can fail with. [`ApplianceError::code`] says which API
/// error code (and so which HTTP status) it answers with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplianceError {
    /// A field of a request that breaks a rule of its own (an empty name, a zero size...).
    #[error("invalid {field} {value:?}: {expected}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// No such resource.
    #[error("{kind} {name:?} does not exist")]
    NotFound {
        /// `registry`, `repository`, `quotagroup`, `virtual server` or `image`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// The name is taken.
    #[error("{kind} {name:?} already exists")]
    Exists {
        /// The kind of resource.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A resource that others still use.
    #[error("{kind} {name:?} is in use by {holders:?}")]
    InUse {
        /// The kind of resource.
        kind: &'static str,
        /// Its name.
        name: String,
        /// What holds it (servers or repositories).
        holders: Vec<String>,
    },
    /// An env name the repository does not whitelist.
    #[error("env {name:?} is not in repository {repo:?}'s whitelist {whitelist:?}")]
    EnvNotWhitelisted {
        /// The refused name.
        name: String,
        /// The repository.
        repo: String,
        /// The names it allows.
        whitelist: Vec<String>,
    },
    /// An env name the appliance sets itself.
    #[error("env {name:?} is reserved by the appliance")]
    EnvReserved {
        /// The refused name.
        name: String,
    },
    /// A host port held by another server or another program.
    #[error("host port {port} is taken by {holder}")]
    PortTaken {
        /// The port.
        port: u16,
        /// Who holds it (`server NAME`, or `another program on this host`).
        holder: String,
    },
    /// Mounts that do not fit their quotagroup.
    #[error(
        "quotagroup {quotagroup:?} has {available} bytes available, the mounts ask for {requested}"
    )]
    QuotaExceeded {
        /// The quotagroup.
        quotagroup: String,
        /// Bytes asked for in it.
        requested: u64,
        /// Bytes it has left.
        available: u64,
    },
    /// A registration file the appliance refuses (not for it, corrupt, badly signed).
    #[error("registration file refused: {source}")]
    RegfileRejected {
        /// Why.
        #[source]
        source: ssc_register::Error,
    },
    /// No registry is registered for the repository's host.
    #[error(
        "no registry serves {repository_name:?}: add one whose url is {host:?} with `hpvs registry add`"
    )]
    NoRegistryFor {
        /// The registration's repository.
        repository_name: String,
        /// The host it names.
        host: String,
    },
    /// The schema of the state database is newer than this hpvs-sim.
    #[error(
        "the state database has schema version {found}, this hpvs-sim knows up to {supported}: use a newer hpvs-sim or another state directory"
    )]
    SchemaTooNew {
        /// The database's version.
        found: usize,
        /// The newest this build knows.
        supported: usize,
    },
    /// The state database failed.
    #[error("state database: {0}")]
    Database(#[from] rusqlite::Error),
    /// A sealed value that does not open (its key file was replaced, or the row damaged).
    #[error("a sealed {what} does not open with this appliance's sealing key")]
    Unseal {
        /// What was sealed.
        what: &'static str,
    },
    /// A file of the state directory could not be read or written.
    #[error("{action} {path}: {source}")]
    StateFile {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The appliance key could not be made or read.
    #[error("appliance key: {0}")]
    ApplianceKey(#[source] ssc_register::Error),
    /// The workload runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl ApplianceError {
    /// The API error code this error answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidField { .. } => ErrorCode::BadRequest,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Exists { .. } | Self::InUse { .. } => ErrorCode::Conflict,
            Self::EnvNotWhitelisted { .. } => ErrorCode::EnvNotWhitelisted,
            Self::EnvReserved { .. } => ErrorCode::EnvReserved,
            Self::PortTaken { .. } => ErrorCode::PortTaken,
            Self::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            Self::RegfileRejected { source } => match source {
                ssc_register::Error::VendorChanged { .. } => ErrorCode::VendorMismatch,
                _ => ErrorCode::RegfileRejected,
            },
            Self::NoRegistryFor { .. } => ErrorCode::NotFound,
            Self::Runtime(error) if error.is_bad_input() => ErrorCode::BadRequest,
            Self::SchemaTooNew { .. }
            | Self::Database(_)
            | Self::Unseal { .. }
            | Self::StateFile { .. }
            | Self::ApplianceKey(_)
            | Self::Runtime(_) => ErrorCode::Internal,
        }
    }
}
