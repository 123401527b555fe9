//! The JSON documents of the SBS protocol (spec: "Endpoints"): the types are hpvs-api's
//! ([`hpvs_api::sbs_wire`]), shared with the client; here are the status texts the server
//! writes. No I/O.

pub use hpvs_api::sbs_wire::{
    BuildStatus, ErrorAnswer, ManifestAnswer, PublicKeyAnswer, SUCCESS, StateImage,
};

/// The status while a build starts.
pub const CLEANED_UP: &str = "cleaned up";
/// The status after `DELETE /image`.
pub const RESTARTED: &str = "restarted cicd";
/// `manifest_key_gen` of a successful build: the manifest key is made in software.
pub const MANIFEST_KEY_GEN: &str = "soft_crypto";

/// Whether `status` is a build still under way (`cleaned up` or one of the step texts).
pub fn in_progress(status: &BuildStatus) -> bool {
    status.status == CLEANED_UP || super::status::BuildStep::parse(&status.status).is_some()
}

/// The status of a failed build, in the spec's words.
pub fn failure_text(return_code: i32, step: &str) -> String {
    format!("exiting due to a non-zero return value: {return_code}, cmd: {step}")
}
