//! The [`BuildPipeline`] the appliance's Secure Build Servers run: the steps of
//! [`super::pipeline`] in order, with the status and log the protocol shows, ending in the
//! signed manifest and the registration data.

use std::sync::Arc;

use registry_http::Secret;
use serde_json::json;

use super::build::{BuildFailure, BuildFuture, BuildJob, BuildOutcome, BuildPipeline};
use super::manifest::{self, BuildManifest, ManifestInputs, ManifestKey};
use super::params::InitParams;
use super::pipeline::{self, BaseTrust, BuildPaths, BuildRequest, StepFailure};
use super::status::BuildStep;

/// The file in the key directory holding the passphrase of the DCT keys (0600): the keys are
/// encrypted at rest as notary encrypts them, and travel with their passphrase in the state
/// image, which is itself encrypted.
const KEY_PASSPHRASE_FILE: &str = "dct-key-passphrase";

/// Builds with git, the workspace's builder or buildah, docker-registry and Notary.
#[derive(Debug, Clone, Default)]
pub struct ToolPipeline {
    /// CA certificates (PEM) trusted for the registry's and Notary's HTTPS.
    pub ca_pem: Option<Arc<Vec<u8>>>,
}

impl BuildPipeline for ToolPipeline {
    fn build(&self, job: BuildJob) -> BuildFuture<'_> {
        Box::pin(self.run(job))
    }
}

impl ToolPipeline {
    async fn run(&self, job: BuildJob) -> Result<BuildOutcome, BuildFailure> {
        let request = request(&job.params);
        let paths = BuildPaths {
            workspace: job.workspace.clone(),
            keys: job.keys_dir.clone(),
        };
        let ca = self.ca_pem.as_deref().map(Vec::as_slice);
        let log = &job.log;
        // The manifest key (RSA-2048, a fifth of a second) is made while the build runs.
        let manifest_key = tokio::task::spawn_blocking(ManifestKey::generate);

        log.info(format!(
            "cloning {} at branch {}",
            request.git_url, request.git_branch
        ));
        // git and ssh run for seconds: off the async threads, which serve the API meanwhile.
        let (clone_request, clone_paths) = (request.clone(), paths.clone());
        let cloned =
            tokio::task::spawn_blocking(move || pipeline::clone(&clone_request, &clone_paths))
                .await
                .map_err(|e| failure(128, "git clone", e))?
                .map_err(failed(128))?;
        log.info(format!("cloned commit {}", cloned.commit));
        report(&job, BuildStep::GithubCloned)?;

        let tags = pipeline::tags(&request, &cloned);
        log.info(format!(
            "building {} with tag {}",
            request.dockerfile_path, tags[0]
        ));
        let layout = pipeline::build(&request, &cloned, &paths, &tags[0], ca)
            .await
            .map_err(failed(1))?;
        report(&job, BuildStep::ImageBuilt)?;

        let gun = pipeline::gun(&request);
        let pushed = pipeline::push(&request, &layout, &tags, ca)
            .await
            .map_err(failed(1))?;
        log.info(format!(
            "pushed {gun}:{{{}}} digest={}",
            tags.join(","),
            pushed.digest
        ));
        let passphrase = key_passphrase(&paths).map_err(failed(1))?;
        let root = pipeline::sign(&request, &paths, &pushed, &tags, ca, &passphrase)
            .await
            .map_err(failed(1))?;
        log.info(format!(
            "signed {} tags of {gun} with DCT, root keyid={}",
            tags.len(),
            root.key_id()
        ));
        report(&job, BuildStep::ImagePushed)?;

        let build_name = build_name(&gun, &tags[0]);
        let manifest_key = manifest_key
            .await
            .map_err(|e| failure(1, "manifest", e))?
            .map_err(|e| failure(1, "manifest", e))?;
        let build_json = json!({
            "status": "image pushed",
            "build_name": build_name,
            "image_tag": tags[0],
            "image_digest": format!("{gun}@{}", pushed.digest),
            "git_commit": cloned.commit,
            "root_key_id": root.key_id(),
            "params": job.params.to_document(),
        });
        log.info(format!("writing manifest.{build_name}"));
        // Packing and checking the archives is a second of CPU: off the async threads, which
        // serve the build server's API meanwhile.
        let (build_log, git_dir, name) = (log.contents(), cloned.dir.clone(), build_name.clone());
        let (signed, manifest_key) = tokio::task::spawn_blocking(move || {
            let inputs = ManifestInputs {
                build_json,
                build_log: &build_log,
                git_dir: &git_dir,
                root_ssh_dir: None,
                mtime: 0,
            };
            let signed = BuildManifest::create(&name, &inputs, &manifest_key)
                .map_err(|e| failure(1, "manifest", e))?;
            manifest::verify(&signed.sig_tbz, manifest_key.public_key_pem())
                .map_err(|e| failure(1, "manifest", e))?;
            Ok::<_, BuildFailure>((signed, manifest_key))
        })
        .await
        .map_err(|e| failure(1, "manifest", e))??;
        log.info(format!(
            "manifest sha256={} signature verify=OK",
            signed.tbz_sha256_hex
        ));
        log.info("completed a build");

        let params = &job.params;
        Ok(BuildOutcome {
            image_tag: tags[0].clone(),
            image_digest: format!("{gun}@{}", pushed.digest),
            manifest_name: signed.name.clone(),
            manifest_sig_tbz: signed.sig_tbz,
            manifest_public_key_pem: manifest_key.public_key_pem().to_owned(),
            config_json: json!({
                "repository_name": gun,
                "docker_username": params.docker_ro_user.clone().unwrap_or_default(),
                "docker_password": params
                    .docker_ro_password
                    .as_ref()
                    .map(|p| p.expose().to_owned())
                    .unwrap_or_default(),
                "envs_whitelist": params.env_whitelist,
                "public_key_id": root.key_id(),
                "public_key": root.public_base64(),
                "cap_add": ["ALL"],
            }),
            build_name,
        })
    }
}

