//! Deploying a virtual server, in the background after `POST /virtual-servers`:
//!
//! ```text
//! resolve the tag through Notary, root pinned to the registration's key
//!   -> pull by that digest into the shared image store (every blob verified)
//!   -> unpack once per image (verified before extraction); an overlay per server on it
//!   -> create the runc bundle, namespace and quota volumes -> start -> forward host ports
//! ```
//!
//! Each step is recorded as the server's `reason` while it runs; the first failure ends the
//! server `failed` with the step and the cause, and removes whatever the steps made.

use std::sync::Arc;

use hpvs_api::wire::{Image, ServerState};
use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::pinning::{FirstUse, TrustPinning};
use notary_client::transport::ServerConfig;
use oci_push::{
    CredentialSource, Credentials, Digest, ImageRef, Layout, Platform, PullOptions, Security,
};
use registry_http::Secret;
use ssc_register::Registration;

use crate::appliance::Appliance;
use crate::error::Result;
use crate::lifecycle::{blocking, now, quota_mounts};
use crate::runtime::{ServerName, ServerSettings};

/// Why a deploy failed: the step and the cause, as the server's `reason` shows it.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {cause}")]
pub struct DeployError {
    /// The step that failed (`resolve latest`, `pull`...).
    pub step: String,
    /// Its cause.
    pub cause: Box<dyn std::error::Error + Send + Sync>,
}

fn at<E: std::error::Error + Send + Sync + 'static>(
    step: impl Into<String>,
) -> impl FnOnce(E) -> DeployError {
    let step = step.into();
    move |cause| DeployError {
        step,
        cause: Box::new(cause),
    }
}

/// What a pull needs to know about the repository's registry.
struct Source {
    registration: Registration,
    registry_url: String,
    notary_url: String,
    credentials: Credentials,
}

impl Appliance {
    /// Deploys the recorded server `name` (see the module docs) and records the outcome.
    pub(crate) async fn deploy(self: Arc<Self>, name: ServerName) {
        let outcome = self.try_deploy(&name).await;
        let recorded = match outcome {
            Ok(digest) => self.store.set_server_state(
                name.as_str(),
                ServerState::Running,
                None,
                Some(digest.as_str()),
                Some(&now()),
            ),
            Err(error) => {
                tracing::warn!(server = %name, %error, "deploy failed");
                if let Err(undo) = self.remove_workload(name.as_str()).await {
                    tracing::warn!(server = %name, error = %undo, "undoing a failed deploy");
                }
                self.store.set_server_state(
                    name.as_str(),
                    ServerState::Failed,
                    Some(&error.to_string()),
                    None,
                    None,
                )
            }
        };
        if let Err(error) = recorded {
            tracing::error!(server = %name, %error, "recording a deploy's outcome");
        }
    }

    fn progress(&self, name: &ServerName, step: &str) {
        let recorded = self.store.set_server_state(
            name.as_str(),
            ServerState::Creating,
            Some(step),
            None,
            None,
        );
        if let Err(error) = recorded {
            tracing::warn!(server = %name, %error, "recording progress");
        }
    }

