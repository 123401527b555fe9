//! The lab's `sb_config.yaml` and its mapping onto the Secure Build Server's init
//! parameters (`shared/spec/sbs.md`, "Init parameters": upper-case keys, string values,
//! booleans `"True"`/`"False"`).
//!
//! ```yaml
//! secure_build_workers:
//!   sbs: {url: https://10.0.0.5, port: 30000, cert_path: client.crt, key_path: client.key,
//!         ca_cert_path: ca.crt}
//!   regfile: {id: wallet}
//!   github: {url: git@github.com:user/wallet.git, branch: main,
//!            ssh_private_key_path: id_rsa, recurse_submodules: false,
//!            dockerfile_path: Dockerfile, docker_build_path: ./}
//!   docker: {push_server: docker.io, base_server: docker.io, pull_server: docker.io,
//!            repo: user/wallet, image_tag_prefix: latest, content_trust_base: false}
//!   env: {whitelist: [GREETING]}
//!   build: {args: {VERSION: 1}}
//!   signing_key: {private_key_path: vendor.priv, public_key_path: vendor.pub}
//! ```
//!
//! Relative paths are read relative to the directory of the configuration file. The
//! registry values `push_server`, `base_server` name `hpvs registry` entries, as in the real
//! CLI ([`registries`]: the entry's URL, DCT URL and user), or give an address (a host,
//! `host:port` or a URL), sent as given. The passwords, and the DCT servers of addresses,
//! come from the environment ([`Credentials`]); `pull_server` is not an init parameter (the
//! server refuses unknown keys) and is not sent.
//!
//! `init` records what `update` may not change ([`InitRecord`]); [`SbConfig::check_update`]
//! compares.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[path = "sb_registries.rs"]
pub mod registries;

/// The whole file: everything sits under `secure_build_workers`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SbConfigFile {
    /// The lab's one section.
    pub secure_build_workers: SbConfig,
}

/// `secure_build_workers`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SbConfig {
    /// Where the build server is and the mutual-TLS files.
    pub sbs: SbsSection,
    /// The registration.
    pub regfile: RegfileSection,
    /// The source repository.
    pub github: GithubSection,
    /// The registries and the image's repository.
    pub docker: DockerSection,
    /// The environment a deployment may set.
    pub env: EnvSection,
    /// Build arguments.
    pub build: BuildSection,
    /// The vendor's signing key (of the registration file).
    pub signing_key: SigningKeySection,
}

/// `sbs`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SbsSection {
    /// `https://HOST` (or `HOST`), with or without a port.
    pub url: String,
    /// The port, when the URL has none.
    pub port: Option<u16>,
    /// The client certificate (PEM).
    pub cert_path: PathBuf,
    /// The client key (PEM).
    pub key_path: PathBuf,
    /// The CA of the server's certificate (PEM).
    pub ca_cert_path: PathBuf,
    /// The SBS image's own tag (`BUILD_IMAGE_TAG`); not in the lab's file, defaults to
    /// `latest`.
    pub build_image_tag: Option<String>,
}

/// `regfile`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RegfileSection {
    /// The repository registration's id (`REPO_ID`).
    pub id: String,
}

/// `github`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GithubSection {
    /// `GITHUB_URL`.
    pub url: String,
    /// `GITHUB_BRANCH`.
    pub branch: Option<String>,
    /// The file whose text is `GITHUB_KEY` (none: `""`, a public repository).
    pub ssh_private_key_path: Option<PathBuf>,
    /// `GITHUB_RECURSE_SUBMODULES`.
    pub recurse_submodules: bool,
    /// `DOCKERFILE_PATH`.
    pub dockerfile_path: Option<String>,
    /// `DOCKER_BUILD_PATH`.
    pub docker_build_path: Option<String>,
}

