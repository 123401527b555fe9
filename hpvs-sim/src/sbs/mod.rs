//! The Secure Build Server (`shared/spec/sbs.md`): the protocol IBM's `build.py` speaks, over
//! mutual TLS, the build, its signed manifest and its state.
//!
//! ```text
//! build.py / curl / hpvs sb ──mTLS (TLS 1.3, CLIENT_CA)──> protocol::router
//!     ──> BuildServer ──> store (the state directory: params, status, builds, logs, keys/)
//!             └── PUT /image ──> BuildPipeline::build (async, one at a time)
//!                                  ├── StatusReporter: github cloned, image built, image pushed
//!                                  └── BuildLog: Python-logging lines, secrets masked
//! ```
//!
//! # Main types
//!
//! - [`SbsIdentity::from_env`]: the server's identity from `SERVER_CRT`, `SERVER_KEY`,
//!   `CLIENT_CA`, `CLIENT_CRT` (base64 of PEM).
//! - [`tls::server_config`] and [`tls::ClientCaVerifier`]: mutual TLS that accepts the lab's
//!   X.509 v1 client certificates; **TLS 1.3 only** (see [`tls`] for why).
//! - [`BuildServer`]: every call of the protocol, independent of HTTP, persisted in a state
//!   directory; [`protocol::router`] and [`serve_build_server`] put it on HTTPS.
//! - [`BuildPipeline`]: the build itself, behind a trait; [`BuildJob`] is what it gets,
//!   [`BuildOutcome`] or [`BuildFailure`] what it returns.
//! - [`InitParams`]: the init parameters, typed, secrets redacted in `Debug`.
//! - [`state_image`]: the sealed export of `keys/` and the parameters, under the client's
//!   `SECRET` and the appliance's [`ApplianceSecret`] (its format is in its doc).
//! - [`SbsError`]: the one error type of the SBS; [`SbsError::status`] is its HTTP status.
//!
//! # Endpoints
//!
//! | method, path | answer |
//! |---|---|
//! | GET `/image` | [`BuildStatus`]; `{"status": ""}` on a fresh server |
//! | POST `/image` | `{"status": "OK"}`: sets the parameters |
//! | PATCH `/image` | `{"status": "OK"}`: updates them ([`InitParams::update`]) |
//! | PUT `/image` | `{"status": "OK: async build started"}`; 409 while a build runs, 409 before POST |
//! | DELETE `/image` | `{"status": "OK"}`; status `restarted cicd`; 409 while a build runs |
//! | GET `/log/build` | `{"log": "<text>"}` |
//! | GET `/manifest` | [`wire::ManifestAnswer`], of `{"BUILD_NAME"}` or the latest (`""`) |
//! | GET `/publickey` | [`wire::PublicKeyAnswer`], the same way |
//! | GET `/config-json` | **201**, the latest build's registration data |
//! | GET `/imagedigest` | **201**, the JSON string `<repository>@sha256:<hex>` |
//! | GET `/state-image` | [`wire::StateImage`] |
//! | POST `/state-image` | `{"status": "OK"}`; 403 wrong secret or another appliance's image, 422 tampered |
//!
//! Errors are `{"error": "<message>"}`: 400 malformed, 403 wrong secret (or a state image
//! of another appliance), 404 nothing there,
//! 409 refused in the server's state, 422 tampered state image, 500 the server's fault.
//!
//! # Choices where the spec is silent
//!
//! - `CLIENT_CRT` is required and must be a certificate, but is not pinned: any certificate
//!   `CLIENT_CA` issued is accepted (older SBS versions pinned it).
//! - `POST /image` replaces the parameters whole; `PATCH /image` merges, may not change
//!   `DOCKER_REPO` or `REPO_ID`, must carry the current `SECRET` if any, and takes
//!   `NEW_SECRET` to change it.
//! - A build that was running when the server stopped is, at the next start, failed with
//!   `exiting due to a non-zero return value: 1, cmd: interrupted after "<status>"`.
//! - `DELETE /image` keeps the parameters and `keys/`; it removes build records, logs and
//!   the workspace.
//!
//! # What it does not do
//!
//! No TLS 1.2; no COS buckets (manifests and state stay in the state directory); no root SSH
//! into builds (`root_ssh_enabled` is always `false`). The build itself is the
//! [`BuildPipeline`]'s: this module runs the protocol around it.

mod build;
pub mod buildah;
mod error;
pub mod identity;
pub mod manifest;
pub mod params;
pub mod pipeline;
pub mod protocol;
mod server;
pub mod state_image;
pub mod status;
mod store;
pub mod tls;
pub mod tool_pipeline;
pub mod wire;

pub use build::{BuildFailure, BuildFuture, BuildJob, BuildOutcome, BuildPipeline};
pub use error::SbsError;
pub use identity::SbsIdentity;
pub use params::InitParams;
pub use protocol::serve_build_server;
pub use server::{BuildServer, LOG_NAMES};
pub use state_image::ApplianceSecret;
pub use status::{BuildLog, BuildStep, StatusReporter};
pub use tool_pipeline::ToolPipeline;
pub use wire::BuildStatus;
