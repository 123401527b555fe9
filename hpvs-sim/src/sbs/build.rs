//! The build behind a trait: the server runs the protocol, a [`BuildPipeline`] does the work
//! (clone, build, push, sign, manifest) and returns what the protocol hands out.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use super::params::InitParams;
use super::status::{BuildLog, StatusReporter};

/// The future of one build.
pub type BuildFuture<'a> =
    Pin<Box<dyn Future<Output = Result<BuildOutcome, BuildFailure>> + Send + 'a>>;

/// Does a build. The server calls [`BuildPipeline::build`] once per `PUT /image`, never two
/// at a time, after it set status `cleaned up` and emptied the workspace; it sets `success`
/// or the failure status itself from what the future returns (a panic in it is a failure
/// too).
pub trait BuildPipeline: Send + Sync + 'static {
    /// Runs one build of `job.params`; reports `github cloned`, `image built` and `image
    /// pushed` through `job.status` as it gets there, and logs through `job.log`.
    fn build(&self, job: BuildJob) -> BuildFuture<'_>;
}

/// What a build gets from the server.
#[derive(Debug)]
#[non_exhaustive]
pub struct BuildJob {
    /// The init parameters (after any update).
    pub params: Arc<InitParams>,
    /// An empty directory for this build, under the server's state directory.
    pub workspace: PathBuf,
    /// `<state>/keys/`: where the pipeline keeps its signing keys (encrypted as it sees
    /// fit); it survives `DELETE /image` and travels in the state image.
    pub keys_dir: PathBuf,
    /// The build log.
    pub log: BuildLog,
    /// Sets the status steps.
    pub status: StatusReporter,
}

/// What a successful build hands out.
#[derive(Clone)]
pub struct BuildOutcome {
    /// `<registry>.<namespace>.<repo>.<image_tag>.<YYYY-MM-DD_HH-MM-SS.ffffff>`; letters,
    /// digits, `.`, `_`, `-` and `:` only.
    pub build_name: String,
    /// The tag pushed (`<prefix>-<sha7>`).
    pub image_tag: String,
    /// `<repository>@sha256:<hex>` of the pushed image.
    pub image_digest: String,
    /// `manifest.<build_name>`.
    pub manifest_name: String,
    /// The bytes of `manifest.<build_name>.sig.tbz`.
    pub manifest_sig_tbz: Vec<u8>,
    /// The manifest's public key, PEM SubjectPublicKeyInfo.
    pub manifest_public_key_pem: String,
    /// The registration data `GET /config-json` answers (it holds the read-only pull
    /// password, by the spec's design).
    pub config_json: serde_json::Value,
}

impl std::fmt::Debug for BuildOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildOutcome")
            .field("build_name", &self.build_name)
            .field("image_tag", &self.image_tag)
            .field("image_digest", &self.image_digest)
            .field("manifest_name", &self.manifest_name)
            .field("manifest_sig_tbz", &self.manifest_sig_tbz.len())
            .finish_non_exhaustive()
    }
}

/// A failed build: the status becomes `exiting due to a non-zero return value:
/// <return_code>, cmd: <step>`, and `reason` goes to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFailure {
    /// The failed command's exit code (non-zero).
    pub return_code: i32,
    /// The failed step, as the status names it (`git clone`, `buildah bud`...).
    pub step: String,
    /// Why, for the log.
    pub reason: String,
}