/// `docker`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DockerSection {
    /// `DOCKER_PUSH_SERVER`, as given.
    pub push_server: Option<String>,
    /// `DOCKER_BASE_SERVER`, as given.
    pub base_server: Option<String>,
    /// Where deployments pull from (not sent: not an init parameter).
    pub pull_server: Option<String>,
    /// `DOCKER_REPO`: `namespace/repo`.
    pub repo: String,
    /// `IMAGE_TAG_PREFIX`.
    pub image_tag_prefix: Option<String>,
    /// `DOCKER_CONTENT_TRUST_BASE`.
    pub content_trust_base: bool,
}

/// `env`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EnvSection {
    /// `ENV_WHITELIST`.
    pub whitelist: Vec<String>,
}

/// `build`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BuildSection {
    /// `ARG`; numbers and booleans become their text.
    pub args: BTreeMap<String, serde_norway::Value>,
}

/// `signing_key`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SigningKeySection {
    /// The vendor's private key.
    pub private_key_path: Option<PathBuf>,
    /// The vendor's public key.
    pub public_key_path: Option<PathBuf>,
}

/// What `sb_config.yaml` does not hold: the registry credentials and DCT servers the real
/// CLI takes from its `hpvs registry` entries. [`Credentials::from_lookup`] reads them from
/// `SB_DOCKER_USER`, `SB_DOCKER_PASSWORD` (push, required), `SB_DOCKER_BASE_USER`,
/// `SB_DOCKER_BASE_PASSWORD`, `SB_DOCKER_RO_USER`, `SB_DOCKER_RO_PASSWORD`,
/// `SB_DCT_PUSH_SERVER`, `SB_DCT_BASE_SERVER` (optional).
#[derive(Clone, Default)]
pub struct Credentials {
    /// `(init key, value)` pairs, set ones only.
    pub values: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.values.iter().map(|(k, _)| *k).collect();
        f.debug_struct("Credentials").field("keys", &keys).finish()
    }
}

/// `(environment variable, init key, required)`.
const CREDENTIAL_VARIABLES: &[(&str, &str, bool)] = &[
    ("SB_DOCKER_USER", "DOCKER_USER", true),
    ("SB_DOCKER_PASSWORD", "DOCKER_PASSWORD", true),
    ("SB_DOCKER_BASE_USER", "DOCKER_BASE_USER", false),
    ("SB_DOCKER_BASE_PASSWORD", "DOCKER_BASE_PASSWORD", false),
    ("SB_DOCKER_RO_USER", "DOCKER_RO_USER", false),
    ("SB_DOCKER_RO_PASSWORD", "DOCKER_RO_PASSWORD", false),
    (
        "SB_DCT_PUSH_SERVER",
        "DOCKER_CONTENT_TRUST_PUSH_SERVER",
        false,
    ),
    (
        "SB_DCT_BASE_SERVER",
        "DOCKER_CONTENT_TRUST_BASE_SERVER",
        false,
    ),
];

impl Credentials {
    /// Reads the variables through `lookup`; `Err(variable)` names a required one unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, &'static str> {
        Self::from_lookup_with(lookup, &registries::Resolved::default())
    }

    /// As [`Credentials::from_lookup`], with the `hpvs registry` entries the configuration
    /// names: their servers and DCT servers win over the file and `SB_DCT_*`; their users
    /// are used when `SB_DOCKER_USER` / `SB_DOCKER_BASE_USER` is unset (and then satisfy a
    /// required user).
    pub fn from_lookup_with(
        lookup: impl Fn(&str) -> Option<String>,
        resolved: &registries::Resolved,
    ) -> Result<Self, &'static str> {
        let find = |list: &[(&'static str, String)], key: &str| {
            list.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
        };
        let mut values = Vec::new();
        for &(variable, key, required) in CREDENTIAL_VARIABLES {
            let value = find(&resolved.servers, key)
                .or_else(|| lookup(variable).filter(|v| !v.is_empty()))
                .or_else(|| find(&resolved.default_users, key));
            match value {
                Some(value) => values.push((key, value)),
                None if required => return Err(variable),
                None => {}
            }
        }
        for (key, value) in &resolved.servers {
            if !values.iter().any(|(k, _)| k == key) {
                values.push((key, value.clone()));
            }
        }
        Ok(Self { values })
    }
}