    async fn try_deploy(&self, name: &ServerName) -> Result<Digest, DeployError> {
        let row = self
            .store
            .server(name.as_str())
            .map_err(at("read the server"))?;
        let server = row.server;
        let source = self
            .source(&server.repo)
            .map_err(at("read the repository"))?;
        let gun = source.registration.repository_name.clone();

        // Resolve, with the root pinned: a collection re-created under another root fails here.
        let step = format!("resolve {} through {}", server.tag, source.notary_url);
        self.progress(name, &step);
        let digest = self
            .resolve(&server.repo, &source, &server.tag)
            .await
            .map_err(|cause| DeployError { step, cause })?;

        let step = format!("pull {gun}@{digest}");
        self.progress(name, &step);
        let layout = Layout::open(self.image_layout_dir())
            .or_else(|_| Layout::create(self.image_layout_dir()))
            .map_err(at(step.clone()))?;
        let client = oci_push::Client::new(oci_push::ClientOptions {
            security: if source.registry_url.starts_with("http://") {
                Security::InsecureHttp
            } else {
                Security::Https
            },
            ca_certificates_pem: self.outbound_ca_pem_list(),
            credentials: CredentialSource::Static(source.credentials.clone()),
            ..oci_push::ClientOptions::default()
        })
        .map_err(at(step.clone()))?;
        let reference = ImageRef::parse(&gun)
            .map_err(at(step.clone()))?
            .pinned(digest.clone());
        let root = client
            .pull_into(&reference, &layout, &PullOptions::default())
            .await
            .map_err(at(step.clone()))?;
        let manifest = layout
            .select_platform(&root, &Platform::host())
            .map_err(at(step))?;

        // Each image is unpacked once (verified first) and every server of it runs in an
        // overlay of its own on that tree.
        let tree = self.image_tree(&digest);
        let server_dir = self.rootfs_dir(name.as_str());
        let step = format!("unpack into {}", tree.display());
        self.progress(name, &step);
        let (image, size, rootfs) = {
            let layout = layout.clone();
            let manifest = manifest.clone();
            tokio::task::spawn_blocking(move || {
                crate::rootfs::unpack_once(&layout, &manifest, &tree)?;
                let (image, size) = crate::rootfs::image_config(&layout, &manifest)?;
                let merged = crate::rootfs::mount_overlay(&tree, &server_dir, true)?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((image, size, merged))
            })
            .await
            .map_err(at(step.clone()))?
            .map_err(|cause| DeployError { step, cause })?
        };
        self.store
            .put_image(&Image {
                digest: digest.to_string(),
                repo: server.repo.clone(),
                repository_name: gun,
                size,
                servers: Vec::new(),
            })
            .map_err(at("record the image"))?;

        self.progress(name, "start the workload under runc");
        let env: std::collections::BTreeMap<String, String> = {
            let json = self
                .sealer
                .open("server env", &row.env_sealed)
                .map_err(at("read the server's env"))?;
            serde_json::from_slice(&json).map_err(at("read the server's env"))?
        };
        let new = hpvs_api::wire::NewVirtualServer {
            name: server.name.clone(),
            repo: server.repo.clone(),
            tag: server.tag.clone(),
            cpu: server.cpu,
            ram: server.ram,
            quotagroups: server.quotagroups.clone(),
            env: env.clone(),
            ports: server.ports.clone(),
        };
        let settings = ServerSettings {
            name: name.clone(),
            env: env.into_iter().collect(),
            cpus: server.cpu,
            ram_mib: server.ram,
            cap_add: source.registration.cap_add.clone(),
            mounts: quota_mounts(&new).map_err(at("prepare the mounts"))?,
        };
        let runtime = self.runtime.clone();
        let started_name = name.clone();
        blocking(move || {
            runtime.create(&rootfs, &image, &settings)?;
            runtime.start(&started_name)
        })
        .await
        .map_err(at("start the workload under runc"))?;
        self.forward_ports(&server)
            .await
            .map_err(at("forward the host ports"))?;
        Ok(digest)
    }

    fn source(&self, repo: &str) -> Result<Source> {
        let row = self.store.repository(repo)?;
        let registration = self.registration(&row)?;
        let registry_name = row.registry.clone().unwrap_or_default();
        let registry = self.store.registry(&registry_name)?;
        // The registration's read-only pull credentials win over the registry's.
        let credentials = if !registration.docker_username.is_empty() {
            Credentials::basic(
                registration.docker_username.clone(),
                registration.docker_password.clone(),
            )
        } else if let Some(sealed) = &registry.password_sealed {
            let password = self.sealer.open("registry password", sealed)?;
            Credentials::basic(
                registry.registry.user.clone(),
                Secret::new(String::from_utf8_lossy(&password).into_owned()),
            )
        } else {
            Credentials::Anonymous
        };
        Ok(Source {
            registration,
            registry_url: registry.registry.url,
            notary_url: registry.registry.dct,
            credentials,
        })
    }

    /// The digest `tag` is signed to, by a root that the registration pins, from metadata
    /// fetched and verified now.
    async fn resolve(
        &self,
        repo: &str,
        source: &Source,
        tag: &str,
    ) -> Result<Digest, Box<dyn std::error::Error + Send + Sync>> {
        let gun = &source.registration.repository_name;
        let mut config = ServerConfig::from_url(&source.notary_url)?;
        config.ca_pem = self.options.outbound_ca_pem.clone();
        config.credentials = source.credentials.clone();
        // One trust dir per repository: its cache keeps the pinned root across deploys.
        let trust_dir = self.options.state_dir.join("trust").join(repo);
        let pinning = TrustPinning {
            first_use: FirstUse::Refuse,
            ..TrustPinning::default()
        }
        .pin_cert(gun.clone(), source.registration.public_key_id.clone());
        let client = notary_client::repository::Client::new(
            trust_dir,
            &config,
            Fixed(Passphrase::new("unused: lookups sign nothing")),
        )?
        .with_pinning(pinning);
        // Fresh trust data only: a cached collection would let a deploy run a tag that was
        // since revoked while Notary is unreachable (Go's reads fall back to the cache).
        let repository = client.repository(gun)?;
        let state = repository.update().await?;
        let target = notary_client::repository::lookup_target(&state, gun, tag)?;
        Ok(Digest::try_from(&target)?)
    }

    fn outbound_ca_pem_list(&self) -> Vec<String> {
        self.options
            .outbound_ca_pem
            .as_ref()
            .map(|pem| vec![String::from_utf8_lossy(pem).into_owned()])
            .unwrap_or_default()
    }
}
