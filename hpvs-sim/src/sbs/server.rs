//! [`BuildServer`]: every call of the SBS protocol, independent of HTTP, over a state
//! directory ([`super::store`]) and a [`BuildPipeline`].

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use registry_http::Secret;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use super::build::{BuildFailure, BuildJob, BuildOutcome, BuildPipeline};
use super::error::SbsError;
use super::params::InitParams;
use super::state_image::{self, ApplianceSecret, StatePayload};
use super::status::{BuildLog, BuildStep, StatusReporter, StatusSink};
use super::store::{Store, check_outcome};
use super::wire::{
    self, BuildStatus, CLEANED_UP, MANIFEST_KEY_GEN, ManifestAnswer, PublicKeyAnswer, RESTARTED,
    SUCCESS, StateImage,
};

/// The logs `GET /log/{name}` serves.
pub const LOG_NAMES: &[&str] = &["build"];

/// A Secure Build Server: its state directory, its pipeline, at most one running build.
/// Cheap to clone (all clones are the same server).
#[derive(Clone)]
pub struct BuildServer {
    shared: Arc<Shared>,
    pipeline: Arc<dyn BuildPipeline>,
}

impl std::fmt::Debug for BuildServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildServer")
            .field("store", &self.shared.store)
            .finish_non_exhaustive()
    }
}

struct Shared {
    store: Store,
    state: Mutex<State>,
    /// The state image's second secret, the appliance's.
    appliance: ApplianceSecret,
}

struct State {
    params: Option<Arc<InitParams>>,
    status: BuildStatus,
    /// The id of the running build, if one runs.
    running: Option<u64>,
    next_id: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn set_status(&self, state: &mut State, status: BuildStatus) -> Result<(), SbsError> {
        self.store.save_status(&status)?;
        state.status = status;
        Ok(())
    }
}

impl StatusSink for Shared {
    fn set_step(&self, build_id: u64, step: BuildStep) -> Result<(), SbsError> {
        let mut state = self.lock();
        if state.running != Some(build_id) {
            return Ok(());
        }
        let status = BuildStatus {
            status: step.as_str().to_owned(),
            ..state.status.clone()
        };
        self.set_status(&mut state, status)
    }
}

/// The failure of a build that the server's restart interrupted.
const INTERRUPTED_RC: i32 = 1;

impl BuildServer {
    /// The server of `state_dir` (made when missing), building with `pipeline`, sealing its
    /// state images under the client's `SECRET` and `appliance` (the same for every build
    /// server of an appliance, never exported). A build that was running when the previous
    /// server stopped is marked failed.
    pub fn open(
        state_dir: &Path,
        pipeline: Arc<dyn BuildPipeline>,
        appliance: ApplianceSecret,
    ) -> Result<Self, SbsError> {
        let store = Store::open(state_dir)?;
        let params = store.load_params()?.map(Arc::new);
        let mut status = store.load_status()?;
        if wire::in_progress(&status) {
            let step = format!("interrupted after {:?}", status.status);
            let secrets: Vec<&str> = params
                .as_deref()
                .map(InitParams::secrets)
                .unwrap_or_default();
            BuildLog::new(store.log_path(), &secrets).error(format!(
                "the server stopped while the build was at {:?}: the build did not finish",
                status.status
            ));
            status = BuildStatus {
                status: wire::failure_text(INTERRUPTED_RC, &step),
                build_image_tag: status.build_image_tag,
                ..BuildStatus::default()
            };
            store.save_status(&status)?;
        }
        Ok(Self {
            shared: Arc::new(Shared {
                store,
                state: Mutex::new(State {
                    params,
                    status,
                    running: None,
                    next_id: 1,
                }),
                appliance,
            }),
            pipeline,
        })
    }

    /// `GET /image`.
    pub fn status(&self) -> BuildStatus {
        self.shared.lock().status.clone()
    }

    /// Whether a build is running.
    pub fn is_building(&self) -> bool {
        self.shared.lock().running.is_some()
    }

    fn refuse_while_building(state: &State, action: &'static str) -> Result<(), SbsError> {
        if state.running.is_some() {
            return Err(SbsError::BuildRunning {
                status: state.status.status.clone(),
                action,
            });
        }
        Ok(())
    }

