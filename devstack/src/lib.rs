//! This crate provides the real peers of the HPVS supply chain — notary-server, the Go `notary`
//! client and docker-registry — started on free loopback ports for tests, examples and
//! benches. Nothing is mocked: these are the Debian packages' binaries.
//!
//! Main types:
//!
//! - [`NotaryServer`]: notary-server with in-memory storage, over plain HTTP, TLS or mutual
//!   TLS ([`NotaryOptions`], [`ListenerSecurity`]); TLS material comes from [`keymgmt::mtls`], one
//!   CA per server, and is described by [`TlsFiles`].
//! - [`Registry`]: docker-registry with filesystem storage, optional htpasswd basic auth and
//!   TLS ([`RegistryOptions`]); it can be stopped and restarted on the same port and storage.
//! - [`NotaryCli`]: the Go `notary` client, configured for one server with a trust dir and
//!   passphrases of its own.
//! - [`Stack`]: a notary-server and a registry together ([`StackOptions`]).
//! - [`ProductionNotary`]: notary's production topology, notary-server on PostgreSQL
//!   ([`Postgres`], a cluster of its own made with `initdb`) with a separate [`NotarySigner`]
//!   over mutual TLS holding the timestamp and snapshot keys; collections survive restarts of
//!   either process.
//! - [`HpvsSim`]: hpvs-sim, the appliance emulator, with a CA and an admin token of its own.
//! - [`GitHost`]: the lab's "GitHub", sshd serving bare repositories to authorised deploy keys
//!   ([`GitHost::push_tree`] pushes a work tree; [`git`] runs git as the lab's author).
//! - [`Browser`]: headless Chromium driven over W3C WebDriver (chromedriver).
//!
//! Every peer logs to a file in its own temporary directory; when it does not become
//! healthy, the error carries the last lines of that log. Processes are killed by their PID
//! and reaped, and their directories removed, on drop. The API is synchronous; it may be
//! used from async tests too (health checks run on a thread of their own). A missing binary
//! gives [`Error::MissingBinary`], whose message says which Debian package to install.
//!
//! The `devstack` binary starts a stack and prints the `export` lines to use it from a shell.
//!
//! # Example
//!
//! ```no_run
//! use devstack::{NotaryCli, NotaryOptions, Registry, RegistryOptions, ListenerSecurity};
//!
//! let notary = devstack::NotaryServer::start(NotaryOptions { security: ListenerSecurity::Tls })?;
//! let cli = NotaryCli::new(&notary)?;
//! cli.run(&["init", "example.com/app", "-p"])?;
//! let targets = cli.run(&["list", "example.com/app"])?;
//! assert!(targets.contains("No targets"));
//!
//! let registry = Registry::start(RegistryOptions::default())?;
//! let image = format!("{}/example/app:1.0", registry.host());
//! # let _ = image;
//! # Ok::<(), devstack::Error>(())
//! ```
//!
//! (The same steps run in the crate's tests, `tests/stack.rs`, which need the binaries.)

use std::path::{Path, PathBuf};

pub mod browser;
mod cli;
mod error;
mod git_host;
mod hpvs;
mod notary;
pub mod openssl;
mod postgres;
mod process;
mod production;
mod registry;
mod signer;
mod token;

pub use browser::{Browser, Element, Session, SessionOptions, WebDriverError};
pub use cli::NotaryCli;
pub use error::Error;
pub use git_host::{GitHost, git};
pub use hpvs::{HpvsSim, HpvsSimOptions};
pub use notary::{ListenerSecurity, NotaryOptions, NotaryServer, TlsFiles, Transport};
pub use postgres::{Database, Postgres};
pub use production::{ProductionNotary, SERVER_SCHEMA, SIGNER_SCHEMA};
pub use registry::{REGISTRY_SERVICE, Registry, RegistryOptions};
pub use signer::{NotarySigner, SIGNER_PASSPHRASE_ALIAS};
pub use token::{Anonymous, TokenIssuer, TokenUser};

/// The passphrase [`NotaryCli`] gives every key role unless told otherwise.
pub const DEFAULT_PASSPHRASE: &str = "devstack-passphrase-1";

/// Finds `name` on `PATH` (or checks it, when it is a path), or says which Debian `package`
/// to install.
pub fn require_binary(name: &str, package: &str) -> Result<PathBuf, Error> {
    let missing = || Error::MissingBinary {
        name: name.to_owned(),
        package: package.to_owned(),
    };
    if name.contains('/') {
        let path = Path::new(name);
        return if is_executable(path) {
            Ok(path.to_owned())
        } else {
            Err(missing())
        };
    }
    let path = std::env::var_os("PATH").ok_or_else(missing)?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(missing)
}

fn is_executable(path: &Path) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        metadata.is_file()
    }
}

/// What [`Stack::start`] starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackOptions {
    /// The notary-server.
    pub notary: NotaryOptions,
    /// The registry.
    pub registry: RegistryOptions,
    // Hook for the hpvs-sim emulator (a later issue): an `hpvs_sim: Option<...>` field will
    // start the appliance + Secure Build Server emulator wired to this notary-server and
    // registry. It does not exist yet; nothing here starts hpvs-sim.
}

/// A notary-server and a registry, started side by side; both stop on drop.
#[derive(Debug)]
pub struct Stack {
    /// The notary-server.
    pub notary: NotaryServer,
    /// The registry.
    pub registry: Registry,
    // hpvs-sim will join here (see `StackOptions`); not implemented yet.
}

impl Stack {
    /// Starts both peers in parallel and waits until both are healthy.
    pub fn start(options: StackOptions) -> Result<Stack, Error> {
        let StackOptions { notary, registry } = options;
        let (notary, registry) = std::thread::scope(|scope| {
            let registry = scope.spawn(move || Registry::start(registry));
            let notary = NotaryServer::start(notary);
            let registry = registry.join().unwrap_or_else(|_| {
                Err(Error::HttpClient {
                    name: "docker-registry".to_owned(),
                    reason: "the thread starting it panicked".to_owned(),
                })
            });
            (notary, registry)
        });
        Ok(Stack {
            notary: notary?,
            registry: registry?,
        })
    }
}
