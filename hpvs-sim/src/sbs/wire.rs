//! The JSON documents of the SBS protocol (spec: "Endpoints"), no I/O.

use serde::{Deserialize, Serialize};

/// The answer of `GET /image`. A fresh server answers `{"status": ""}`: every other field is
/// left out until it has a value. `build_image_tag` is there once the server is initialised;
/// `build_name`, `image_tag`, `manifest_key_gen`, `manifest_public_key` and
/// `root_ssh_enabled` only after a successful build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildStatus {
    /// `""`, `cleaned up`, `github cloned`, `image built`, `image pushed`, `success`,
    /// `exiting due to a non-zero return value: <rc>, cmd: <step>` or `restarted cicd`.
    pub status: String,
    /// The build's name (`<registry>.<namespace>.<repo>.<image_tag>.<timestamp>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_name: Option<String>,
    /// The tag pushed (`<prefix>-<sha7>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    /// The SBS image's own tag, from `BUILD_IMAGE_TAG`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_image_tag: Option<String>,
    /// How the manifest key was made: `soft_crypto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_key_gen: Option<String>,
    /// `manifest.<build_name>-public.pem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_public_key: Option<String>,
    /// Always `false`: this server does not enable root SSH into builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_ssh_enabled: Option<bool>,
}

/// Status `cleaned up`: a build started and its workspace was emptied.
pub const CLEANED_UP: &str = "cleaned up";
/// Status `success`.
pub const SUCCESS: &str = "success";
/// Status after `DELETE /image`.
pub const RESTARTED: &str = "restarted cicd";
/// `manifest_key_gen` of every build.
pub const MANIFEST_KEY_GEN: &str = "soft_crypto";

impl BuildStatus {
    /// Whether the status says a build is under way (`cleaned up` up to `image pushed`).
    pub fn in_progress(&self) -> bool {
        self.status == CLEANED_UP || super::status::BuildStep::parse(&self.status).is_some()
    }

    /// The failure status of the spec.
    pub fn failure_text(return_code: i32, step: &str) -> String {
        format!("exiting due to a non-zero return value: {return_code}, cmd: {step}")
    }
}

/// The answer of `GET /manifest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestAnswer {
    /// `manifest.<build_name>`.
    pub manifest_name: String,
    /// Base64 of `manifest.<build_name>.sig.tbz`.
    pub encoded_manifest: String,
}

/// The answer of `GET /publickey`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyAnswer {
    /// The manifest's public key, PEM SubjectPublicKeyInfo.
    pub public_key_pem: String,
    /// The build it signed.
    pub build_name: String,
}

/// The answer of `GET /state-image`; `build.py` saves it whole in a file named `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateImage {
    /// `sbs-state.<namespace>.<repo>.<export_tag>.json`.
    pub name: String,
    /// When it was exported, UTC: `YYYY-MM-DD_HH-MM-SS.ffffff`.
    pub export_tag: String,
    /// The sealed state, base64 ([`super::state_image`]).
    pub state: String,
}

/// An error answer: `{"error": "<message>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    /// What went wrong.
    pub error: String,
}