/// The build's settings from the init parameters, with the spec's defaults.
fn request(params: &InitParams) -> BuildRequest {
    BuildRequest {
        git_url: params.github_url.clone(),
        git_branch: params
            .github_branch
            .clone()
            .unwrap_or_else(|| "master".to_owned()),
        git_key: params.github_key.clone(),
        dockerfile_path: params
            .dockerfile_path
            .clone()
            .unwrap_or_else(|| "Dockerfile".to_owned()),
        build_path: params
            .docker_build_path
            .clone()
            .unwrap_or_else(|| ".".to_owned()),
        push_server: params
            .docker_push_server
            .clone()
            .unwrap_or_else(|| "docker.io".to_owned()),
        repo: params.docker_repo.clone(),
        push_user: params.docker_user.clone(),
        push_password: params.docker_password.clone(),
        notary_url: params
            .docker_content_trust_push_server
            .clone()
            .unwrap_or_else(|| "https://notary.docker.io".to_owned()),
        tag_prefix: params
            .image_tag_prefix
            .clone()
            .unwrap_or_else(|| "latest".to_owned()),
        base_server: params.docker_base_server.clone().unwrap_or_default(),
        base_user: params.docker_base_user.clone().unwrap_or_default(),
        base_password: params.docker_base_password.clone().unwrap_or_default(),
        base_trust: if params.docker_content_trust_base {
            BaseTrust::ContentTrust
        } else {
            BaseTrust::Unverified
        },
        content_trust_base_server: params
            .docker_content_trust_base_server
            .clone()
            .unwrap_or_default(),
    }
}

/// `<registry host>.<namespace>.<repo>.<image_tag>.<YYYY-MM-DD_HH-MM-SS.ffffff>` (UTC).
fn build_name(gun: &str, image_tag: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}-{:02}-{:02}_{:02}-{:02}-{:02}.{:06}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    );
    format!("{}.{image_tag}.{stamp}", gun.replace('/', "."))
}

/// The DCT keys' passphrase, made (32 random bytes, hex, 0600) on the first build.
fn key_passphrase(paths: &BuildPaths) -> Result<Secret, StepFailure> {
    let path = paths.keys.join(KEY_PASSPHRASE_FILE);
    let step = |reason: String| StepFailure {
        step: "sign".to_owned(),
        reason,
    };
    std::fs::create_dir_all(&paths.keys).map_err(|e| step(e.to_string()))?;
    if let Some(bytes) = crate::state_files::read_secret(&path).map_err(|e| step(e.to_string()))? {
        return Ok(Secret::new(String::from_utf8_lossy(&bytes).into_owned()));
    }
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| step("the system random generator failed".to_owned()))?;
    let passphrase = hex::encode(bytes);
    crate::state_files::write_secret(&path, passphrase.as_bytes())
        .map_err(|e| step(e.to_string()))?;
    Ok(Secret::new(passphrase))
}

fn report(job: &BuildJob, step: BuildStep) -> Result<(), BuildFailure> {
    job.status
        .report(step)
        .map_err(|e| failure(1, step.as_str(), e))
}

fn failed(return_code: i32) -> impl FnOnce(StepFailure) -> BuildFailure {
    move |e| BuildFailure {
        return_code,
        step: e.step,
        reason: e.reason,
    }
}

fn failure(return_code: i32, step: &str, error: impl std::fmt::Display) -> BuildFailure {
    BuildFailure {
        return_code,
        step: step.to_owned(),
        reason: error.to_string(),
    }
}
