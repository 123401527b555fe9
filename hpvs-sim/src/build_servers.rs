//! Virtual servers of the built-in repository `SecureDockerBuild`: a Secure Build Server run
//! as a task of hpvs-sim (not under runc), listening on the server's host port with the
//! mutual-TLS identity of its env, keeping its state on its quotagroup mounts, which are
//! mounted on the host and outlive the server: one created again on the same mounts finds
//! its keys, and `reset_root` empties them. Every build server of the appliance seals its
//! state images under the same appliance secret (derived from the sealing key, never
//! exported), so a state exported by one imports into a new one of the same appliance only.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hpvs_api::wire::{ServerState, VirtualServer};

use crate::appliance::Appliance;
use crate::error::{ApplianceError, Result};
use crate::lifecycle::{blocking, quota_mounts_of};
use crate::sbs::{ApplianceSecret, BuildServer, SbsIdentity, ToolPipeline, serve_build_server};

/// The HKDF purpose of the build servers' state-image secret ([`ApplianceSecret`]).
const STATE_IMAGE_PURPOSE: &str = "hpvs-sim sbs state image";

/// The env names a build server's creator may set (the lab's): its mutual-TLS identity and
/// the settings the real SBS image reads.
pub(crate) const BUILD_SERVER_ENV: [&str; 7] = [
    "CLIENT_CA",
    "CLIENT_CRT",
    "SERVER_CRT",
    "SERVER_KEY",
    "EX_VOLUMES",
    "ROOTFS_LOCK",
    "RUNQ_ROOTDISK",
];

/// A running build server: how to stop it.
pub(crate) struct RunningBuildServer {
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Appliance {
    /// Mounts the server's volumes and starts its build server on its host port.
    pub(crate) async fn start_build_server(
        &self,
        server: &VirtualServer,
        env: &BTreeMap<String, String>,
    ) -> Result<()> {
        let identity = SbsIdentity::from_env(env).map_err(|e| ApplianceError::InvalidField {
            field: "env",
            value: e.to_string(),
            expected: "CLIENT_CA, CLIENT_CRT, SERVER_CRT and SERVER_KEY as base64 PEM",
        })?;
        let port = server
            .ports
            .iter()
            .find(|p| p.containerport == 443)
            .or(server.ports.first())
            .ok_or(ApplianceError::InvalidField {
                field: "ports",
                value: String::new(),
                expected: "a host port for the build server (containerport 443)",
            })?
            .hostport;
        let state = self.mount_build_server_volumes(server).await?;
        let pipeline = Arc::new(ToolPipeline {
            ca_pem: self.options.outbound_ca_pem.clone().map(Arc::new),
        });
        let appliance_secret = ApplianceSecret::new(*self.sealer.derive_key(STATE_IMAGE_PURPOSE)?);
        let build_server = BuildServer::open(&state.join("sbs"), pipeline, appliance_secret)
            .map_err(|e| ApplianceError::InvalidField {
                field: "quotagroups",
                value: e.to_string(),
                expected: "a mount the build server can keep its state on",
            })?;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|_| ApplianceError::PortTaken {
                port,
                holder: "another program on this host".to_owned(),
            })?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let name = server.name.clone();
        let task = tokio::spawn(async move {
            let stop = async move {
                let _ = stopped.await;
            };
            if let Err(error) = serve_build_server(listener, &identity, build_server, stop).await {
                tracing::warn!(server = %name, %error, "build server stopped");
            }
        });
        self.lock_build_servers()
            .insert(server.name.clone(), RunningBuildServer { shutdown, task });
        Ok(())
    }

    /// Stops the build server (if it runs) and unmounts its volumes; their data stays.
    pub(crate) async fn stop_build_server(&self, server: &VirtualServer) -> Result<()> {
        let running = self.lock_build_servers().remove(&server.name);
        if let Some(running) = running {
            let _ = running.shutdown.send(());
            let mut task = running.task;
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        for (group, mount) in quota_mounts_of(server)? {
            let runtime = self.runtime.clone();
            blocking(move || runtime.unmount_host_volume(&group, &mount.mount_id)).await?;
        }
        Ok(())
    }

    /// Mounts every quotagroup mount on the host; returns the state mount (`data`, or the
    /// first). `reset_root` empties a mount only when the server is being created: a server
    /// started again (after a stop, or by the reconcile after a restart of hpvs-sim) keeps
    /// its state, its DCT keys above all.
    async fn mount_build_server_volumes(&self, server: &VirtualServer) -> Result<PathBuf> {
        let creating = server.state == ServerState::Creating;
        let mut state = None;
        for (group, mut mount) in quota_mounts_of(server)? {
            mount.reset_root &= creating;
            let is_data = mount.mount_id.as_str() == "data";
            let runtime = self.runtime.clone();
            let point = blocking(move || runtime.mount_host_volume(&group, &mount)).await?;
            if is_data || state.is_none() {
                state = Some(point);
            }
        }
        state.ok_or(ApplianceError::InvalidField {
            field: "quotagroups",
            value: String::new(),
            expected: "at least one mount for the build server's state",
        })
    }

    fn lock_build_servers(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, RunningBuildServer>> {
        self.build_servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
