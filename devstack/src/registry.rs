//! docker-registry (CNCF distribution) on a free loopback port, with filesystem storage,
//! optional htpasswd basic auth and optional TLS.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rand::RngCore as _;
use tempfile::TempDir;

use crate::notary::{TlsFiles, generate_tls};
use crate::process::{self, HealthClient, Launch, Service};
use crate::{Error, require_binary};

/// bcrypt cost of the htpasswd entries: the minimum, since these are throwaway test users.
const BCRYPT_COST: u32 = 4;

/// The `service` a token-auth registry names in its challenges.
pub const REGISTRY_SERVICE: &str = "docker-registry";

/// How to start a [`Registry`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RegistryOptions {
    /// `(user, password)` to require with HTTP basic auth (htpasswd); `None` for no auth.
    pub basic_auth: Option<(String, String)>,
    /// Serve HTTPS with a certificate from a CA of the registry's own.
    pub tls: bool,
}

impl std::fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryOptions")
            .field(
                "basic_auth",
                &self
                    .basic_auth
                    .as_ref()
                    .map(|(user, _)| (user, "[redacted]")),
            )
            .field("tls", &self.tls)
            .finish()
    }
}

/// A running docker-registry, stopped and cleaned up (storage included) on drop.
#[derive(Debug)]
pub struct Registry {
    // Field order matters: the process is killed before its directory is removed.
    service: Service,
    url: String,
    tls: Option<TlsFiles>,
    storage: PathBuf,
    dir: TempDir,
}

impl Registry {
    /// Starts docker-registry on a free loopback port and waits until `GET /v2/` answers (200,
    /// or 401 when basic auth is on).
    pub fn start(options: RegistryOptions) -> Result<Registry, Error> {
        Self::start_with_auth(options, None)
    }

    /// Starts docker-registry requiring registry-style bearer tokens from `issuer`
    /// (`auth.token`, service `docker-registry`) instead of basic auth.
    pub fn start_with_token_auth(
        options: RegistryOptions,
        issuer: &crate::TokenIssuer,
    ) -> Result<Registry, Error> {
        Self::start_with_auth(
            options,
            Some((
                issuer.realm().to_owned(),
                issuer.root_cert_bundle().to_owned(),
            )),
        )
    }

    fn start_with_auth(
        options: RegistryOptions,
        token: Option<(String, PathBuf)>,
    ) -> Result<Registry, Error> {
        let program = require_binary("docker-registry", "docker-registry")?;
        let dir = process::instance_dir("devstack-registry-")?;
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).map_err(Error::io("create directory", &storage))?;
        let tls = if options.tls {
            Some(generate_tls(
                "docker-registry",
                &dir.path().join("tls"),
                false,
            )?)
        } else {
            None
        };
        let htpasswd = match &options.basic_auth {
            Some((user, password)) => {
                let path = dir.path().join("htpasswd");
                process::write_private(&path, htpasswd_line(user, password)?.as_bytes())?;
                Some(path)
            }
            None => None,
        };
        let health = match &tls {
            Some((_, files)) => files.health_client()?,
            None => HealthClient::default(),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let config_path = dir.path().join("config.yml");
        let log = dir.path().join("registry.log");
        let secret = random_secret();
        let service = process::start_on_free_port(
            "docker-registry",
            |port| format!("{scheme}://127.0.0.1:{port}"),
            "/v2/",
            &health,
            |port| {
                let config = ConfigInput {
                    port,
                    storage: &storage,
                    secret: &secret,
                    tls: tls.as_ref().map(|(paths, _)| {
                        (paths.server_cert.as_path(), paths.server_key.as_path())
                    }),
                    htpasswd: htpasswd.as_deref(),
                    token: token
                        .as_ref()
                        .map(|(realm, bundle)| (realm.as_str(), bundle.as_path())),
                }
                .render();
                process::write_private(&config_path, config.as_bytes())?;
                Ok(Launch {
                    name: "docker-registry",
                    program: program.clone(),
                    args: vec!["serve".into(), config_path.clone().into()],
                    clear_env: &["REGISTRY_", "OTEL_"],
                    log: log.clone(),
                    health_timeout: process::HEALTH_TIMEOUT,
                    env: Vec::new(),
                    run_as: None,
                })
            },
        )?;
        let url = format!("{scheme}://127.0.0.1:{}", service.port());
        tracing::info!(%url, "docker-registry is up");
        Ok(Registry {
            service,
            url,
            tls: tls.map(|(_, files)| files),
            storage,
            dir,
        })
    }

