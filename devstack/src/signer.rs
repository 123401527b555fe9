//! notary-signer on a free loopback port: gRPC over mutual TLS, keys in a PostgreSQL database,
//! encrypted under a passphrase given by environment variable.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keymgmt::mtls::{MtlsMaterial, MtlsPaths, SubjectAltName};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tempfile::TempDir;

use crate::postgres::Database;
use crate::process::{self, Launch, Probe, Service};
use crate::{Error, require_binary};

/// The passphrase alias the keys are encrypted under (`storage.default_alias`); notary-signer
/// reads the passphrase itself from `NOTARY_SIGNER_<ALIAS>`.
pub const SIGNER_PASSPHRASE_ALIAS: &str = "devstack_keys";

/// A running notary-signer holding the timestamp and snapshot keys of a notary-server in a
/// PostgreSQL database; stopped and cleaned up on drop.
///
/// It listens for gRPC on `127.0.0.1` over mutual TLS with material from
/// [`keymgmt::mtls`]: a CA of its own, a server certificate for loopback, and a client
/// certificate for notary-server ([`NotarySigner::tls`]).
#[derive(Debug)]
pub struct NotarySigner {
    // Field order matters: the process is killed before its directory is removed.
    service: Service,
    tls: MtlsPaths,
    dir: TempDir,
}

impl NotarySigner {
    /// Starts notary-signer on a free loopback port with its keys in `database` (which must
    /// have the signer schema) and waits until a mutual-TLS handshake with it succeeds.
    pub fn start(database: &Database) -> Result<NotarySigner, Error> {
        let program = require_binary("notary-signer", "notary")?;
        let dir = process::instance_dir("devstack-notary-signer-")?;
        let material = MtlsMaterial::generate("notary-signer", &SubjectAltName::loopback())?;
        let tls = material.write_pem_files(&dir.path().join("tls"))?;
        let config_path = dir.path().join("signer-config.json");
        let log = dir.path().join("notary-signer.log");
        let passphrase = process::random_hex();
        let env_name = format!(
            "NOTARY_SIGNER_{}",
            SIGNER_PASSPHRASE_ALIAS.to_ascii_uppercase()
        );
        let handshake = HandshakeConfig::new(&tls)?;
        let db_url = database.url();
        let service = process::start_on_free_port_probed(
            "notary-signer",
            |port| handshake.probe(port),
            |port| {
                let config = signer_config(port, &tls, &db_url);
                process::write_private(&config_path, config.to_string().as_bytes())?;
                Ok(Launch {
                    name: "notary-signer",
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
                    env: vec![(env_name.clone(), passphrase.clone())],
                    run_as: None,
                })
            },
        )?;
        tracing::info!(port = service.port(), "notary-signer is up");
        Ok(NotarySigner { service, tls, dir })
    }

    /// `127.0.0.1:PORT`, where notary-server reaches it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.service.port())
    }

    /// The port it listens on (kept across [`NotarySigner::restart`]).
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// Its TLS files: the CA, its server certificate and key, and the client certificate and
    /// key that notary-server presents.
    pub fn tls(&self) -> &MtlsPaths {
        &self.tls
    }

    /// Its log file (across restarts).
    pub fn log_path(&self) -> &Path {
        self.service.log_path()
    }

    /// Whether the process is running (not [`stop`](NotarySigner::stop)ped).
    pub fn is_running(&self) -> bool {
        self.service.is_running()
    }

    /// Its process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.service.pid()
    }

    /// Kills the process (an outage); keys, port and config are kept for
    /// [`NotarySigner::restart`].
    pub fn stop(&mut self) {
        self.service.stop();
    }

    /// Stops the signer if it runs and starts it again on the same port, database and
    /// passphrase.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.service.restart()
    }

    /// The instance's temporary directory (config, TLS files, log), removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn signer_config(port: u16, tls: &MtlsPaths, db_url: &str) -> serde_json::Value {
    let path = |p: &PathBuf| p.display().to_string();
    serde_json::json!({
        "server": {
            "grpc_addr": format!("127.0.0.1:{port}"),
            "tls_cert_file": path(&tls.server_cert),
            "tls_key_file": path(&tls.server_key),
            "client_ca_file": path(&tls.ca_cert),
        },
        "storage": {
            "backend": "postgres",
            "db_url": db_url,
            "default_alias": SIGNER_PASSPHRASE_ALIAS,
        },
        "logging": { "level": "info" },
    })
}

