//! The one error type of this crate.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Everything that can go wrong while starting or driving the peers.
///
/// Variants are named after the check that failed and carry the offending values (paths,
/// URLs, log tails), so that a test failure says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A peer binary is not installed.
    #[error(
        "{name} not found on PATH: install the Debian package {package} by running ./scripts/test.sh \
         (or apt-get install -y {package})"
    )]
    MissingBinary {
        /// The binary looked for.
        name: String,
        /// The Debian package that ships it.
        package: String,
    },
    /// A process could not be started at all.
    #[error("cannot start {}: {source}: check that it is installed and executable", .program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A peer did not answer its health endpoint in time.
    #[error(
        "{name} did not become healthy at {url}: see the log {} whose last lines are:\n{log_tail}",
        .log.display()
    )]
    NotHealthy {
        /// Which peer.
        name: String,
        /// The health URL polled.
        url: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log file.
        log_tail: String,
    },
    /// A peer exited while starting (for another reason than a port clash).
    #[error("{name} exited at startup with {status}: see the log {} whose last lines are:\n{log_tail}", .log.display())]
    Exited {
        /// Which peer.
        name: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log file.
        log_tail: String,
    },
    /// Every free port tried was taken by someone else before the peer could bind it.
    #[error(
        "{name} could not bind a free loopback port after {attempts} attempts: retry, or free some ports"
    )]
    PortsExhausted {
        /// Which peer.
        name: String,
        /// How many ports were tried.
        attempts: u32,
    },
    /// A peer restarted on its old port found the port taken by another process.
    #[error(
        "{name} cannot listen on port {port} again: another process took it while {name} was stopped \
         (see the log {}); start a new instance instead",
        .log.display()
    )]
    PortTaken {
        /// Which peer.
        name: String,
        /// The port it had.
        port: u16,
        /// Its log file.
        log: PathBuf,
    },
    /// A command-line tool exited with an error.
    #[error("{program} {} failed with {status}:\nstdout:\n{stdout}\nstderr:\n{stderr}", .args.join(" "))]
    Cli {
        /// The program.
        program: String,
        /// Its arguments.
        args: Vec<String>,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed on stdout.
        stdout: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A password could not be hashed for the registry's htpasswd file.
    #[error("cannot hash the password of registry user {user:?}: {reason}")]
    PasswordHash {
        /// The user name.
        user: String,
        /// Why hashing failed.
        reason: String,
    },
    /// The HTTP client used for health checks could not be built.
    #[error("cannot build the health-check HTTP client for {name}: {reason}")]
    HttpClient {
        /// Which peer.
        name: String,
        /// Why.
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
    /// PostgreSQL refuses to run as root, and there is no `postgres` user to run it as.
    #[error(
        "postgres refuses to run as root and there is no user postgres to run it as: install the \
         Debian package postgresql by running ./scripts/test.sh (it creates the user), or run as \
         another user"
    )]
    PostgresUser,
    /// A name that cannot name what was asked for (a repository, a key).
    #[error("invalid {what} {name:?}")]
    InvalidName {
        /// What the name was for.
        what: &'static str,
        /// The name (or its start).
        name: String,
    },
    /// A database or role name devstack cannot use as a plain SQL identifier.
    #[error("database name {name:?} is not lowercase ASCII letters and underscores: pick another")]
    DatabaseName {
        /// The name asked for.
        name: String,
    },
    /// A WebDriver command to chromedriver failed ([`crate::browser`]).
    #[error(transparent)]
    WebDriver(#[from] crate::browser::WebDriverError),
    /// TLS material could not be generated or written.
    #[error("cannot prepare TLS material: {0}")]
    Tls(#[from] keymgmt::Error),
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
