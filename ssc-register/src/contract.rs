//! HPCR contracts (HPVS for VPC / Hyper Protect Container Runtime): the `workload` section that
//! pins DCT images, encrypted `workload` and `env` sections, `envWorkloadSignature`, and the
//! contract YAML.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_norway::{Mapping, Value};

use crate::basic::{self, RsaRecipient, RsaSecretKey};
use crate::error::{Error, Result};
use crate::registration::RootKey;
use crate::secret::Secret;

/// A contract as deployed: every section already encrypted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// The encrypted workload section (`hyper-protect-basic...`).
    pub workload: String,
    /// The encrypted env section (`hyper-protect-basic...`).
    pub env: String,
    /// Base64 RSA-SHA256 signature over `workload` followed by `env`.
    #[serde(rename = "envWorkloadSignature")]
    pub env_workload_signature: String,
    /// PEM public key the attestation record gets encrypted to, if any.
    #[serde(
        rename = "attestationPublicKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attestation_public_key: Option<String>,
}

impl Contract {
    /// Encrypts `workload_yaml` and `env_yaml` to `hpcr` (the HPCR encryption certificate),
    /// puts `signing`'s public key into `env.signingKey`, and signs the result.
    pub fn build(
        workload_yaml: &str,
        env_yaml: &str,
        hpcr: &RsaRecipient,
        signing: &RsaSecretKey,
        attestation_public_key: Option<String>,
    ) -> Result<Self> {
        let workload = parse_mapping("workload", workload_yaml)?;
        let mut env = parse_mapping("env", env_yaml)?;
        check_type("workload", &workload)?;
        check_type("env", &env)?;
        env.insert(
            Value::from("signingKey"),
            Value::from(signing.public_key_pem()?),
        );
        let env_text = serde_norway::to_string(&env).map_err(|e| yaml_error("env", e))?;
        let workload = basic::encrypt(workload_yaml.as_bytes(), hpcr)?;
        let env = basic::encrypt(env_text.as_bytes(), hpcr)?;
        let signature = signing.sign_sha256(format!("{workload}{env}").as_bytes());
        Ok(Self {
            workload,
            env,
            env_workload_signature: B64.encode(signature),
            attestation_public_key,
        })
    }

    /// Checks `envWorkloadSignature` with the signing key's public half.
    pub fn verify_signature(&self, signing_public: &RsaRecipient) -> bool {
        let Ok(signature) = B64.decode(&self.env_workload_signature) else {
            return false;
        };
        basic::verify_sha256(
            signing_public,
            format!("{}{}", self.workload, self.env).as_bytes(),
            &signature,
        )
    }

    /// The contract YAML.
    pub fn to_yaml(&self) -> Result<String> {
        serde_norway::to_string(self).map_err(|e| yaml_error("contract", e))
    }

    /// Reads a contract YAML.
    pub fn from_yaml(text: &str) -> Result<Self> {
        serde_norway::from_str(text).map_err(|e| yaml_error("contract", e))
    }

    /// The contract's sections by name, in the order the attestation record lists them.
    pub fn sections(&self) -> Vec<(&'static str, &str)> {
        let mut sections = vec![
            ("workload", self.workload.as_str()),
            ("env", self.env.as_str()),
            ("envWorkloadSignature", self.env_workload_signature.as_str()),
        ];
        if let Some(key) = &self.attestation_public_key {
            sections.push(("attestationPublicKey", key.as_str()));
        }
        sections
    }
}

fn parse_mapping(what: &'static str, text: &str) -> Result<Mapping> {
    match serde_norway::from_str::<Value>(text).map_err(|e| yaml_error(what, e))? {
        Value::Mapping(mapping) => Ok(mapping),
        _ => Err(Error::MalformedYaml {
            what,
            reason: "expected a mapping".to_owned(),
        }),
    }
}

fn check_type(what: &'static str, section: &Mapping) -> Result<()> {
    match section.get("type").and_then(Value::as_str) {
        Some(t) if t == what => Ok(()),
        other => Err(Error::MalformedYaml {
            what,
            reason: format!("got type {other:?}, expected {what:?}"),
        }),
    }
}

fn yaml_error(what: &'static str, e: serde_norway::Error) -> Error {
    Error::MalformedYaml {
        what,
        reason: e.to_string(),
    }
}

/// The cleartext `workload` section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Workload {
    #[serde(rename = "type")]
    kind: WorkloadType,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    auths: BTreeMap<String, RegistryAuth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compose: Option<Compose>,
    #[serde(skip_serializing_if = "Images::is_empty")]
    images: Images,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum WorkloadType {
    #[default]
    Workload,
}

/// Registry credentials in `workload.auths`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegistryAuth {
    /// Registry user.
    pub username: String,
    /// Registry password or token.
    pub password: Secret,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct Compose {
    archive: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
struct Images {
    dct: BTreeMap<String, DctImage>,
}

impl Images {
    fn is_empty(&self) -> bool {
        self.dct.is_empty()
    }
}

/// One `images.dct.<image>` entry: the Notary server and the pinned root key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DctImage {
    /// Notary server URL.
    pub notary: String,
    /// The root key as root.json holds it (base64 of the root certificate PEM).
    #[serde(rename = "publicKey")]
    pub public_key: String,
}

impl Workload {
    /// An empty workload section.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `compose.archive` (base64 of a tgz holding docker-compose.yaml).
    pub fn compose_archive(mut self, archive_b64: impl Into<String>) -> Self {
        self.compose = Some(Compose {
            archive: archive_b64.into(),
        });
        self
    }

    /// Adds registry credentials.
    pub fn auth(mut self, registry: impl Into<String>, auth: RegistryAuth) -> Self {
        self.auths.insert(registry.into(), auth);
        self
    }

    /// Pins `image` (e.g. `us.icr.io/team/app`) to `root` as served by `notary_url`.
    pub fn dct_image(
        mut self,
        image: impl Into<String>,
        notary_url: impl Into<String>,
        root: &RootKey,
    ) -> Self {
        self.images.dct.insert(
            image.into(),
            DctImage {
                notary: notary_url.into(),
                public_key: root.public_base64().to_owned(),
            },
        );
        self
    }

    /// The section as YAML, ready for [`Contract::build`].
    pub fn to_yaml(&self) -> Result<String> {
        serde_norway::to_string(self).map_err(|e| yaml_error("workload", e))
    }
}
