//! The Go `notary` client, configured for one [`NotaryServer`] with a trust dir and
//! passphrases of its own: the interop oracle of the notary-client crate.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::notary::NotaryServer;
use crate::process::{clear_env_prefixed, write_private};
use crate::{DEFAULT_PASSPHRASE, Error, require_binary};

/// The passphrase variables the Go client reads, one per key role.
const PASSPHRASE_VARS: [&str; 4] = [
    "NOTARY_ROOT_PASSPHRASE",
    "NOTARY_TARGETS_PASSPHRASE",
    "NOTARY_SNAPSHOT_PASSPHRASE",
    "NOTARY_DELEGATION_PASSPHRASE",
];

/// Runs the Go `notary` client against a server with its own trust dir and passphrases.
///
/// Every command gets `-c <config.json>` naming the server URL, the trust dir and (for TLS)
/// the server's CA and client certificate. Inherited `NOTARY_*` variables are removed; the
/// four passphrase variables are set to [`DEFAULT_PASSPHRASE`] unless
/// [`passphrase`](NotaryCli::passphrase) says otherwise.
#[derive(Debug)]
pub struct NotaryCli {
    program: PathBuf,
    config: PathBuf,
    config_without_client_cert: Option<PathBuf>,
    use_client_cert: bool,
    trust_dir: PathBuf,
    passphrase: String,
    env: Vec<(String, String)>,
    // Holds the config files and, for `new`, the trust dir; removed on drop.
    _dir: TempDir,
}

impl NotaryCli {
    /// A client with a fresh temporary trust dir, removed on drop.
    pub fn new(server: &NotaryServer) -> Result<NotaryCli, Error> {
        let dir = temp_dir()?;
        let trust_dir = dir.path().join("trust");
        NotaryCli::build(server, trust_dir, dir)
    }

    /// A client using the caller's trust dir (created if missing, never deleted).
    pub fn with_trust_dir(server: &NotaryServer, trust_dir: &Path) -> Result<NotaryCli, Error> {
        NotaryCli::build(server, trust_dir.to_owned(), temp_dir()?)
    }

    fn build(server: &NotaryServer, trust_dir: PathBuf, dir: TempDir) -> Result<NotaryCli, Error> {
        let program = require_binary("notary", "notary")?;
        create_private_dir(&trust_dir)?;
        let trust = trust_dir.display().to_string();
        let mut remote = serde_json::json!({ "url": server.url() });
        if let Some(tls) = server.tls() {
            remote["root_ca"] = tls.ca_cert.display().to_string().into();
        }
        let without_cert =
            serde_json::json!({ "trust_dir": trust, "remote_server": remote.clone() });
        let config_without_client_cert = match server.tls() {
            Some(tls) => match (&tls.client_cert, &tls.client_key) {
                (Some(cert), Some(key)) => {
                    remote["tls_client_cert"] = cert.display().to_string().into();
                    remote["tls_client_key"] = key.display().to_string().into();
                    let path = dir.path().join("config-without-client-cert.json");
                    write_private(&path, without_cert.to_string().as_bytes())?;
                    Some(path)
                }
                _ => None,
            },
            None => None,
        };
        let config = dir.path().join("config.json");
        let full = serde_json::json!({ "trust_dir": trust, "remote_server": remote });
        write_private(&config, full.to_string().as_bytes())?;
        Ok(NotaryCli {
            program,
            config,
            config_without_client_cert,
            use_client_cert: true,
            trust_dir,
            passphrase: DEFAULT_PASSPHRASE.to_owned(),
            env: Vec::new(),
            _dir: dir,
        })
    }

    /// The trust dir (`private/`, `tuf/`, `trusted_certificates/` live below it).
    pub fn trust_dir(&self) -> &Path {
        &self.trust_dir
    }

    /// The generated client config file passed with `-c`.
    pub fn config_path(&self) -> &Path {
        match (&self.config_without_client_cert, self.use_client_cert) {
            (Some(path), false) => path,
            _ => &self.config,
        }
    }

    /// Sets the root, targets, snapshot and delegation passphrases.
    pub fn passphrase(mut self, passphrase: &str) -> Self {
        passphrase.clone_into(&mut self.passphrase);
        self
    }

    /// Sets an extra environment variable for every command (applied after the passphrases,
    /// so it can override one of them).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Leaves out the client certificate of a mutual-TLS server, to show that the server
    /// refuses such clients. No effect for other servers.
    pub fn without_client_certificate(mut self) -> Self {
        self.use_client_cert = false;
        self
    }

    /// `notary -c <config.json> <args>` with the environment set up, ready to run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command.arg("-c").arg(self.config_path()).args(args);
        clear_env_prefixed(&mut command, &["NOTARY_"]);
        for var in PASSPHRASE_VARS {
            command.env(var, &self.passphrase);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.stdin(Stdio::null());
        command
    }

    /// Runs `notary <args>` and returns its stdout; a non-zero exit is [`Error::Cli`] with
    /// stdout and stderr.
    pub fn run(&self, args: &[&str]) -> Result<String, Error> {
        let output = self.command(args).output().map_err(|source| Error::Spawn {
            program: self.program.clone(),
            source,
        })?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            return Err(Error::Cli {
                program: "notary".to_owned(),
                args: args.iter().map(|arg| (*arg).to_owned()).collect(),
                status: output.status,
                stdout,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        tracing::debug!(?args, "notary succeeded");
        Ok(stdout)
    }
}

fn temp_dir() -> Result<TempDir, Error> {
    crate::process::instance_dir("devstack-notary-cli-")
}

fn create_private_dir(path: &Path) -> Result<(), Error> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(path)
        .map_err(Error::io("create directory", path))
}
