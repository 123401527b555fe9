//! The part of the OCI runtime spec (`config.json`, version 1.0.2) that our bundles use.
//!
//! Wire types only, no I/O. Fields we never set are left out rather than written empty, so
//! runc applies its own defaults for them.

use serde::{Deserialize, Serialize};

/// The runtime spec version runc 1.1 implements.
pub const OCI_VERSION: &str = "1.0.2";

/// A bundle's `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// The spec version.
    pub oci_version: String,
    /// The workload's process.
    pub process: Process,
    /// The root filesystem.
    pub root: Root,
    /// The container's hostname (its own UTS namespace).
    pub hostname: String,
    /// Mounts, in the order runc makes them.
    pub mounts: Vec<Mount>,
    /// Linux specifics: namespaces, cgroups, masked paths.
    pub linux: Linux,
}

/// The process runc starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    /// Whether it gets a terminal; ours never do (their output goes to a log).
    pub terminal: bool,
    /// Who it runs as.
    pub user: User,
    /// Program and arguments.
    pub args: Vec<String>,
    /// `KEY=value` pairs.
    pub env: Vec<String>,
    /// Working directory inside the container.
    pub cwd: String,
    /// Capability sets.
    pub capabilities: Capabilities,
    /// Resource limits (`RLIMIT_NOFILE`...).
    pub rlimits: Vec<Rlimit>,
    /// Whether setuid binaries may gain privileges.
    pub no_new_privileges: bool,
}

/// Numeric identity of the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
}

/// The capability sets, as `CAP_*` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The bounding set: the most the process and its children can ever hold.
    pub bounding: Vec<String>,
    /// The effective set.
    pub effective: Vec<String>,
    /// The permitted set.
    pub permitted: Vec<String>,
}

/// One resource limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// `RLIMIT_*` name.
    #[serde(rename = "type")]
    pub kind: String,
    /// Hard limit.
    pub hard: u64,
    /// Soft limit.
    pub soft: u64,
}

/// The root filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// Absolute path of the unpacked root filesystem on the host.
    pub path: String,
    /// Whether it is mounted read-only.
    pub readonly: bool,
}

/// One mount inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Path inside the container.
    pub destination: String,
    /// Filesystem type (`proc`, `tmpfs`, `bind`...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Source: a device, a host path for binds, or the filesystem name.
    pub source: String,
    /// Mount options.
    pub options: Vec<String>,
}

/// Linux-specific settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    /// Namespaces the container gets (or joins, when a path is given).
    pub namespaces: Vec<Namespace>,
    /// cgroup limits.
    pub resources: Resources,
    /// The container's cgroup, relative to each hierarchy's root.
    pub cgroups_path: String,
    /// Paths hidden from the workload.
    pub masked_paths: Vec<String>,
    /// Paths the workload may only read.
    pub readonly_paths: Vec<String>,
}

/// A namespace of the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    /// `pid`, `network`, `ipc`, `uts`, `mount` or `cgroup`.
    #[serde(rename = "type")]
    pub kind: String,
    /// An existing namespace to join instead of making a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// cgroup limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Device access rules (deny all; runc adds the standard allowed devices).
    pub devices: Vec<DeviceRule>,
    /// Memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// CPU bandwidth limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
}

/// A device cgroup rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRule {
    /// Allow or deny.
    pub allow: bool,
    /// `r`, `w`, `m` combined.
    pub access: String,
}

/// Memory limit in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// Bytes.
    pub limit: i64,
}

/// CPU bandwidth: `quota` microseconds of CPU time per `period`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    /// Microseconds of CPU time per period.
    pub quota: i64,
    /// The period in microseconds.
    pub period: u64,
}
