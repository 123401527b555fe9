//! The appliance API's request and answer bodies, shared by the client and by the emulator
//! (`hpvs-sim`), with no I/O. Every body is JSON; names are the `hpvs` CLI's (`mountid`,
//! `containerport`, `reset_root`).
//!
//! Secrets (a registry's password) are [`Secret`]s: they serialise as the plain string in a
//! request and print as `[redacted]` in `Debug`; no answer type has a field that could hold
//! one.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use registry_http::Secret;
use serde::{Deserialize, Serialize};

/// The path every call of the API starts with.
pub const API_BASE: &str = "/api/v1";

/// The built-in repository whose servers run a Secure Build Server.
pub const SECURE_BUILD_REPOSITORY: &str = "SecureDockerBuild";

/// Env names the appliance sets itself: a user may never set them, even when a registration
/// file whitelists them.
pub const RESERVED_ENV: [&str; 11] = [
    "RUNQ_ROOTDISK",
    "RUNQ_RUNQENV",
    "RUNQ_SYSTEMD",
    "IMAGE_TAG",
    "REGION",
    "PHASE",
    "LPAR_NAME",
    "CPC",
    "RUNQ_CPU",
    "RUNQ_MEM",
    "POD",
];

/// `GET /appliance/key`: the OpenPGP key that registration files are encrypted to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplianceKey {
    /// The ASCII-armored public key.
    pub public_key: String,
    /// Its fingerprint, upper-case hex.
    pub fingerprint: String,
}

/// `POST /registries`: a container registry and its Notary server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewRegistry {
    /// The name servers and repositories refer to it by.
    pub name: String,
    /// The registry, `host[:port]` or a URL (`https://` unless `http://` is given).
    pub url: String,
    /// The Notary (Docker Content Trust) server's URL.
    pub dct: String,
    /// The user the appliance pulls as (empty for anonymous).
    #[serde(default)]
    pub user: String,
    /// The user's password or token; stored encrypted, never returned.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Password))]
    pub password: Secret,
}

/// `PUT /registries/{name}`: the fields to change (absent fields stay).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegistryUpdate {
    /// A new registry URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A new Notary URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dct: Option<String>,
    /// A new user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A new password or token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Password))]
    pub password: Option<Secret>,
}

/// A registry as the appliance reports it: never with its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Registry {
    /// Its name.
    pub name: String,
    /// The registry URL.
    pub url: String,
    /// The Notary URL.
    pub dct: String,
    /// The user (empty for anonymous).
    pub user: String,
    /// Whether a password is stored.
    pub has_password: bool,
}

/// `POST /repositories` and `PUT /repositories/{id}`: a registration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewRepository {
    /// The repository's ID (the lab's `REPO_ID`); on `PUT` it must match the path.
    pub id: String,
    /// The ASCII-armored registration file, encrypted to [`ApplianceKey`] and signed by the
    /// vendor's OpenPGP key.
    pub regfile: String,
}

/// A registered repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Repository {
    /// Its ID.
    pub id: String,
    /// The image repository, `host/path` (the registration's `repository_name`).
    pub repository_name: String,
    /// The DCT root key ID every tag is resolved against.
    pub root_key_id: String,
    /// The fingerprint of the vendor key that signed the registration; only it may update it.
    pub vendor_fingerprint: String,
    /// Env names a server may set (reserved names excluded).
    pub envs_whitelist: Vec<String>,
    /// Capabilities added to the default set.
    pub cap_add: Vec<String>,
    /// What runs its servers (`runc`, or `sbs` for [`SECURE_BUILD_REPOSITORY`]).
    pub runtime: String,
    /// The servers created from it.
    pub servers: Vec<String>,
}

/// The answer to `DELETE /repositories/{id}`: what went with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepositoryDeleted {
    /// The repository's ID.
    pub id: String,
    /// The servers deleted with it (`force` only).
    pub servers: Vec<String>,
    /// The image digests deleted with it (`force` only).
    pub images: Vec<String>,
}

/// A filesystem a quotagroup mount is formatted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Filesystem {
    /// ext4.
    Ext4,
    /// XFS.
    Xfs,
    /// Btrfs.
    Btrfs,
}

impl Filesystem {
    /// The name on the wire and in the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ext4 => "ext4",
            Self::Xfs => "xfs",
            Self::Btrfs => "btrfs",
        }
    }
}

impl fmt::Display for Filesystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Filesystem {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<Self, ParseError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ext4" => Ok(Self::Ext4),
            "xfs" => Ok(Self::Xfs),
            "btrfs" => Ok(Self::Btrfs),
            _ => Err(ParseError::new("filesystem", text, "ext4, xfs or btrfs")),
        }
    }
}

/// `POST /quotagroups`: a named storage pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewQuotagroup {
    /// Its name.
    pub name: String,
    /// Its size in bytes; the mounts of all servers in it may not exceed it.
    pub size: u64,
    /// The filesystem reported for the pool (each mount names its own).
    #[serde(default = "default_filesystem")]
    pub filesystem: Filesystem,
    /// Whether the pool is a passthrough device (recorded; the emulator uses loop files).
    #[serde(default)]
    pub passthrough: bool,
}

