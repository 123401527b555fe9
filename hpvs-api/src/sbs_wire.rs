//! The JSON answers of the Secure Build Server (`shared/spec/sbs.md`, "Endpoints"), as the
//! client reads them: every field but the one that makes the answer is optional or
//! defaulted, so that an older or newer server's answer still reads.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The status of a successful build.
pub const SUCCESS: &str = "success";

/// How every failure status starts: `exiting due to a non-zero return value: <rc>, cmd: ...`.
pub const FAILURE_PREFIX: &str = "exiting";

/// The answer of `GET /image`. A fresh server answers `{"status": ""}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildStatus {
    /// `""`, `cleaned up`, `github cloned`, `image built`, `image pushed`, `success`,
    /// `exiting due to a non-zero return value: <rc>, cmd: <step>` or `restarted cicd`.
    #[serde(default)]
    pub status: String,
    /// The build's name (`<registry>.<namespace>.<repo>.<image_tag>.<timestamp>`), after a
    /// successful build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_name: Option<String>,
    /// The tag pushed (`<prefix>-<sha7>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    /// The SBS image's own tag (`BUILD_IMAGE_TAG`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_image_tag: Option<String>,
    /// How the manifest key was made (`soft_crypto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_key_gen: Option<String>,
    /// The manifest public key's file name, `manifest.<build_name>-public.pem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_public_key: Option<String>,
    /// Whether root SSH into the build was enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_ssh_enabled: Option<bool>,
}

impl BuildStatus {
    /// Whether the status is `success`.
    pub fn succeeded(&self) -> bool {
        self.status == SUCCESS
    }

    /// Whether the status is a failure (`exiting ...`).
    pub fn failed(&self) -> bool {
        self.status.starts_with(FAILURE_PREFIX)
    }

    /// Whether a build ended here, either way.
    pub fn finished(&self) -> bool {
        self.succeeded() || self.failed()
    }
}

/// The answer of `POST`, `PATCH`, `PUT` and `DELETE /image` and of `POST /state-image`:
/// `{"status": "OK"}`, `{"status": "OK: async build started"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusAnswer {
    /// The server's word, e.g. `OK`.
    #[serde(default)]
    pub status: String,
}

/// The answer of `GET /log/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogAnswer {
    /// The log's text (Python logging lines).
    #[serde(default)]
    pub log: String,
}

/// The answer of `GET /manifest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestAnswer {
    /// `manifest.<build_name>`.
    pub manifest_name: String,
    /// Base64 of `manifest.<build_name>.sig.tbz`.
    pub encoded_manifest: String,
}

impl ManifestAnswer {
    /// The `.sig.tbz` bytes; `None` when `encoded_manifest` is not base64.
    pub fn decode(&self) -> Option<Vec<u8>> {
        use base64::Engine as _;
        let text: String = self
            .encoded_manifest
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD.decode(text).ok()
    }

    /// The file name the lab saves it under: `manifest.<build_name>.sig.tbz`.
    pub fn file_name(&self) -> String {
        format!("{}.sig.tbz", self.manifest_name)
    }

    /// Decodes [`encoded_manifest`](Self::encoded_manifest) and verifies it with
    /// `public_key_pem` (`/publickey`'s), as the lab's `openssl` commands do
    /// ([`crate::manifest::verify_encoded`]); nothing of it is read before the signature
    /// checks.
    ///
    /// # Errors
    ///
    /// [`Error::ManifestRefused`](crate::Error::ManifestRefused) naming the failed check.
    pub fn verify(
        &self,
        public_key_pem: &str,
    ) -> Result<crate::manifest::VerifiedManifest, crate::Error> {
        crate::manifest::verify_encoded(&self.encoded_manifest, public_key_pem).map_err(|source| {
            crate::Error::ManifestRefused {
                manifest_name: self.manifest_name.clone(),
                source,
            }
        })
    }
}

/// The answer of `GET /publickey`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyAnswer {
    /// The manifest's public key, PEM SubjectPublicKeyInfo.
    pub public_key_pem: String,
    /// The build it signed.
    #[serde(default)]
    pub build_name: String,
}

/// The answer of `GET /config-json` (HTTP 201): the registration data of the latest build.
/// Fields this client does not know are kept in `other`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationData {
    /// `registry/namespace/repo`, no tag.
    #[serde(default)]
    pub repository_name: String,
    /// The read-only pull user.
    #[serde(default)]
    pub docker_username: String,
    /// The read-only pull password.
    #[serde(default)]
    pub docker_password: String,
    /// The environment variables a deployment may set.
    #[serde(default)]
    pub envs_whitelist: Vec<String>,
    /// The DCT root key id (64 hex).
    #[serde(default)]
    pub public_key_id: String,
    /// The DCT root key as in `root.json`.
    #[serde(default)]
    pub public_key: String,
    /// Capabilities of the container.
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// Any other field of the answer.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// The answer of `GET /state-image`; `build.py` saves it whole in a file named `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateImage {
    /// `sbs-state.<namespace>.<repo>.<export_tag>.json`.
    #[serde(default)]
    pub name: String,
    /// When it was exported, UTC.
    #[serde(default)]
    pub export_tag: String,
    /// The sealed state, base64.
    pub state: String,
}

/// An error answer: `{"error": "<message>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    /// What went wrong.
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_with_fields_missing() {
        let fresh: BuildStatus = serde_json::from_str(r#"{"status": ""}"#).unwrap();
        assert_eq!(fresh, BuildStatus::default());
        let empty: BuildStatus = serde_json::from_str("{}").unwrap();
        assert!(!empty.finished());
        let failed = BuildStatus {
            status: "exiting due to a non-zero return value: 2, cmd: buildah bud".into(),
            ..BuildStatus::default()
        };
        assert!(failed.failed() && failed.finished() && !failed.succeeded());
        let data: RegistrationData =
            serde_json::from_str(r#"{"repository_name": "r/n/a", "extra": 1}"#).unwrap();
        assert_eq!(data.repository_name, "r/n/a");
        assert_eq!(data.other["extra"], 1);
        let manifest = ManifestAnswer {
            manifest_name: "manifest.b".into(),
            encoded_manifest: "aGVs\nbG8=".into(),
        };
        assert_eq!(manifest.decode().unwrap(), b"hello");
        assert_eq!(manifest.file_name(), "manifest.b.sig.tbz");
    }
}