/// What `init` sent that `update` may not change, kept by the CLI next to the client's
/// `SECRET` (`.sb_init.<regfile id>.json`, 0600).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitRecord {
    /// The build server it was sent to.
    pub sbs_url: String,
    /// `regfile.id` (`REPO_ID`).
    pub regfile_id: String,
    /// `docker.repo` (`DOCKER_REPO`).
    pub docker_repo: String,
}

/// Why `sb_config.yaml` cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not YAML of the expected shape.
    #[error("{path}: {reason}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message.
        reason: String,
    },
    /// A required value is missing or empty.
    #[error("{key} is not set in the configuration")]
    Missing {
        /// Its path, e.g. `secure_build_workers.docker.repo`.
        key: &'static str,
    },
    /// `update` would change a value that only `init` may set.
    #[error(
        "{key} may not change after init: init sent {init:?}, the configuration now says \
         {now:?}; put {init:?} back, or run `hpvs sb init` for the new value"
    )]
    Changed {
        /// Its path, e.g. `secure_build_workers.docker.repo`.
        key: &'static str,
        /// What `init` sent.
        init: String,
        /// What the configuration says now.
        now: String,
    },
    /// A registry value names an entry that `hpvs registry list` does not have.
    #[error(
        "{key} names the registry {name:?}, which `hpvs registry list` does not have (it \
         has: {}): add it with `hpvs registry add`, or give a URL",
        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
    )]
    UnknownRegistry {
        /// Its path, e.g. `secure_build_workers.docker.push_server`.
        key: &'static str,
        /// The name given.
        name: String,
        /// The appliance's registry names.
        known: Vec<String>,
    },
}

