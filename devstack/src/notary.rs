//! notary-server on a free loopback port: plain HTTP, HTTPS or HTTPS with client certificates.

use std::path::{Path, PathBuf};

use keymgmt::mtls::{MtlsMaterial, MtlsPaths, SubjectAltName};
use tempfile::TempDir;

use crate::process::{self, HealthClient, Launch, Service};
use crate::{Error, require_binary};

/// How a peer secures its listener: what clients need to reach it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ListenerSecurity {
    /// Plain HTTP (`http://`).
    #[default]
    PlainHttp,
    /// HTTPS with a server certificate from a CA of the peer's own (`https://`).
    Tls,
    /// HTTPS where the peer also requires a client certificate from that CA.
    MutualTls,
}

/// The former name of [`ListenerSecurity`], kept until the lab CLI is moved to the new name.
pub type Transport = ListenerSecurity;

/// How to start a [`NotaryServer`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotaryOptions {
    /// Plain HTTP (default), TLS or mutual TLS.
    pub security: ListenerSecurity,
}

impl NotaryOptions {
    /// Options with the given security.
    pub fn with_security(security: ListenerSecurity) -> NotaryOptions {
        NotaryOptions { security }
    }

    /// The former name of [`with_security`](Self::with_security), kept until the lab CLI is
    /// moved to the new name.
    pub fn with_transport(security: ListenerSecurity) -> NotaryOptions {
        Self::with_security(security)
    }
}

/// The TLS files of a peer started with TLS: the CA that signed its server certificate (and
/// the client certificates), and for mutual TLS a client certificate and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificate (PEM) clients must trust.
    pub ca_cert: PathBuf,
    /// A client certificate (PEM) the peer accepts, for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// The key (PKCS#8 PEM, mode 0600) of `client_cert`.
    pub client_key: Option<PathBuf>,
}

impl TlsFiles {
    /// The health-check client settings for these files.
    pub(crate) fn health_client(&self) -> Result<HealthClient, Error> {
        let read = |path: &Path| std::fs::read_to_string(path).map_err(Error::io("read", path));
        let identity_pem = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some(format!("{}{}", read(cert)?, read(key)?)),
            _ => None,
        };
        Ok(HealthClient {
            ca_pem: Some(read(&self.ca_cert)?),
            identity_pem,
        })
    }
}

/// Generates a CA, a server certificate for loopback and a client certificate for `name`, and
/// writes them under `dir`.
pub(crate) fn generate_tls(
    name: &str,
    dir: &Path,
    mutual: bool,
) -> Result<(MtlsPaths, TlsFiles), Error> {
    let material = MtlsMaterial::generate(name, &SubjectAltName::loopback())?;
    let paths = material.write_pem_files(dir)?;
    let files = TlsFiles {
        ca_cert: paths.ca_cert.clone(),
        client_cert: mutual.then(|| paths.client_cert.clone()),
        client_key: mutual.then(|| paths.client_key.clone()),
    };
    Ok((paths, files))
}

/// Where notary-server keeps its TUF files and timestamp/snapshot keys, when not in memory
/// with keys of its own.
#[derive(Debug, Clone)]
pub(crate) struct Backend {
    /// `storage.db_url` of a PostgreSQL database with the server schema.
    pub(crate) db_url: String,
    /// The `trust_service` section (`type: remote`, the notary-signer to use).
    pub(crate) trust_service: serde_json::Value,
}

/// A running notary-server, stopped and cleaned up on drop.
///
/// [`NotaryServer::start`] keeps everything in memory with timestamp and snapshot keys of its
/// own; [`ProductionNotary`](crate::ProductionNotary) starts one on PostgreSQL with a
/// notary-signer.
#[derive(Debug)]
pub struct NotaryServer {
    // Field order matters: the process is killed before its directory is removed.
    service: Service,
    url: String,
    security: ListenerSecurity,
    tls: Option<TlsFiles>,
    dir: TempDir,
}

impl NotaryServer {
    /// Starts notary-server on a free loopback port and waits until
    /// `/_notary_server/health` answers.
    pub fn start(options: NotaryOptions) -> Result<NotaryServer, Error> {
        Self::start_with_auth(options, None, None)
    }

    /// Starts notary-server requiring registry-style bearer tokens from `issuer`
    /// (`auth.type: token`).
    pub fn start_with_token_auth(
        options: NotaryOptions,
        issuer: &crate::TokenIssuer,
    ) -> Result<NotaryServer, Error> {
        Self::start_with_auth(options, Some(issuer.notary_auth_config()), None)
    }

