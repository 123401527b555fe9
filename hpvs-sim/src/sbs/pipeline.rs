//! The Secure Build Server's build, step by step, with the real tools: `git` (over SSH with
//! the build's deploy key, the host key learnt on first use and checked after), the
//! workspace's reproducible Dockerfile builder, a push of both tags, Docker Content Trust
//! signing with keys this server made on its first build of the repository, and the signed
//! build manifest.
//!
//! ```text
//! clone GITHUB_URL@GITHUB_BRANCH -> build DOCKERFILE_PATH -> push <prefix>-<sha7>, <prefix>
//!   -> DCT: init on first build (root + targets keys kept in keys/), sign both tags
//!   -> manifest: bzip2 tar of build.json, build.log, git/, signed with a fresh RSA-2048 key
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::metadata::FileMeta;
use notary_client::repository::{InitOptions, KeyHolder};
use notary_client::transport::ServerConfig;
use oci_push::{CredentialSource, Credentials, ImageRef, Layout, PushOptions, Security};
use registry_http::Secret;

/// Whether base images must verify with Docker Content Trust (`DOCKER_CONTENT_TRUST_BASE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BaseTrust {
    /// Bases are used by tag, unverified.
    #[default]
    Unverified,
    /// Bases on the base server are resolved with DCT and built from the verified digest.
    ContentTrust,
}

/// What one build needs, from the init parameters and the appliance.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// `GITHUB_URL`: `git@host:path.git`, `ssh://...`, or `file://...` (tests).
    pub git_url: String,
    /// `GITHUB_BRANCH` (default `master`).
    pub git_branch: String,
    /// `GITHUB_KEY`: the deploy key (OpenSSH private key text), empty for none.
    pub git_key: Secret,
    /// `DOCKERFILE_PATH`, relative to the repository top (default `Dockerfile`).
    pub dockerfile_path: String,
    /// `DOCKER_BUILD_PATH`, relative to the repository top (default `.`).
    pub build_path: String,
    /// `DOCKER_PUSH_SERVER`: `host[:port]`, or `http://host[:port]` for plain HTTP.
    pub push_server: String,
    /// `DOCKER_REPO`: `namespace/repo`.
    pub repo: String,
    /// `DOCKER_USER` / `DOCKER_PASSWORD`: push credentials (empty user: anonymous).
    pub push_user: String,
    /// The push password.
    pub push_password: Secret,
    /// `DOCKER_CONTENT_TRUST_PUSH_SERVER`: the Notary URL.
    pub notary_url: String,
    /// `IMAGE_TAG_PREFIX` (default `latest`).
    pub tag_prefix: String,
    /// `DOCKER_BASE_SERVER`: where `FROM` images come from, `host[:port]` or
    /// `http://host[:port]` for plain HTTP.
    pub base_server: String,
    /// `DOCKER_BASE_USER`: the base server's user (empty: anonymous pulls).
    pub base_user: String,
    /// `DOCKER_BASE_PASSWORD`.
    pub base_password: Secret,
    /// `DOCKER_CONTENT_TRUST_BASE`.
    pub base_trust: BaseTrust,
    /// `DOCKER_CONTENT_TRUST_BASE_SERVER`: the Notary URL base images are verified on.
    pub content_trust_base_server: String,
}

/// The base server's credentials (`DOCKER_BASE_USER`, `DOCKER_BASE_PASSWORD`), for base
/// pulls by the workspace's builder and buildah and for their DCT lookups; anonymous when
/// the user is empty. `Debug` redacts the password.
#[derive(Debug, Clone, Default)]
pub struct BaseCredentials {
    user: String,
    password: Secret,
}

impl BaseCredentials {
    /// `user` and `password`; an empty `user` means anonymous.
    pub fn new(user: impl Into<String>, password: Secret) -> Self {
        Self {
            user: user.into(),
            password,
        }
    }

    /// The user and password, `None` when anonymous.
    pub fn user_password(&self) -> Option<(&str, &str)> {
        (!self.user.is_empty()).then(|| (self.user.as_str(), self.password.expose()))
    }

    /// As a registry client takes them.
    pub fn registry(&self) -> CredentialSource {
        match self.user_password() {
            None => CredentialSource::Anonymous,
            Some(_) => CredentialSource::Static(Credentials::basic(
                self.user.clone(),
                self.password.clone(),
            )),
        }
    }