impl SbConfig {
    /// Parses the text of `sb_config.yaml` (`path` only names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        serde_norway::from_str::<SbConfigFile>(text)
            .map(|file| file.secure_build_workers)
            .map_err(|e| ConfigError::Syntax {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
    }

    /// The build server's URL: `https://` added when there is no scheme, `:port` when the
    /// URL has none.
    pub fn sbs_url(&self) -> Result<String, ConfigError> {
        let url = self.sbs.url.trim().trim_end_matches('/');
        if url.is_empty() {
            return Err(ConfigError::Missing {
                key: "secure_build_workers.sbs.url",
            });
        }
        let url = if url.contains("://") {
            url.to_owned()
        } else {
            format!("https://{url}")
        };
        let authority = url.split_once("://").map_or("", |(_, rest)| rest);
        let authority = authority.split('/').next().unwrap_or("");
        let has_port = match authority.rsplit_once(']') {
            Some((_, after)) => after.starts_with(':'),
            None => authority.contains(':'),
        };
        Ok(match self.sbs.port {
            Some(port) if !has_port => format!("{url}:{port}"),
            _ => url,
        })
    }

    /// What `init` records of this configuration ([`InitRecord`]).
    pub fn init_record(&self) -> Result<InitRecord, ConfigError> {
        Ok(InitRecord {
            sbs_url: self.sbs_url()?,
            regfile_id: self.regfile.id.trim().to_owned(),
            docker_repo: self.docker.repo.trim().to_owned(),
        })
    }

    /// Refuses an `update` that would change `regfile.id` or `docker.repo` from what `init`
    /// sent (`recorded`), naming the key, the old and the new value.
    pub fn check_update(&self, recorded: &InitRecord) -> Result<(), ConfigError> {
        let now = self.init_record()?;
        let pairs = [
            (
                "secure_build_workers.regfile.id",
                &recorded.regfile_id,
                now.regfile_id,
            ),
            (
                "secure_build_workers.docker.repo",
                &recorded.docker_repo,
                now.docker_repo,
            ),
        ];
        for (key, init, now) in pairs {
            if *init != now {
                return Err(ConfigError::Changed {
                    key,
                    init: init.clone(),
                    now,
                });
            }
        }
        Ok(())
    }

    /// The init parameters of `POST /image` (and `PATCH`): the file's values, `github_key`
    /// (the text of `ssh_private_key_path`, or `""`), the client's `secret`, and
    /// `credentials`.
    pub fn init_params(
        &self,
        github_key: &str,
        secret: &str,
        credentials: &Credentials,
    ) -> Result<Value, ConfigError> {
        let required = |value: &str, key: &'static str| {
            if value.trim().is_empty() {
                Err(ConfigError::Missing { key })
            } else {
                Ok(Value::String(value.to_owned()))
            }
        };
        let flag = |on: bool| Value::String(if on { "True" } else { "False" }.to_owned());
        let mut map = Map::new();
        map.insert(
            "GITHUB_URL".into(),
            required(&self.github.url, "secure_build_workers.github.url")?,
        );
        map.insert("GITHUB_KEY".into(), Value::String(github_key.to_owned()));
        map.insert(
            "DOCKER_REPO".into(),
            required(&self.docker.repo, "secure_build_workers.docker.repo")?,
        );
        map.insert(
            "REPO_ID".into(),
            required(&self.regfile.id, "secure_build_workers.regfile.id")?,
        );
        map.insert("SECRET".into(), Value::String(secret.to_owned()));
        map.insert(
            "BUILD_IMAGE_TAG".into(),
            Value::String(
                self.sbs
                    .build_image_tag
                    .clone()
                    .unwrap_or_else(|| "latest".to_owned()),
            ),
        );
        map.insert(
            "GITHUB_RECURSE_SUBMODULES".into(),
            flag(self.github.recurse_submodules),
        );
        map.insert(
            "DOCKER_CONTENT_TRUST_BASE".into(),
            flag(self.docker.content_trust_base),
        );
        let optional = [
            ("GITHUB_BRANCH", &self.github.branch),
            ("DOCKERFILE_PATH", &self.github.dockerfile_path),
            ("DOCKER_BUILD_PATH", &self.github.docker_build_path),
            ("IMAGE_TAG_PREFIX", &self.docker.image_tag_prefix),
            ("DOCKER_PUSH_SERVER", &self.docker.push_server),
            ("DOCKER_BASE_SERVER", &self.docker.base_server),
        ];
        for (key, value) in optional {
            if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                map.insert(key.into(), Value::String(value.to_owned()));
            }
        }
        map.insert(
            "ENV_WHITELIST".into(),
            Value::Array(
                self.env
                    .whitelist
                    .iter()
                    .map(|name| Value::String(name.clone()))
                    .collect(),
            ),
        );
        let args: Map<String, Value> = self
            .build
            .args
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(yaml_text(value))))
            .collect();
        map.insert("ARG".into(), Value::Object(args));
        for (key, value) in &credentials.values {
            map.insert((*key).into(), Value::String(value.clone()));
        }
        Ok(Value::Object(map))
    }

    /// `path` of the file, relative to `base` (the configuration's directory) unless
    /// absolute.
    pub fn resolve(base: &Path, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            base.join(path)
        }
    }
}

/// A YAML scalar as the text a build argument takes (`1` -> `"1"`, `true` -> `"true"`).
fn yaml_text(value: &serde_norway::Value) -> String {
    match value {
        serde_norway::Value::String(s) => s.clone(),
        serde_norway::Value::Null => String::new(),
        serde_norway::Value::Bool(b) => b.to_string(),
        serde_norway::Value::Number(n) => n.to_string(),
        other => serde_norway::to_string(other)
            .unwrap_or_default()
            .trim_end()
            .to_owned(),
    }
}

#[cfg(test)]
#[path = "sb_config_tests.rs"]
mod tests;