    pub(crate) fn start_with_auth(
        options: NotaryOptions,
        auth: Option<serde_json::Value>,
        backend: Option<Backend>,
    ) -> Result<NotaryServer, Error> {
        let program = require_binary("notary-server", "notary")?;
        let dir = process::instance_dir("devstack-notary-")?;
        let security = options.security;
        let tls = match security {
            ListenerSecurity::PlainHttp => None,
            ListenerSecurity::Tls => Some(generate_tls(
                "notary-server",
                &dir.path().join("tls"),
                false,
            )?),
            ListenerSecurity::MutualTls => Some(generate_tls(
                "notary-server",
                &dir.path().join("tls"),
                true,
            )?),
        };
        let health = match &tls {
            Some((_, files)) => files.health_client()?,
            None => HealthClient::default(),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let config_path = dir.path().join("server-config.json");
        let log = dir.path().join("notary-server.log");
        let service = process::start_on_free_port(
            "notary-server",
            |port| format!("{scheme}://127.0.0.1:{port}"),
            "/_notary_server/health",
            &health,
            |port| {
                let mut config =
                    server_config(port, security, tls.as_ref().map(|(paths, _)| paths));
                if let Some(auth) = &auth {
                    config["auth"] = auth.clone();
                }
                if let Some(backend) = &backend {
                    config["trust_service"] = backend.trust_service.clone();
                    config["storage"] = serde_json::json!({
                        "backend": "postgres",
                        "db_url": backend.db_url,
                    });
                }
                process::write_private(&config_path, config.to_string().as_bytes())?;
                Ok(Launch {
                    name: "notary-server",
                    program: program.clone(),
                    args: vec![
                        "-config".into(),
                        config_path.clone().into(),
                        "-logf".into(),
                        "logfmt".into(),
                    ],
                    clear_env: &["NOTARY_"],
                    log: log.clone(),
                    health_timeout: process::HEALTH_TIMEOUT,
                    env: Vec::new(),
                    run_as: None,
                })
            },
        )?;
        let url = format!("{scheme}://127.0.0.1:{}", service.port());
        tracing::info!(%url, ?security, "notary-server is up");
        Ok(NotaryServer {
            service,
            url,
            security,
            tls: tls.map(|(_, files)| files),
            dir,
        })
    }

    /// The port it listens on (kept across [`NotaryServer::restart`]).
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// Whether the process is running (not [`stop`](NotaryServer::stop)ped).
    pub fn is_running(&self) -> bool {
        self.service.is_running()
    }

    /// Kills the server process; port and config are kept for [`NotaryServer::restart`]
    /// (an in-memory server comes back empty, one on PostgreSQL with everything).
    pub fn stop(&mut self) {
        self.service.stop();
    }

    /// Stops the server if it runs and starts it again on the same port and config.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.service.restart()
    }

    /// The server's base URL, `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The security it was started with.
    pub fn security(&self) -> ListenerSecurity {
        self.security
    }

    /// The CA certificate to trust and, for mutual TLS, a client certificate and key.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// The server's log file (its stdout and stderr, across restarts).
    pub fn log_path(&self) -> &Path {
        self.service.log_path()
    }

    /// The server's process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.service.pid()
    }

    /// The instance's temporary directory (config, TLS files, log), removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn server_config(
    port: u16,
    security: ListenerSecurity,
    tls: Option<&MtlsPaths>,
) -> serde_json::Value {
    let mut server = serde_json::json!({ "http_addr": format!("127.0.0.1:{port}") });
    if let Some(paths) = tls {
        server["tls_cert_file"] = paths.server_cert.display().to_string().into();
        server["tls_key_file"] = paths.server_key.display().to_string().into();
        if security == ListenerSecurity::MutualTls {
            server["client_ca_file"] = paths.ca_cert.display().to_string().into();
        }
    }
    serde_json::json!({
        "server": server,
        "trust_service": { "type": "local" },
        "storage": { "backend": "memory" },
        "logging": { "level": "info" },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn plain_config_is_the_minimal_one() {
        let config = server_config(4321, ListenerSecurity::PlainHttp, None);
        assert_eq!(
            config["server"],
            serde_json::json!({"http_addr": "127.0.0.1:4321"})
        );
        assert_eq!(config["trust_service"]["type"], "local");
        assert_eq!(config["storage"]["backend"], "memory");
    }

    #[test]
    fn mutual_tls_config_names_the_client_ca() {
        let paths = MtlsPaths {
            ca_cert: "/t/ca.pem".into(),
            server_cert: "/t/server.pem".into(),
            server_key: "/t/server-key.pem".into(),
            client_cert: "/t/client.pem".into(),
            client_key: "/t/client-key.pem".into(),
        };
        let tls = server_config(1, ListenerSecurity::Tls, Some(&paths));
        assert_eq!(tls["server"]["tls_key_file"], "/t/server-key.pem");
        assert!(tls["server"].get("client_ca_file").is_none());
        let mtls = server_config(1, ListenerSecurity::MutualTls, Some(&paths));
        assert_eq!(mtls["server"]["client_ca_file"], "/t/ca.pem");
    }
}