    /// As the Notary client takes them.
    pub fn notary(&self) -> Credentials {
        match self.user_password() {
            None => Credentials::Anonymous,
            Some(_) => Credentials::basic(self.user.clone(), self.password.clone()),
        }
    }
}

/// The base server's credentials of `request`.
pub fn base_credentials(request: &BuildRequest) -> BaseCredentials {
    BaseCredentials::new(request.base_user.clone(), request.base_password.clone())
}

/// Where the build's files go.
#[derive(Debug, Clone)]
pub struct BuildPaths {
    /// A fresh directory for this build's clone and image layout.
    pub workspace: PathBuf,
    /// The server's key directory: the DCT trust dir and the SSH known hosts live here, so
    /// later builds (and a state image) keep them.
    pub keys: PathBuf,
}

/// Why a step failed: the step (the spec's `cmd`) and the cause.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {reason}")]
pub struct StepFailure {
    /// The step as the status names it (`git clone ...`, `build`, `push`, `sign`).
    pub step: String,
    /// What went wrong.
    pub reason: String,
}

fn fail(step: &str) -> impl FnOnce(String) -> StepFailure + '_ {
    move |reason| StepFailure {
        step: step.to_owned(),
        reason,
    }
}

/// The cloned source: its directory and commit.
#[derive(Debug, Clone)]
pub struct Cloned {
    /// The work tree (with `.git`).
    pub dir: PathBuf,
    /// The full commit ID.
    pub commit: String,
}

impl Cloned {
    /// The first 7 hex of the commit, as the image tag uses it.
    pub fn short_commit(&self) -> &str {
        &self.commit[..self.commit.len().min(7)]
    }
}

/// Clones `request.git_url` at its branch into `paths.workspace/git` with the real `git`.
/// SSH uses only the deploy key and a known-hosts file in `paths.keys`: the host key is
/// learnt on the first clone and checked on every later one.
pub fn clone(request: &BuildRequest, paths: &BuildPaths) -> Result<Cloned, StepFailure> {
    let step = format!("git clone {}", request.git_url);
    let dir = paths.workspace.join("git");
    for dir in [&paths.keys, &paths.workspace] {
        std::fs::create_dir_all(dir)
            .map_err(|e| fail(&step)(format!("create {}: {e}", dir.display())))?;
    }
    let mut command = Command::new("git");
    command
        .args(["clone", "--quiet", "--branch", &request.git_branch, "--"])
        .arg(&request.git_url)
        .arg(&dir)
        .env("GIT_TERMINAL_PROMPT", "0");
    let key_file = paths.workspace.join("deploy-key");
    if !request.git_key.is_empty() {
        crate::state_files::write_secret(&key_file, request.git_key.expose().as_bytes())
            .map_err(|e| fail(&step)(e.to_string()))?;
        let known_hosts = paths.keys.join("known_hosts");
        command.env(
            "GIT_SSH_COMMAND",
            format!(
                "ssh -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} \
                 -o StrictHostKeyChecking=accept-new -o BatchMode=yes",
                shell_word(&key_file),
                shell_word(&known_hosts)
            ),
        );
    }
    let cloned = run(&mut command).map_err(fail(&step));
    // The key is not kept beside the source: the manifest snapshots the workspace's git/.
    let _ = std::fs::remove_file(&key_file);
    cloned?;
    let commit = run(Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(["rev-parse", "HEAD"]))
    .map_err(fail(&step))?
    .trim()
    .to_owned();
    Ok(Cloned { dir, commit })
}

/// The tags a build pushes: `<prefix>-<sha7>` (the status's `image_tag`) and `<prefix>`.
pub fn tags(request: &BuildRequest, cloned: &Cloned) -> [String; 2] {
    [
        format!("{}-{}", request.tag_prefix, cloned.short_commit()),
        request.tag_prefix.clone(),
    ]
}

/// The pushed image's GUN: `host[:port]/namespace/repo`.
pub fn gun(request: &BuildRequest) -> String {
    let host = request
        .push_server
        .split_once("://")
        .map_or(request.push_server.as_str(), |(_, rest)| rest)
        .trim_end_matches('/');
    format!("{host}/{}", request.repo)
}