fn default_filesystem() -> Filesystem {
    Filesystem::Btrfs
}

/// A quotagroup as the appliance reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quotagroup {
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// The pool's filesystem.
    pub filesystem: Filesystem,
    /// Whether it is a passthrough device.
    pub passthrough: bool,
    /// The pool's ID on the appliance.
    pub pool_id: String,
    /// The servers with a mount in it.
    pub containers: Vec<String>,
    /// Bytes not given to any mount.
    pub available: u64,
}

/// One quotagroup mount of a virtual server (`--quotagroup "{quotagroup = Q, mountid = new,
/// mount = /newroot, filesystem = ext4, size = 4GB, reset_root = true}"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mount {
    /// The quotagroup it takes its size from.
    pub quotagroup: String,
    /// Its ID within the server.
    pub mountid: String,
    /// Where the server sees it (an absolute path).
    pub mount: String,
    /// Its filesystem.
    pub filesystem: Filesystem,
    /// Its size in bytes.
    pub size: u64,
    /// Empty it when the server is created.
    #[serde(default)]
    pub reset_root: bool,
}

/// A transport protocol of a port mapping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP, the only one the emulator forwards.
    #[default]
    Tcp,
}

/// A host port that reaches a container port (`--ports "{containerport = 443, protocol =
/// tcp, hostport = 30000}"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PortMapping {
    /// The port inside the server.
    pub containerport: u16,
    /// Its protocol.
    #[serde(default)]
    pub protocol: Protocol,
    /// The port on the appliance's host address; unique across servers.
    pub hostport: u16,
}

/// `POST /virtual-servers`: a server to create from a registered repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewVirtualServer {
    /// Its name (also its hostname).
    pub name: String,
    /// The repository ID.
    pub repo: String,
    /// The tag, resolved through Notary pinned to the repository's root.
    pub tag: String,
    /// CPUs.
    pub cpu: u32,
    /// Memory in MiB.
    pub ram: u64,
    /// Its quotagroup mounts.
    #[serde(default)]
    pub quotagroups: Vec<Mount>,
    /// Env values; each name must be whitelisted by the repository and not reserved.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Port mappings.
    #[serde(default)]
    pub ports: Vec<PortMapping>,
}

/// Where a virtual server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ServerState {
    /// Being resolved, pulled, verified, unpacked and started.
    Creating,
    /// Its workload runs.
    Running,
    /// Stopped by a call; `start` runs it again.
    Stopped,
    /// Creating or running failed; [`VirtualServer::reason`] says why.
    Failed,
}

impl ServerState {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A virtual server as the appliance reports it. Env values are not returned (they may
/// hold keys, as the Secure Build Server's do): only their names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VirtualServer {
    /// Its name.
    pub name: String,
    /// The repository ID.
    pub repo: String,
    /// The tag it was created from.
    pub tag: String,
    /// The image digest the tag resolved to, once resolved.
    pub digest: Option<String>,
    /// CPUs.
    pub cpu: u32,
    /// Memory in MiB.
    pub ram: u64,
    /// Its state.
    pub state: ServerState,
    /// Why it failed, when [`ServerState::Failed`]; the step that is running while creating.
    pub reason: Option<String>,
    /// Its quotagroup mounts.
    pub quotagroups: Vec<Mount>,
    /// The names of the env values it was given.
    pub env_names: Vec<String>,
    /// Its port mappings.
    pub ports: Vec<PortMapping>,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// When its workload last started (RFC 3339, UTC).
    pub started_at: Option<String>,
}

/// An image in the appliance's store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Image {
    /// The manifest digest, `sha256:<hex>`.
    pub digest: String,
    /// The repository ID it was pulled for.
    pub repo: String,
    /// The image repository it came from.
    pub repository_name: String,
    /// Bytes of its blobs (manifest, config and layers).
    pub size: u64,
    /// The servers running it.
    pub servers: Vec<String>,
}

/// An error answer: `{"code": "<STABLE_CODE>", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    /// What went wrong, stable across versions.
    pub code: ErrorCode,
    /// What went wrong and with which value, for a person.
    pub message: String,
}

