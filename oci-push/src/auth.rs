//! Where credentials come from: docker's `config.json` (`auths`, `credHelpers`,
//! `credsStore` through `docker-credential-*` programs). [`Credentials`] and [`Secret`] are
//! `registry-http`'s, shared with the notary client.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use registry_http::{Credentials, Secret};

use crate::Error;

/// Where a client finds credentials for the registries it talks to.
#[derive(Clone, Debug, Default)]
pub enum CredentialSource {
    /// Anonymous access everywhere.
    #[default]
    Anonymous,
    /// The same credentials for every registry (the usual case for one private registry).
    Static(Credentials),
    /// Docker's `config.json`.
    DockerConfig(DockerConfig),
}

impl CredentialSource {
    /// The credentials for `registry` (`host[:port]`).
    pub fn credentials_for(&self, registry: &str) -> Result<Credentials, Error> {
        match self {
            CredentialSource::Anonymous => Ok(Credentials::Anonymous),
            CredentialSource::Static(c) => Ok(c.clone()),
            CredentialSource::DockerConfig(config) => config.credentials_for(registry),
        }
    }
}

/// Docker's client configuration (`~/.docker/config.json`): the parts about credentials.
#[derive(Clone, Default, serde::Deserialize)]
pub struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Clone, Default, serde::Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerConfig")
            .field("auths", &self.auths.keys().collect::<Vec<_>>())
            .field("cred_helpers", &self.cred_helpers)
            .field("creds_store", &self.creds_store)
            .finish()
    }
}

impl DockerConfig {
    /// Parses a `config.json`.
    pub fn parse(json: &str) -> Result<DockerConfig, Error> {
        serde_json::from_str(json).map_err(|e| Error::InvalidDocument {
            what: "docker config.json".to_owned(),
            reason: e.to_string(),
        })
    }

    /// Loads `config.json` from `$DOCKER_CONFIG`, else `~/.docker`; an absent file is an
    /// empty config.
    pub fn load_default() -> Result<DockerConfig, Error> {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
        match dir {
            Some(dir) if dir.join("config.json").exists() => {
                DockerConfig::load(&dir.join("config.json"))
            }
            _ => Ok(DockerConfig::default()),
        }
    }

    /// Loads a `config.json` file.
    pub fn load(path: &Path) -> Result<DockerConfig, Error> {
        let text = std::fs::read_to_string(path).map_err(Error::io("read", path))?;
        DockerConfig::parse(&text)
    }

    /// The credentials for `registry`: a `credHelpers` entry first, then `auths`, then
    /// `credsStore`; anonymous when none applies.
    pub fn credentials_for(&self, registry: &str) -> Result<Credentials, Error> {
        if let Some(helper) = self.cred_helpers.get(registry) {
            return run_helper(helper, registry);
        }
        let entry = self
            .auths
            .iter()
            .find(|(key, _)| auth_key_matches(key, registry));
        if let Some((_, entry)) = entry {
            if let Some(token) = &entry.identitytoken
                && !token.is_empty()
            {
                return Ok(Credentials::IdentityToken(Secret::new(token.clone())));
            }
            if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
                return Ok(Credentials::basic(username.clone(), password.clone()));
            }
            if let Some(auth) = &entry.auth {
                let what = format!("docker config.json auths entry for {registry}");
                return Credentials::from_basic_base64(auth, &what).map_err(|error| {
                    let reason = match error {
                        registry_http::Error::InvalidBasicAuth { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    Error::InvalidDocument { what, reason }
                });
            }
        }
        if let Some(store) = &self.creds_store {
            return run_helper(store, registry);
        }
        Ok(Credentials::Anonymous)
    }
}

/// Whether an `auths` key (`host`, `https://host/v1/`...) names `registry`.
fn auth_key_matches(key: &str, registry: &str) -> bool {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    host == registry
        || (registry == "index.docker.io"
            && (host == "docker.io" || host == "registry-1.docker.io"))
}

/// Asks `docker-credential-<helper> get` for `registry`'s credentials.
fn run_helper(helper: &str, registry: &str) -> Result<Credentials, Error> {
    let fail = |reason: String| Error::CredentialHelper {
        helper: helper.to_owned(),
        registry: registry.to_owned(),
        reason,
    };
    if helper.is_empty() || helper.contains(['/', '\\']) {
        return Err(fail("the helper name must be a plain suffix".to_owned()));
    }
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(registry.as_bytes())
            .map_err(|e| fail(format!("cannot write to it: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("cannot wait for it: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        if stdout.contains("credentials not found") {
            return Ok(Credentials::Anonymous);
        }
        return Err(fail(format!(
            "exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let answer: Answer =
        serde_json::from_str(&stdout).map_err(|e| fail(format!("unreadable answer: {e}")))?;
    if answer.username == "<token>" {
        Ok(Credentials::IdentityToken(Secret::new(answer.secret)))
    } else {
        Ok(Credentials::basic(answer.username, answer.secret))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let c = Credentials::basic("alice", "hunter2");
        let text = format!("{c:?} {:?}", Secret::new("hunter2"));
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("[redacted]"));
        let config = DockerConfig::parse(r#"{"auths":{"r":{"auth":"YTpodW50ZXIy"}}}"#).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn docker_config_auths() {
        let config = DockerConfig::parse(
            r#"{"auths":{"https://reg.example:5000/v1/":{"auth":"YWxpY2U6czNjcmV0"},
                "other":{"username":"bob","password":"pw"},
                "tok":{"identitytoken":"abc"}}}"#,
        )
        .unwrap();
        assert_eq!(
            config.credentials_for("reg.example:5000").unwrap(),
            Credentials::basic("alice", "s3cret")
        );
        assert_eq!(
            config.credentials_for("other").unwrap(),
            Credentials::basic("bob", "pw")
        );
        assert!(matches!(
            config.credentials_for("tok").unwrap(),
            Credentials::IdentityToken(_)
        ));
        assert_eq!(
            config.credentials_for("nowhere").unwrap(),
            Credentials::Anonymous
        );
        let helper = DockerConfig::parse(r#"{"credHelpers":{"h":"no-such-helper-xyz"}}"#).unwrap();
        assert!(matches!(
            helper.credentials_for("h"),
            Err(Error::CredentialHelper { .. })
        ));
    }
}
