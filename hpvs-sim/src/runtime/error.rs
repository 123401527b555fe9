//! The runtime's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while preparing, running or removing a workload.
///
/// Variants are split by blame: the image or the server's settings were refused (bad input),
/// a host tool failed or is missing (the environment), or the host's state is not what we
/// left (a container or mount that is not ours).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A server name that cannot name a container, a hostname and a namespace.
    #[error("invalid server name {name:?}: {reason}")]
    InvalidServerName {
        /// The refused name.
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A mount id that cannot name a file in the state directory.
    #[error("invalid mount id {mount_id:?}: {reason}")]
    InvalidMountId {
        /// The refused id.
        mount_id: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A container path for a mount that is not absolute, is `/`, or climbs with `..`.
    #[error(
        "invalid mount path {path:?}: expected an absolute path below /, without . or .., outside /proc, /sys and /dev"
    )]
    InvalidMountPath {
        /// The refused path.
        path: PathBuf,
    },
    /// Two mounts of one server with the same id or the same container path.
    #[error("mount {value:?} appears twice in the server's mounts")]
    DuplicateMount {
        /// The repeated id or path.
        value: String,
    },
    /// A mount smaller than its filesystem can be made in.
    #[error(
        "mount {mount_id:?} of {size} bytes is too small for {filesystem}: expected at least {minimum}"
    )]
    MountTooSmall {
        /// The mount's id.
        mount_id: String,
        /// The asked size in bytes.
        size: u64,
        /// The filesystem asked for.
        filesystem: &'static str,
        /// The smallest size that filesystem accepts.
        minimum: u64,
    },
    /// A filesystem name other than ext4, xfs or btrfs.
    #[error("unsupported filesystem {filesystem:?}: expected ext4, xfs or btrfs")]
    UnsupportedFilesystem {
        /// The refused name.
        filesystem: String,
    },
    /// An environment variable name that is empty or holds `=` or NUL.
    #[error("invalid environment variable name {name:?}")]
    InvalidEnvName {
        /// The refused name.
        name: String,
    },
    /// A capability name that the kernel does not know.
    #[error("unknown capability {name:?}")]
    UnknownCapability {
        /// The refused name, as given.
        name: String,
    },
    /// The image config document is not JSON of the expected shape.
    #[error("invalid image config: {detail}")]
    InvalidImageConfig {
        /// What did not parse.
        detail: String,
    },
    /// The image config has neither an entrypoint nor a command.
    #[error("the image config has no Entrypoint and no Cmd: nothing to run")]
    NoCommand,
    /// The image's working directory is not absolute.
    #[error("image WorkingDir {dir:?} is relative: expected an absolute path")]
    RelativeWorkingDir {
        /// The refused directory.
        dir: String,
    },
    /// The image's `User` names a user that the root filesystem's `/etc/passwd` lacks.
    #[error("user {user:?} not found in {passwd}")]
    UserNotFound {
        /// The user name.
        user: String,
        /// The passwd file searched.
        passwd: PathBuf,
    },
    /// The image's `User` names a group that the root filesystem's `/etc/group` lacks.
    #[error("group {group:?} not found in {group_file}")]
    GroupNotFound {
        /// The group name.
        group: String,
        /// The group file searched.
        group_file: PathBuf,
    },
    /// The image's `User` is neither a name nor a number, or has more than one `:`.
    #[error("invalid image User {user:?}: expected user[:group] by name or number")]
    InvalidUser {
        /// The refused value.
        user: String,
    },
    /// A file the runtime reads from the root filesystem is a symlink or too large: reading it
    /// could reach a host file.
    #[error("refusing {path}: {reason}")]
    UnsafeRootfsFile {
        /// The file in the root filesystem.
        path: PathBuf,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The root filesystem directory is not an absolute path to a directory.
    #[error("root filesystem {path} is not an absolute path to a directory")]
    InvalidRootfs {
        /// The refused path.
        path: PathBuf,
    },
    /// A port forwarder asked to listen on an address off the loopback.
    #[error("refusing to listen on {addr}: expected a loopback address")]
    NonLoopbackAddress {
        /// The refused address.
        addr: std::net::SocketAddr,
    },
    /// The runtime needs root (runc, loop devices, mounts, namespaces).
    #[error(
        "the workload runtime needs root (runc, loop mounts, network namespaces): running as uid {euid}"
    )]
    NotRoot {
        /// The process's effective uid.
        euid: u32,
    },
    /// A host tool is not installed.
    #[error("{tool} not found on PATH: install it with scripts/install-peers.sh")]
    ToolMissing {
        /// The missing program.
        tool: &'static str,
    },
    /// A host tool exited with an error.
    #[error("{command} exited with {status}: {stderr}")]
    ToolFailed {
        /// The command line that failed.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The end of what it wrote to stderr (or to its log).
        stderr: String,
    },
    /// A host tool printed something we could not parse.
    #[error("unexpected output from {command}: {detail}")]
    UnexpectedOutput {
        /// The command line.
        command: String,
        /// What did not parse.
        detail: String,
    },
    /// `start` for a server that `create` never prepared.
    #[error("server {server:?} has no bundle: create it first")]
    NotCreated {
        /// The server's name.
        server: String,
    },
    /// `create` for a name that already has a server (or its remains).
    #[error("server {server:?} already exists: delete it first")]
    ServerExists {
        /// The server's name.
        server: String,
    },
    /// The container did not stop within the grace period after SIGKILL either.
    #[error("container {server:?} still running {waited_ms} ms after SIGKILL")]
    StopTimeout {
        /// The server's name.
        server: String,
        /// How long we waited after SIGKILL.
        waited_ms: u128,
    },
    /// A loop device of ours was still attached after being detached and waited for.
    #[error("loop device {device} is still attached: something still holds its filesystem")]
    LoopDeviceBusy {
        /// The device.
        device: PathBuf,
    },
    /// A file or directory operation failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was attempted (`create`, `read`, `write`...).
        operation: &'static str,
        /// The path it was attempted on.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl RuntimeError {
    /// Whether the caller's input was refused (the image or the server's settings), as
    /// opposed to a failure of the host or of the runtime itself.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::InvalidServerName { .. }
                | Self::InvalidMountId { .. }
                | Self::InvalidMountPath { .. }
                | Self::DuplicateMount { .. }
                | Self::MountTooSmall { .. }
                | Self::UnsupportedFilesystem { .. }
                | Self::InvalidEnvName { .. }
                | Self::UnknownCapability { .. }
                | Self::InvalidImageConfig { .. }
                | Self::NoCommand
                | Self::RelativeWorkingDir { .. }
                | Self::UserNotFound { .. }
                | Self::GroupNotFound { .. }
                | Self::InvalidUser { .. }
                | Self::UnsafeRootfsFile { .. }
                | Self::InvalidRootfs { .. }
                | Self::NonLoopbackAddress { .. }
                | Self::ServerExists { .. }
        )
    }
}