/// Builds the Dockerfile of the clone into an OCI layout tagged `tag`: `FROM` images that
/// name no registry put on the base server, base images on the base server pinned to their
/// DCT-verified digests (with [`BaseTrust::ContentTrust`]), then buildah when a step runs
/// commands, the workspace's reproducible builder otherwise; base pulls use the base
/// server's credentials.
pub async fn build(
    request: &BuildRequest,
    cloned: &Cloned,
    paths: &BuildPaths,
    tag: &str,
    ca_pem: Option<&[u8]>,
) -> Result<Layout, StepFailure> {
    let step = "build";
    let context = inside(&cloned.dir, &request.build_path).map_err(fail(step))?;
    let dockerfile_path = inside(&cloned.dir, &request.dockerfile_path).map_err(fail(step))?;
    let dockerfile = std::fs::read_to_string(&dockerfile_path)
        .map_err(|e| fail(step)(format!("read {}: {e}", request.dockerfile_path)))?;
    let dockerfile = super::buildah::qualify_base_images(&dockerfile, &request.base_server)
        .map_err(fail(step))?;
    let base_trust_dir = paths.keys.join("base-trust");
    let dockerfile = super::buildah::pin_base_images(request, &dockerfile, &base_trust_dir, ca_pem)
        .await
        .map_err(fail(step))?;
    let layout_dir = paths.workspace.join("image");
    if super::buildah::needs_container_runtime(&dockerfile) {
        let request = request.clone();
        let work = paths.workspace.join("buildah");
        let (tag, layout) = (tag.to_owned(), layout_dir.clone());
        let ca = ca_pem.map(<[u8]>::to_vec);
        tokio::task::spawn_blocking(move || {
            super::buildah::build(
                &request,
                &context,
                &dockerfile,
                &work,
                &layout,
                &tag,
                ca.as_deref(),
            )
        })
        .await
        .map_err(|e| fail(step)(e.to_string()))?
        .map_err(fail(step))?;
        return Layout::open(&layout_dir).map_err(|e| fail(step)(e.to_string()));
    }
    let layout = Layout::create(&layout_dir).map_err(|e| fail(step)(e.to_string()))?;
    let base_client = registry_client(
        &request.base_server,
        ca_pem,
        base_credentials(request).registry(),
    )
    .map_err(fail(step))?;
    oci_push::dockerfile::build(
        Some(&base_client),
        &context,
        &dockerfile,
        &layout,
        tag,
        &oci_push::dockerfile::BuildOptions::default(),
    )
    .await
    .map_err(|e| fail(step)(e.to_string()))?;
    Ok(layout)
}

/// Pushes the layout's image under both tags; returns what the registry stored.
pub async fn push(
    request: &BuildRequest,
    layout: &Layout,
    tags: &[String; 2],
    ca_pem: Option<&[u8]>,
) -> Result<oci_push::Pushed, StepFailure> {
    let step = "push";
    let client =
        registry_client(&request.push_server, ca_pem, credentials(request)).map_err(fail(step))?;
    let gun = gun(request);
    let mut pushed = None;
    for tag in tags {
        let target =
            ImageRef::parse(&format!("{gun}:{tag}")).map_err(|e| fail(step)(e.to_string()))?;
        pushed = Some(
            client
                .push_layout(layout, Some(&tags[0]), &target, &PushOptions::default())
                .await
                .map_err(|e| fail(step)(e.to_string()))?,
        );
    }
    pushed.ok_or_else(|| fail(step)("no tag to push".to_owned()))
}