    /// `POST /image`: sets the init parameters (replacing any).
    pub fn init(&self, body: &Value) -> Result<(), SbsError> {
        let params = InitParams::parse(body)?;
        let mut state = self.shared.lock();
        Self::refuse_while_building(&state, "init")?;
        self.install_params(&mut state, params)
    }

    /// `PATCH /image`: updates the init parameters ([`InitParams::update`]).
    pub fn update(&self, body: &Value) -> Result<(), SbsError> {
        let mut state = self.shared.lock();
        Self::refuse_while_building(&state, "update")?;
        let current = state.params.clone().ok_or(SbsError::NotInitialised)?;
        let params = current.update(body)?;
        self.install_params(&mut state, params)
    }

    fn install_params(&self, state: &mut State, params: InitParams) -> Result<(), SbsError> {
        self.shared.store.save_params(&params)?;
        let status = BuildStatus {
            build_image_tag: Some(params.build_image_tag.clone()),
            ..state.status.clone()
        };
        state.params = Some(Arc::new(params));
        self.shared.set_status(state, status)
    }

    /// `PUT /image`: starts a build in the background (call it inside a Tokio runtime).
    pub fn start_build(&self) -> Result<(), SbsError> {
        let mut state = self.shared.lock();
        let params = state.params.clone().ok_or(SbsError::NotInitialised)?;
        Self::refuse_while_building(&state, "start another build")?;
        let store = &self.shared.store;
        store.reset_workspace()?;
        store.truncate_log()?;
        let log = BuildLog::new(store.log_path(), &params.secrets());
        self.shared.set_status(
            &mut state,
            BuildStatus {
                status: CLEANED_UP.to_owned(),
                build_image_tag: Some(params.build_image_tag.clone()),
                ..BuildStatus::default()
            },
        )?;
        let build_id = state.next_id;
        state.next_id += 1;
        state.running = Some(build_id);
        drop(state);
        log.info(CLEANED_UP);

        let sink: Arc<dyn StatusSink> = Arc::clone(&self.shared) as Arc<dyn StatusSink>;
        let job = BuildJob {
            params: Arc::clone(&params),
            workspace: store.workspace_dir(),
            keys_dir: store.keys_dir(),
            log: log.clone(),
            status: StatusReporter::new(sink, build_id, log.clone()),
        };
        let server = self.clone();
        tokio::spawn(async move {
            let pipeline = Arc::clone(&server.pipeline);
            let result = tokio::spawn(async move { pipeline.build(job).await }).await;
            let result = result.unwrap_or_else(|error| {
                Err(BuildFailure {
                    return_code: -1,
                    step: "build pipeline".to_owned(),
                    reason: format!("the build pipeline stopped: {error}"),
                })
            });
            server.finish(build_id, &params, &log, result);
        });
        Ok(())
    }

    fn finish(
        &self,
        build_id: u64,
        params: &InitParams,
        log: &BuildLog,
        result: Result<BuildOutcome, BuildFailure>,
    ) {
        let result = result.and_then(|outcome| {
            check_outcome(&outcome)
                .and_then(|()| self.shared.store.save_build(&outcome))
                .map(|()| outcome)
                .map_err(|error| BuildFailure {
                    return_code: 1,
                    step: "record the build".to_owned(),
                    reason: error.to_string(),
                })
        });
        let status = match result {
            Ok(outcome) => {
                log.info(format!(
                    "build {} of {}",
                    outcome.build_name, outcome.image_digest
                ));
                log.info("completed a build");
                BuildStatus {
                    status: SUCCESS.to_owned(),
                    manifest_public_key: Some(format!(
                        "manifest.{}-public.pem",
                        outcome.build_name
                    )),
                    build_name: Some(outcome.build_name),
                    image_tag: Some(outcome.image_tag),
                    build_image_tag: Some(params.build_image_tag.clone()),
                    manifest_key_gen: Some(MANIFEST_KEY_GEN.to_owned()),
                    root_ssh_enabled: Some(false),
                }
            }
            Err(failure) => {
                log.error(format!("{}: {}", failure.step, failure.reason));
                let step = log.mask(&failure.step);
                BuildStatus {
                    status: wire::failure_text(failure.return_code, &step),
                    build_image_tag: Some(params.build_image_tag.clone()),
                    ..BuildStatus::default()
                }
            }
        };
        let mut state = self.shared.lock();
        if state.running == Some(build_id) {
            if let Err(error) = self.shared.set_status(&mut state, status.clone()) {
                tracing::error!(%error, "saving the build's status");
                state.status = status;
            }
            state.running = None;
        }
    }