/// The runtime's result type.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Wraps an I/O error with the operation and path it came from.
pub(crate) fn io_error(
    operation: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> RuntimeError {
    let path = path.into();
    move |source| RuntimeError::Io {
        operation,
        path,
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn every_variant_names_the_offending_value_in_lower_case() {
        let cases: Vec<(RuntimeError, &str)> = vec![
            (
                RuntimeError::InvalidServerName {
                    name: "a/b".into(),
                    reason: "bad",
                },
                "\"a/b\"",
            ),
            (
                RuntimeError::InvalidMountId {
                    mount_id: "..".into(),
                    reason: "bad",
                },
                "\"..\"",
            ),
            (
                RuntimeError::InvalidMountPath {
                    path: "/proc/x".into(),
                },
                "/proc/x",
            ),
            (
                RuntimeError::DuplicateMount {
                    value: "data".into(),
                },
                "data",
            ),
            (
                RuntimeError::MountTooSmall {
                    mount_id: "data".into(),
                    size: 5,
                    filesystem: "xfs",
                    minimum: 9,
                },
                "5 bytes",
            ),
            (
                RuntimeError::UnsupportedFilesystem {
                    filesystem: "zfs".into(),
                },
                "zfs",
            ),
            (RuntimeError::InvalidEnvName { name: "A=B".into() }, "A=B"),
            (
                RuntimeError::UnknownCapability { name: "fly".into() },
                "fly",
            ),
            (
                RuntimeError::InvalidImageConfig {
                    detail: "port x".into(),
                },
                "port x",
            ),
            (RuntimeError::NoCommand, "no Entrypoint"),
            (
                RuntimeError::RelativeWorkingDir { dir: "app".into() },
                "app",
            ),
            (
                RuntimeError::UserNotFound {
                    user: "ghost".into(),
                    passwd: "/r/etc/passwd".into(),
                },
                "ghost",
            ),
            (
                RuntimeError::GroupNotFound {
                    group: "staff".into(),
                    group_file: "/r/etc/group".into(),
                },
                "staff",
            ),
            (
                RuntimeError::InvalidUser {
                    user: "a:b:c".into(),
                },
                "a:b:c",
            ),
            (
                RuntimeError::UnsafeRootfsFile {
                    path: "/r/etc/passwd".into(),
                    reason: "a symlink",
                },
                "/r/etc/passwd",
            ),
            (RuntimeError::InvalidRootfs { path: "rel".into() }, "rel"),
            (
                RuntimeError::NonLoopbackAddress {
                    addr: ([10, 0, 0, 1], 80).into(),
                },
                "10.0.0.1:80",
            ),
            (RuntimeError::NotRoot { euid: 1000 }, "uid 1000"),
            (
                RuntimeError::ToolMissing { tool: "runc" },
                "scripts/install-peers.sh",
            ),
            (
                RuntimeError::ToolFailed {
                    command: "ip netns add x".into(),
                    status: std::process::ExitStatus::from_raw(256),
                    stderr: "file exists".into(),
                },
                "file exists",
            ),
            (
                RuntimeError::UnexpectedOutput {
                    command: "runc list".into(),
                    detail: "eof".into(),
                },
                "runc list",
            ),
            (
                RuntimeError::NotCreated {
                    server: "web".into(),
                },
                "\"web\"",
            ),
            (
                RuntimeError::ServerExists {
                    server: "web".into(),
                },
                "\"web\" already",
            ),
            (
                RuntimeError::StopTimeout {
                    server: "web".into(),
                    waited_ms: 5000,
                },
                "5000 ms",
            ),
            (
                RuntimeError::LoopDeviceBusy {
                    device: "/dev/loop3".into(),
                },
                "/dev/loop3",
            ),
            (
                RuntimeError::Io {
                    operation: "read",
                    path: "/x".into(),
                    source: std::io::Error::other("boom"),
                },
                "read /x: boom",
            ),
        ];
        for (error, needle) in cases {
            let message = error.to_string();
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
            let first = message.chars().next().unwrap_or_default();
            assert!(!first.is_uppercase(), "{message:?} starts in upper case");
        }
    }
}