/// The stable error codes of the API, each with its HTTP status ([`ErrorCode::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request is malformed (400).
    BadRequest,
    /// No bearer token, or a wrong one (401).
    Unauthorized,
    /// The named resource does not exist (404).
    NotFound,
    /// The name is taken, or the resource is held by another (409).
    Conflict,
    /// An env name the repository does not whitelist (422).
    EnvNotWhitelisted,
    /// An env name the appliance reserves (422).
    EnvReserved,
    /// A host port another server (or another program) holds (422).
    PortTaken,
    /// Mounts beyond their quotagroup's size (422).
    QuotaExceeded,
    /// A registration file the appliance key cannot open or whose signature fails (422).
    RegfileRejected,
    /// An update signed by another vendor key than the registration's (422).
    VendorMismatch,
    /// A tag whose root is not the registered one (422).
    PinnedRootMismatch,
    /// The appliance's own fault (500).
    Internal,
    /// A code this client does not know (a newer appliance).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status the appliance answers with.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::EnvNotWhitelisted
            | Self::EnvReserved
            | Self::PortTaken
            | Self::QuotaExceeded
            | Self::RegfileRejected
            | Self::VendorMismatch
            | Self::PinnedRootMismatch => 422,
            Self::Internal | Self::Unknown => 500,
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::EnvNotWhitelisted => "ENV_NOT_WHITELISTED",
            Self::EnvReserved => "ENV_RESERVED",
            Self::PortTaken => "PORT_TAKEN",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::RegfileRejected => "REGFILE_REJECTED",
            Self::VendorMismatch => "VENDOR_MISMATCH",
            Self::PinnedRootMismatch => "PINNED_ROOT_MISMATCH",
            Self::Internal => "INTERNAL",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value the CLI syntax or the API could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: expected {expected}")]
pub struct ParseError {
    /// What was being read (`size`, `filesystem`...).
    pub what: &'static str,
    /// The text given.
    pub value: String,
    /// What would have been accepted.
    pub expected: &'static str,
}

impl ParseError {
    fn new(what: &'static str, value: &str, expected: &'static str) -> Self {
        Self {
            what,
            value: value.to_owned(),
            expected,
        }
    }
}

/// Reads a size as the `hpvs` CLI writes it: a whole number with an optional unit `B`, `KB`,
/// `MB`, `GB` or `TB` (powers of 1024, as the appliance counts them; `KiB`... also accepted).
///
/// ```
/// assert_eq!(hpvs_api::wire::parse_size("4GB")?, 4 << 30);
/// assert_eq!(hpvs_api::wire::parse_size("512 MiB")?, 512 << 20);
/// assert!(hpvs_api::wire::parse_size("4 parsecs").is_err());
/// # Ok::<(), hpvs_api::wire::ParseError>(())
/// ```
pub fn parse_size(text: &str) -> Result<u64, ParseError> {
    const EXPECTED: &str = "a whole number with an optional unit B, KB, MB, GB or TB";
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| ParseError::new("size", text, EXPECTED))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(ParseError::new("size", text, EXPECTED)),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| ParseError::new("size", text, "a size under 16 EiB"))
}

/// Writes a byte count the way the CLI's tables show it (`4GB`, `512MB`, `1000B`): the
/// largest unit that divides it.
///
/// ```
/// assert_eq!(hpvs_api::wire::format_size(4 << 30), "4GB");
/// assert_eq!(hpvs_api::wire::format_size(1536 << 20), "1536MB");
/// ```
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(40, "TB"), (30, "GB"), (20, "MB"), (10, "KB")] {
        if bytes != 0 && bytes.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip_and_bad_ones_name_the_value() {
        for text in ["40GB", "4GB", "512MB", "1TB", "7B", "3KB"] {
            let bytes = parse_size(text).unwrap();
            assert_eq!(format_size(bytes), text);
        }
        let err = parse_size("4GX").unwrap_err();
        assert_eq!(err.value, "4GX");
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999TB").is_err());
    }

    #[test]
    fn error_codes_keep_their_wire_names_and_statuses() {
        let codes = [
            (ErrorCode::BadRequest, 400),
            (ErrorCode::Unauthorized, 401),
            (ErrorCode::NotFound, 404),
            (ErrorCode::Conflict, 409),
            (ErrorCode::EnvNotWhitelisted, 422),
            (ErrorCode::EnvReserved, 422),
            (ErrorCode::PortTaken, 422),
            (ErrorCode::QuotaExceeded, 422),
            (ErrorCode::RegfileRejected, 422),
            (ErrorCode::VendorMismatch, 422),
            (ErrorCode::PinnedRootMismatch, 422),
            (ErrorCode::Internal, 500),
        ];
        for (code, status) in codes {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert_eq!(code.status(), status);
        }
        let newer: ErrorCode = serde_json::from_str("\"SOMETHING_NEW\"").unwrap();
        assert_eq!(newer, ErrorCode::Unknown);
    }

    #[test]
    fn a_registry_password_is_sent_but_never_printed() {
        let registry = NewRegistry {
            name: "r".into(),
            url: "127.0.0.1:5000".into(),
            dct: "https://127.0.0.1:4443".into(),
            user: "u".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{registry:?}").contains("hunter2"));
        let json = serde_json::to_string(&registry).unwrap();
        assert!(json.contains("\"password\":\"hunter2\""));
    }

    #[test]
    fn a_mount_reads_the_cli_field_names() {
        let mount: Mount = serde_json::from_str(
            r#"{"quotagroup":"q","mountid":"new","mount":"/newroot","filesystem":"ext4","size":4294967296}"#,
        )
        .unwrap();
        assert_eq!(mount.filesystem, Filesystem::Ext4);
        assert!(!mount.reset_root);
        assert_eq!("BTRFS".parse::<Filesystem>().unwrap(), Filesystem::Btrfs);
        assert!("zfs".parse::<Filesystem>().is_err());
    }
}
