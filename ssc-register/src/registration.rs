//! The cleartext repository registration: its JSON schema, the DCT root key it pins, and the
//! whitelist rules. No I/O and no cryptography beyond key-ID checks.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::openpgp::PublicKey;
use crate::secret::Secret;

/// Environment variables the appliance sets itself; they are always in the whitelist and a
/// user may never set them.
pub const RESERVED_ENV_NAMES: [&str; 11] = [
    "RUNQ_ROOTDISK",
    "RUNQ_RUNQENV",
    "RUNQ_SYSTEMD",
    "IMAGE_TAG",
    "REGION",
    "PHASE",
    "LPAR_NAME",
    "CPC",
    "RUNQ_CPU",
    "RUNQ_MEM",
    "POD",
];

/// Fields every registration JSON must carry (`secrets` is optional).
const REQUIRED_FIELDS: [&str; 8] = [
    "repository_name",
    "docker_username",
    "docker_password",
    "envs_whitelist",
    "public_key_id",
    "public_key",
    "vendor_key",
    "cap_add",
];

/// A repository registration, exactly the JSON object the appliance decrypts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Repository, e.g. `docker.io/user/image`.
    pub repository_name: String,
    /// Registry user the appliance pulls with (may be empty for public images).
    pub docker_username: String,
    /// Registry password or token (may be empty).
    pub docker_password: Secret,
    /// Environment variables a deployment may set, reserved names included.
    pub envs_whitelist: Vec<String>,
    /// The DCT root key ID (64 hex digits) the appliance pins.
    pub public_key_id: String,
    /// The root key as root.json holds it (`keyval.public`, base64).
    pub public_key: String,
    /// The vendor's ASCII-armored OpenPGP public key; only it may sign updates.
    pub vendor_key: String,
    /// Linux capabilities granted to the container (the lab uses `["ALL"]`).
    pub cap_add: Vec<String>,
    /// Optional secrets mounted into the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Secrets>,
}

/// Secrets the appliance writes into the container as a JSON file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    /// Where the file is mounted, e.g. `/isv_secrets/secrets.json`.
    pub mount_path: String,
    /// Secret names and values.
    pub secrets_list: BTreeMap<String, Secret>,
}

impl Registration {
    /// Starts a registration of `repository_name` pinned to `root`.
    pub fn builder(repository_name: impl Into<String>, root: RootKey) -> RegistrationBuilder {
        RegistrationBuilder {
            repository_name: repository_name.into(),
            root,
            envs: Vec::new(),
            docker_username: String::new(),
            docker_password: Secret::default(),
            cap_add: vec!["ALL".to_owned()],
            secrets: None,
        }
    }

    /// Parses registration JSON, naming the first missing required field.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| Error::MalformedJson {
                reason: e.to_string(),
            })?;
        let object = value.as_object().ok_or_else(|| Error::MalformedJson {
            reason: "expected a json object".to_owned(),
        })?;
        if let Some(field) = REQUIRED_FIELDS.iter().find(|f| !object.contains_key(**f)) {
            return Err(Error::MissingField { field });
        }
        let registration: Registration =
            serde_json::from_value(value).map_err(|e| Error::MalformedJson {
                reason: e.to_string(),
            })?;
        check_key_id(&registration.public_key_id)?;
        Ok(registration)
    }

    /// The registration as the compact JSON that gets sealed.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::MalformedJson {
            reason: e.to_string(),
        })
    }

    /// The whitelist without the reserved names: what a user may set.
    pub fn user_envs(&self) -> impl Iterator<Item = &str> {
        self.envs_whitelist
            .iter()
            .map(String::as_str)
            .filter(|name| !RESERVED_ENV_NAMES.contains(name))
    }
}

/// Builds a [`Registration`]; see [`Registration::builder`].
#[derive(Debug)]
pub struct RegistrationBuilder {
    repository_name: String,
    root: RootKey,
    envs: Vec<String>,
    docker_username: String,
    docker_password: Secret,
    cap_add: Vec<String>,
    secrets: Option<Secrets>,
}