    /// The registry's base URL, `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.service.port())
    }

    /// The port it listens on (kept across [`Registry::restart`]).
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// The filesystem storage root (`docker/registry/v2/...` lives below it).
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// The CA certificate to trust, when started with TLS.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// The registry's log file (its stdout and stderr, across restarts).
    pub fn log_path(&self) -> &Path {
        self.service.log_path()
    }

    /// Whether the process is running (not [`stop`](Registry::stop)ped).
    pub fn is_running(&self) -> bool {
        self.service.is_running()
    }

    /// The registry's process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.service.pid()
    }

    /// Stops the registry process; storage and port are kept for [`Registry::restart`].
    pub fn stop(&mut self) {
        self.service.stop();
    }

    /// Stops the registry if it runs, and starts it again on the same port with the same
    /// storage and config.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.service.restart()
    }

    /// The instance's temporary directory (config, storage, TLS files, log), removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// One htpasswd line with a `$2y$` bcrypt hash, the only kind docker-registry accepts.
fn htpasswd_line(user: &str, password: &str) -> Result<String, Error> {
    if user.is_empty() || user.contains([':', '\n', '\r']) {
        return Err(Error::PasswordHash {
            user: user.to_owned(),
            reason: "a user name must be non-empty and contain no ':' or newline".to_owned(),
        });
    }
    let hash =
        bcrypt::hash_with_result(password, BCRYPT_COST).map_err(|e| Error::PasswordHash {
            user: user.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(format!(
        "{user}:{}\n",
        hash.format_for_version(bcrypt::Version::TwoY)
    ))
}

fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().fold(String::with_capacity(48), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// What goes into a registry config file.
struct ConfigInput<'a> {
    port: u16,
    storage: &'a Path,
    secret: &'a str,
    tls: Option<(&'a Path, &'a Path)>,
    htpasswd: Option<&'a Path>,
    /// Token realm and the certificate bundle that signs tokens.
    token: Option<(&'a str, &'a Path)>,
}

impl ConfigInput<'_> {
    /// The YAML config. Strings are written as JSON strings, which YAML reads as
    /// double-quoted scalars, so paths need no further escaping. No debug server, no metrics,
    /// no notifications: only what the tests use.
    fn render(&self) -> String {
        let q = |text: &str| serde_json::Value::from(text).to_string();
        let p = |path: &Path| q(&path.display().to_string());
        let mut yaml = String::new();
        yaml.push_str("version: 0.1\n");
        yaml.push_str("log:\n  level: info\n  formatter: text\n");
        yaml.push_str("storage:\n");
        let _ = writeln!(
            yaml,
            "  filesystem:\n    rootdirectory: {}",
            p(self.storage)
        );
        yaml.push_str("  delete:\n    enabled: true\n");
        yaml.push_str("  maintenance:\n    uploadpurging:\n      enabled: false\n");
        yaml.push_str("http:\n");
        let _ = writeln!(yaml, "  addr: {}", q(&format!("127.0.0.1:{}", self.port)));
        let _ = writeln!(yaml, "  secret: {}", q(self.secret));
        if let Some((cert, key)) = self.tls {
            let _ = writeln!(
                yaml,
                "  tls:\n    certificate: {}\n    key: {}",
                p(cert),
                p(key)
            );
        }
        if let Some(htpasswd) = self.htpasswd {
            let _ = writeln!(
                yaml,
                "auth:\n  htpasswd:\n    realm: devstack\n    path: {}",
                p(htpasswd)
            );
        } else if let Some((realm, bundle)) = self.token {
            let _ = writeln!(
                yaml,
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}",
                q(realm),
                q(REGISTRY_SERVICE),
                q(crate::token::ISSUER),
                p(bundle)
            );
        }
        yaml
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn htpasswd_uses_2y_bcrypt() {
        let line = htpasswd_line("alice", "s3cret").unwrap();
        assert!(line.starts_with("alice:$2y$04$"), "{line}");
        let hash = line.trim_end().split_once(':').unwrap().1;
        assert!(bcrypt::verify("s3cret", hash).unwrap());
        assert!(htpasswd_line("a:b", "x").is_err());
    }

    #[test]
    fn config_quotes_paths_and_has_auth_and_tls() {
        let yaml = ConfigInput {
            port: 5001,
            storage: Path::new("/tmp/a \"b\""),
            secret: "abc",
            tls: Some((Path::new("/t/s.pem"), Path::new("/t/k.pem"))),
            htpasswd: Some(Path::new("/t/htpasswd")),
            token: None,
        }
        .render();
        assert!(
            yaml.contains("rootdirectory: \"/tmp/a \\\"b\\\"\""),
            "{yaml}"
        );
        assert!(yaml.contains("addr: \"127.0.0.1:5001\""));
        assert!(yaml.contains("certificate: \"/t/s.pem\""));
        assert!(yaml.contains("realm: devstack"));
        assert!(!yaml.contains("debug"));
    }

    #[test]
    fn options_debug_hides_password() {
        let options = RegistryOptions {
            basic_auth: Some(("u".into(), "hunter2".into())),
            tls: false,
        };
        assert!(!format!("{options:?}").contains("hunter2"));
    }
}