/// Signs both tags with DCT. On the repository's first build the collection is made here,
/// with a new root key (in its self-signed certificate) and targets key kept in
/// `paths.keys`, and the snapshot key left to the server; a repository already owned by
/// another root is refused. Returns the root key (ID and key, as `root.json` has it).
pub async fn sign(
    request: &BuildRequest,
    paths: &BuildPaths,
    pushed: &oci_push::Pushed,
    tags: &[String; 2],
    ca_pem: Option<&[u8]>,
    key_passphrase: &Secret,
) -> Result<ssc_register::RootKey, StepFailure> {
    let step = "sign";
    let gun = gun(request);
    let mut config =
        ServerConfig::from_url(&request.notary_url).map_err(|e| fail(step)(e.to_string()))?;
    config.ca_pem = ca_pem.map(<[u8]>::to_vec);
    config.credentials = credentials_for_notary(request);
    let trust_dir = paths.keys.join("trust");
    let client = notary_client::repository::Client::new(
        &trust_dir,
        &config,
        Fixed(Passphrase::new(key_passphrase.expose())),
    )
    .map_err(|e| fail(step)(e.to_string()))?;
    let repository = client
        .repository(&gun)
        .map_err(|e| fail(step)(e.to_string()))?;
    let root_json = trust_dir.join("tuf").join(&gun).join("metadata/root.json");
    if !root_json.exists() {
        repository
            .init(&InitOptions {
                root_key: None,
                snapshot: KeyHolder::Server,
            })
            .await
            .map_err(|e| fail(step)(format!("initialising the trust data of {gun}: {e}")))?;
    }
    for tag in tags {
        repository
            .add_target(tag, FileMeta::from(pushed), &[])
            .map_err(|e| fail(step)(e.to_string()))?;
    }
    repository
        .publish()
        .await
        .map_err(|e| fail(step)(e.to_string()))?;
    let root = std::fs::read(&root_json).map_err(|e| fail(step)(e.to_string()))?;
    ssc_register::RootKey::from_root_json(&root).map_err(|e| fail(step)(e.to_string()))
}

/// A registry client for `server` (`http://` means plain HTTP), trusting `ca_pem` when given.
fn registry_client(
    server: &str,
    ca_pem: Option<&[u8]>,
    credentials: CredentialSource,
) -> Result<oci_push::Client, String> {
    oci_push::Client::new(oci_push::ClientOptions {
        security: if server.starts_with("http://") {
            Security::InsecureHttp
        } else {
            Security::Https
        },
        ca_certificates_pem: ca_pem
            .map(|pem| vec![String::from_utf8_lossy(pem).into_owned()])
            .unwrap_or_default(),
        credentials,
        ..oci_push::ClientOptions::default()
    })
    .map_err(|e| e.to_string())
}

fn credentials(request: &BuildRequest) -> CredentialSource {
    if request.push_user.is_empty() {
        CredentialSource::Anonymous
    } else {
        CredentialSource::Static(Credentials::basic(
            request.push_user.clone(),
            request.push_password.clone(),
        ))
    }
}

fn credentials_for_notary(request: &BuildRequest) -> Credentials {
    if request.push_user.is_empty() {
        Credentials::Anonymous
    } else {
        Credentials::basic(request.push_user.clone(), request.push_password.clone())
    }
}

/// `relative` inside `top`: no absolute path, no `..` climbing out.
fn inside(top: &Path, relative: &str) -> Result<PathBuf, String> {
    let path = Path::new(relative);
    let climbs = path.components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if climbs {
        return Err(format!(
            "{relative:?} is not a path inside the repository (no absolute path or ..)"
        ));
    }
    Ok(top.join(path))
}

/// Runs `command`, returning its stdout, or its stderr as the error.
fn run(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{:?} exited with {}: {}",
            command.get_program(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A path as one word of an `ssh` command line (git splits GIT_SSH_COMMAND like a shell).
fn shell_word(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_repository() {
        let top = Path::new("/w/git");
        assert_eq!(
            inside(top, "app/Dockerfile").unwrap(),
            top.join("app/Dockerfile")
        );
        assert_eq!(inside(top, ".").unwrap(), top.join("."));
        assert!(inside(top, "../x").is_err());
        assert!(inside(top, "/etc/passwd").is_err());
    }

    #[test]
    fn the_gun_drops_the_scheme_and_tags_carry_the_commit() {
        let request = BuildRequest {
            push_server: "http://127.0.0.1:5000/".into(),
            repo: "lab/wallet".into(),
            tag_prefix: "latest".into(),
            ..BuildRequest::default()
        };
        assert_eq!(gun(&request), "127.0.0.1:5000/lab/wallet");
        let cloned = Cloned {
            dir: PathBuf::new(),
            commit: "0123456789abcdef".into(),
        };
        assert_eq!(tags(&request, &cloned), ["latest-0123456", "latest"]);
    }
}