impl RegistrationBuilder {
    /// Adds user environment variables to the whitelist (reserved names are refused by
    /// [`build`](Self::build)).
    pub fn env_whitelist<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.envs.extend(names.into_iter().map(Into::into));
        self
    }

    /// Sets the registry credentials the appliance pulls with.
    pub fn docker_credentials(mut self, username: impl Into<String>, password: Secret) -> Self {
        self.docker_username = username.into();
        self.docker_password = password;
        self
    }

    /// Replaces the default `cap_add` (`["ALL"]`).
    pub fn cap_add<I, S>(mut self, caps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cap_add = caps.into_iter().map(Into::into).collect();
        self
    }

    /// Adds secrets for the container.
    pub fn secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Checks the inputs and builds the registration, naming `vendor` as the only key that may
    /// sign it and its updates.
    pub fn build(self, vendor: &PublicKey) -> Result<Registration> {
        let name = self.repository_name;
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(Error::InvalidRepositoryName { name });
        }
        let mut whitelist: Vec<String> = Vec::new();
        for env in self.envs {
            if RESERVED_ENV_NAMES.contains(&env.as_str()) {
                return Err(Error::ReservedEnvName { name: env });
            }
            if !valid_env_name(&env) {
                return Err(Error::InvalidEnvName { name: env });
            }
            if !whitelist.contains(&env) {
                whitelist.push(env);
            }
        }
        whitelist.extend(RESERVED_ENV_NAMES.iter().map(|s| (*s).to_owned()));
        Ok(Registration {
            repository_name: name,
            docker_username: self.docker_username,
            docker_password: self.docker_password,
            envs_whitelist: whitelist,
            public_key_id: self.root.key_id,
            public_key: self.root.public,
            vendor_key: vendor.to_armored()?,
            cap_add: self.cap_add,
            secrets: self.secrets,
        })
    }
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_key_id(key_id: &str) -> Result<()> {
    let ok = key_id.len() == 64
        && key_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidKeyId {
            key_id: key_id.to_owned(),
        })
    }
}

/// The DCT root key a registration (or a contract's `images.dct`) pins: its key ID and its
/// `keyval.public` exactly as notary's root.json holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootKey {
    key_id: String,
    public: String,
}

impl RootKey {
    /// A root key given explicitly. The ID must be 64 hex digits and the key valid base64;
    /// with the `notary` feature, a certificate key must also hash to the ID (notary's key ID
    /// or the canonical ID Docker prints).
    pub fn new(key_id: impl Into<String>, public_b64: impl Into<String>) -> Result<Self> {
        let key_id = key_id.into().to_ascii_lowercase();
        let public = public_b64.into();
        check_key_id(&key_id)?;
        let bytes = B64
            .decode(public.trim())
            .map_err(|e| Error::MalformedRootKey {
                reason: format!("public key is not base64: {e}"),
            })?;
        #[cfg(feature = "notary")]
        if bytes.starts_with(b"-----BEGIN CERTIFICATE") {
            let key = keymgmt::PublicKey::from_certificate_pem(&bytes).map_err(|e| {
                Error::MalformedRootKey {
                    reason: e.to_string(),
                }
            })?;
            let ids = [key.key_id(), key.canonical_key_id()];
            if !ids.iter().any(|id| id.as_str() == key_id) {
                return Err(Error::KeyIdMismatch {
                    expected: key_id,
                    actual: ids[0].as_str().to_owned(),
                });
            }
        }
        #[cfg(not(feature = "notary"))]
        let _ = bytes;
        Ok(Self { key_id, public })
    }

    /// The root role's key from a notary `root.json` (signed or the bare `signed` object).
    /// The root role must list exactly one key; with the `notary` feature its ID is checked
    /// against the key.
    pub fn from_root_json(root_json: &[u8]) -> Result<Self> {
        let malformed = |reason: &str| Error::MalformedRootJson {
            reason: reason.to_owned(),
        };
        let file: RootJson =
            serde_json::from_slice(root_json).map_err(|e| Error::MalformedRootJson {
                reason: e.to_string(),
            })?;
        let root = file.signed.unwrap_or(file.bare);
        let key_ids = &root
            .roles
            .get("root")
            .ok_or_else(|| malformed("no roles.root.keyids"))?
            .keyids;
        let [key_id] = key_ids.as_slice() else {
            return Err(Error::AmbiguousRootKey {
                key_ids: key_ids.clone(),
            });
        };
        let key = root
            .keys
            .get(key_id)
            .ok_or_else(|| malformed("the root key id is not in keys"))?;
        check_key_id(key_id)?;
        #[cfg(feature = "notary")]
        {
            let parsed = key.to_public().map_err(|e| Error::MalformedRootKey {
                reason: e.to_string(),
            })?;
            if parsed.key_id().as_str() != key_id {
                return Err(Error::KeyIdMismatch {
                    expected: key_id.clone(),
                    actual: parsed.key_id().as_str().to_owned(),
                });
            }
        }
        Ok(Self {
            key_id: key_id.clone(),
            public: key.keyval.public.clone(),
        })
    }

    /// The 64-hex key ID.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The key as root.json holds it (`keyval.public`, base64).
    pub fn public_base64(&self) -> &str {
        &self.public
    }
}

/// What [`RootKey::from_root_json`] reads of a `root.json`, signed (`{"signed": ...}`) or the
/// bare `signed` object, in notary-client's types; the rest is not needed to name the key.
#[derive(Deserialize)]
struct RootJson {
    signed: Option<RootKeys>,
    #[serde(flatten)]
    bare: RootKeys,
}

/// The keys and roles of a root.
#[derive(Deserialize, Default)]
struct RootKeys {
    #[serde(default)]
    keys: BTreeMap<String, notary_client::metadata::KeyJson>,
    #[serde(default)]
    roles: BTreeMap<String, notary_client::metadata::RootRole>,
}