/// The `trust_service` section that points notary-server at this signer.
pub(crate) fn trust_service(signer: &NotarySigner) -> serde_json::Value {
    let path = |p: &PathBuf| p.display().to_string();
    serde_json::json!({
        "type": "remote",
        "hostname": "127.0.0.1",
        "port": signer.port().to_string(),
        "tls_ca_file": path(&signer.tls.ca_cert),
        "tls_client_cert": path(&signer.tls.client_cert),
        "tls_client_key": path(&signer.tls.client_key),
        "key_algorithm": "ecdsa",
    })
}

/// A TLS client that trusts only the signer's CA and presents notary-server's certificate:
/// a completed handshake means the signer serves (no HTTP health endpoint to ask).
struct HandshakeConfig {
    config: Arc<rustls::ClientConfig>,
}

impl HandshakeConfig {
    fn new(tls: &MtlsPaths) -> Result<HandshakeConfig, Error> {
        let fail = |reason: String| Error::HttpClient {
            name: "notary-signer".to_owned(),
            reason,
        };
        let read = |path: &Path| std::fs::read(path).map_err(Error::io("read", path));
        let mut roots = rustls::RootCertStore::empty();
        let ca = CertificateDer::from_pem_slice(&read(&tls.ca_cert)?)
            .map_err(|e| fail(format!("CA certificate: {e}")))?;
        roots
            .add(ca)
            .map_err(|e| fail(format!("CA certificate: {e}")))?;
        let chain = vec![
            CertificateDer::from_pem_slice(&read(&tls.client_cert)?)
                .map_err(|e| fail(format!("client certificate: {e}")))?,
        ];
        let key = PrivateKeyDer::from_pem_slice(&read(&tls.client_key)?)
            .map_err(|e| fail(format!("client key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| fail(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| fail(format!("client identity: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(HandshakeConfig {
            config: Arc::new(config),
        })
    }

    fn probe(&self, port: u16) -> Probe {
        let config = Arc::clone(&self.config);
        Probe::Check {
            target: format!("127.0.0.1:{port} (gRPC over mutual TLS)"),
            ready: Arc::new(move || handshake(&config, port).is_ok()),
        }
    }
}

fn handshake(config: &Arc<rustls::ClientConfig>, port: u16) -> std::io::Result<()> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut socket = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;
    socket.set_write_timeout(Some(Duration::from_secs(2)))?;
    let name = ServerName::IpAddress(address.ip().into());
    let mut connection = rustls::ClientConnection::new(Arc::clone(config), name)
        .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?;
    while connection.is_handshaking() {
        connection.complete_io(&mut socket)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn signer_config_requires_client_certificates_and_names_the_alias() {
        let paths = MtlsPaths {
            ca_cert: "/t/ca.pem".into(),
            server_cert: "/t/server.pem".into(),
            server_key: "/t/server-key.pem".into(),
            client_cert: "/t/client.pem".into(),
            client_key: "/t/client-key.pem".into(),
        };
        let config = signer_config(7899, &paths, "postgres://s@127.0.0.1:1/s");
        assert_eq!(config["server"]["grpc_addr"], "127.0.0.1:7899");
        assert_eq!(config["server"]["client_ca_file"], "/t/ca.pem");
        assert_eq!(config["storage"]["backend"], "postgres");
        assert_eq!(config["storage"]["default_alias"], SIGNER_PASSPHRASE_ALIAS);
    }
}