    /// `DELETE /image`: removes build records, logs and the workspace; keeps the
    /// parameters and `keys/`. Status `restarted cicd`.
    pub fn clean(&self) -> Result<(), SbsError> {
        let mut state = self.shared.lock();
        Self::refuse_while_building(&state, "clean")?;
        self.shared.store.clear_builds()?;
        let status = BuildStatus {
            status: RESTARTED.to_owned(),
            build_image_tag: state.params.as_ref().map(|p| p.build_image_tag.clone()),
            ..BuildStatus::default()
        };
        self.shared.set_status(&mut state, status)
    }

    /// `GET /log/{name}`.
    pub fn log(&self, name: &str) -> Result<String, SbsError> {
        if !LOG_NAMES.contains(&name) {
            return Err(SbsError::UnknownLog {
                name: name.to_owned(),
                known: LOG_NAMES,
            });
        }
        self.shared.store.read_log()
    }

    /// `GET /manifest`: of build `name`, or the latest.
    pub fn manifest(&self, name: Option<&str>) -> Result<ManifestAnswer, SbsError> {
        let record = self.shared.store.load_build(name)?;
        let bytes = self.shared.store.load_manifest(&record.build_name)?;
        Ok(ManifestAnswer {
            manifest_name: record.manifest_name,
            encoded_manifest: base64::engine::general_purpose::STANDARD.encode(bytes),
        })
    }

    /// `GET /publickey`: of build `name`, or the latest.
    pub fn public_key(&self, name: Option<&str>) -> Result<PublicKeyAnswer, SbsError> {
        let record = self.shared.store.load_build(name)?;
        Ok(PublicKeyAnswer {
            public_key_pem: record.manifest_public_key_pem,
            build_name: record.build_name,
        })
    }

    /// `GET /config-json`: the registration data of the latest build.
    pub fn config_json(&self) -> Result<Value, SbsError> {
        Ok(self.shared.store.load_build(None)?.config_json)
    }

    /// `GET /imagedigest`: `<repository>@sha256:<hex>` of the latest build.
    pub fn image_digest(&self) -> Result<String, SbsError> {
        Ok(self.shared.store.load_build(None)?.image_digest)
    }

    /// `GET /state-image`: `keys/` and the parameters, sealed under `SECRET` and the
    /// appliance's secret.
    pub fn export_state(&self) -> Result<StateImage, SbsError> {
        let params = self
            .shared
            .lock()
            .params
            .clone()
            .ok_or(SbsError::NotInitialised)?;
        let keys = self.shared.store.read_keys()?;
        let payload = StatePayload::new(Some(params.to_document()), &keys);
        let state = state_image::seal(&payload, params.secret.expose(), &self.shared.appliance)?;
        let export_tag = OffsetDateTime::now_utc()
            .format(format_description!(
                "[year]-[month]-[day]_[hour]-[minute]-[second].[subsecond digits:6]"
            ))
            .map_err(|_| SbsError::Crypto { what: "timestamp" })?;
        Ok(StateImage {
            name: format!(
                "sbs-state.{}.{export_tag}.json",
                params.docker_repo.replace('/', ".")
            ),
            export_tag,
            state,
        })
    }

    /// `POST /state-image`: restores `keys/` and the parameters of a state image exported
    /// under `secret` on this appliance. Everything is checked before anything is written.
    pub fn import_state(&self, secret: &Secret, state: &str) -> Result<(), SbsError> {
        let payload = state_image::open(state, secret.expose(), &self.shared.appliance)?;
        let keys = payload.key_files()?;
        let params = match &payload.params {
            Some(document) => {
                Some(
                    InitParams::parse(document).map_err(|e| SbsError::StateMalformed {
                        reason: format!("its parameters: {e}"),
                    })?,
                )
            }
            None => None,
        };
        let mut guard = self.shared.lock();
        Self::refuse_while_building(&guard, "import a state image")?;
        self.shared.store.replace_keys(&keys)?;
        if let Some(params) = params {
            self.install_params(&mut guard, params)?;
        }
        Ok(())
    }
}
