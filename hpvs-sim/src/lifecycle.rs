//! Virtual servers' lives: create (then [`crate::deploy`] in the background), start, stop,
//! restart, delete, logs, and reconciling after a restart of hpvs-sim.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use hpvs_api::wire::{self, NewVirtualServer, ServerState, VirtualServer};

use crate::appliance::Appliance;
use crate::error::{ApplianceError, Result};
use crate::runtime::{self, MountId, QuotaMount, ServerName};
use crate::store::NewServerRow;

/// How long a stopping workload has between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

impl Appliance {
    /// Records a new server (state `creating`) and deploys it in the background: the
    /// answer comes before the tag is resolved; poll [`Appliance::server`] for the outcome.
    pub fn create_server(self: &Arc<Self>, new: NewVirtualServer) -> Result<VirtualServer> {
        let repository = self.check_new_server(&new)?;
        let build_server = repository.runtime == "sbs";
        // Checked now, so a bad mount or name is a 400 and not a failed server.
        let name: ServerName = new.name.parse()?;
        quota_mounts(&new)?;
        for port in &new.ports {
            check_host_port_free(self, port.hostport)?;
        }
        let env_json = serde_json::to_vec(&new.env).unwrap_or_default();
        let server = VirtualServer {
            name: new.name,
            repo: new.repo,
            tag: new.tag,
            digest: None,
            cpu: new.cpu,
            ram: new.ram,
            state: ServerState::Creating,
            reason: Some("queued".to_owned()),
            quotagroups: new.quotagroups,
            env_names: new.env.keys().cloned().collect(),
            ports: new.ports,
            created_at: now(),
            started_at: None,
        };
        self.store.add_server(&NewServerRow {
            env_sealed: self.sealer.seal("server env", &env_json)?,
            server: server.clone(),
        })?;
        let appliance = Arc::clone(self);
        if build_server {
            tokio::spawn(async move { appliance.deploy_build_server(name).await });
        } else {
            tokio::spawn(async move { appliance.deploy(name).await });
        }
        Ok(server)
    }

    /// Every server.
    pub fn servers(&self) -> Result<Vec<VirtualServer>> {
        Ok(self
            .store
            .servers()?
            .into_iter()
            .map(|r| r.server)
            .collect())
    }

    /// The server `name`.
    pub fn server(&self, name: &str) -> Result<VirtualServer> {
        Ok(self.store.server(name)?.server)
    }

    /// Runs a stopped (or failed after it ran) server again.
    pub async fn start_server(self: &Arc<Self>, name: &str) -> Result<VirtualServer> {
        let server = self.settled_server(name, "start")?;
        let started = if is_build_server(&server) {
            let env = self.server_env(name)?;
            self.start_build_server(&server, &env).await
        } else {
            self.ensure_overlay(&server)?;
            let id: ServerName = name.parse()?;
            let runtime = self.runtime.clone();
            match blocking(move || runtime.start(&id)).await {
                Ok(()) => self.forward_ports(&server).await,
                Err(error) => Err(error),
            }
        };
        match started {
            Ok(()) => {
                self.store.set_server_state(
                    name,
                    ServerState::Running,
                    None,
                    None,
                    Some(&now()),
                )?;
            }
            Err(error) => {
                self.store.set_server_state(
                    name,
                    ServerState::Failed,
                    Some(&format!("start: {error}")),
                    None,
                    None,
                )?;
                return Err(error);
            }
        }
        self.server(name)
    }

    /// Stops a server's workload (SIGTERM, then SIGKILL); its data stays.
    pub async fn stop_server(self: &Arc<Self>, name: &str) -> Result<VirtualServer> {
        self.settled_server(name, "stop")?;
        self.stop_workload(name).await?;
        self.store
            .set_server_state(name, ServerState::Stopped, None, None, None)?;
        self.server(name)
    }

    /// Stops and starts a server.
    pub async fn restart_server(self: &Arc<Self>, name: &str) -> Result<VirtualServer> {
        self.stop_server(name).await?;
        self.start_server(name).await
    }

    /// Removes a server and everything of it: container, mounts, namespace, root
    /// filesystem, forwarders, record. Refused while it is being created.
    pub async fn delete_server(self: &Arc<Self>, name: &str) -> Result<()> {
        self.settled_server(name, "delete")?;
        self.remove_workload(name).await?;
        self.store.delete_server(name)
    }

    /// The last `tail` lines (all when `None`) of the server's stdout and stderr.
    pub fn logs(&self, name: &str, tail: Option<usize>) -> Result<String> {
        self.store.server(name)?;
        let id: ServerName = name.parse()?;
        let path = self.runtime.log_path(&id);
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(crate::state_files::state_error("read", &path, source)),
        };
        Ok(match tail {
            None => text,
            Some(count) => {
                let lines: Vec<&str> = text.lines().collect();
                let start = lines.len().saturating_sub(count);
                let mut out = lines[start..].join("\n");
                if !out.is_empty() {
                    out.push('\n');
                }
                out
            }
        })
    }

    /// After a restart of hpvs-sim: servers that ran run again, servers caught creating end
    /// `failed`, and what a crash left on the host that no record names is removed.
    pub async fn reconcile(self: &Arc<Self>) -> Result<()> {
        let rows = self.store.servers()?;
        let known: BTreeSet<ServerName> = rows
            .iter()
            .filter_map(|row| row.server.name.parse().ok())
            .collect();
        let runtime = self.runtime.clone();
        blocking(move || {
            let orphans = runtime.orphans(&known)?;
            if !orphans.is_empty() {
                tracing::warn!(?orphans, "removing what no server record names");
                runtime.remove_orphans(&orphans)?;
            }
            Ok(())
        })
        .await?;
        for row in rows {
            let name = row.server.name.clone();
            match row.server.state {
                ServerState::Creating => {
                    self.remove_workload(&name).await?;
                    self.store.set_server_state(
                        &name,
                        ServerState::Failed,
                        Some("hpvs-sim stopped while the server was being created: delete it and create it again"),
                        None,
                        None,
                    )?;
                }
                ServerState::Running => {
                    if let Err(error) = self.start_server(&name).await {
                        tracing::warn!(server = %name, %error, "restarting a server after a restart of hpvs-sim");
                    }
                }
                ServerState::Stopped | ServerState::Failed => {}
            }
        }
        Ok(())
    }

    /// Deletes every server, whatever its state, and removes whatever the runtime left on
    /// the host: for taking an appliance down for good (`hpvs-sim teardown`). Returns the
    /// names deleted.
    pub async fn delete_all_servers(self: &Arc<Self>) -> Result<Vec<String>> {
        let mut deleted = Vec::new();
        for row in self.store.servers()? {
            let name = row.server.name;
            self.remove_workload(&name).await?;
            self.store.delete_server(&name)?;
            deleted.push(name);
        }
        let runtime = self.runtime.clone();
        blocking(move || {
            runtime.unmount_all_host_volumes()?;
            let orphans = runtime.orphans(&BTreeSet::new())?;
            runtime.remove_orphans(&orphans)
        })
        .await?;
        Ok(deleted)
    }

    /// The server, if no other call is working on it and it is not being created.
    fn settled_server(&self, name: &str, action: &'static str) -> Result<VirtualServer> {
        let server = self.server(name)?;
        if server.state == ServerState::Creating {
            return Err(ApplianceError::InUse {
                kind: "virtual server",
                name: name.to_owned(),
                holders: vec![format!("its creation (cannot {action} yet)")],
            });
        }
        Ok(server)
    }

    pub(crate) async fn forward_ports(&self, server: &VirtualServer) -> Result<()> {
        let id: ServerName = server.name.parse()?;
        let mut forwarders = Vec::new();
        for port in &server.ports {
            let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, port.hostport));
            let forwarder = self
                .runtime
                .forward(&id, listen, port.containerport)
                .await
                .map_err(|error| match error {
                    runtime::RuntimeError::Io { source, .. }
                        if source.kind() == std::io::ErrorKind::AddrInUse =>
                    {
                        ApplianceError::PortTaken {
                            port: port.hostport,
                            holder: "another program on this host".to_owned(),
                        }
                    }
                    other => other.into(),
                })?;
            forwarders.push(forwarder);
        }
        self.lock_forwarders()
            .insert(server.name.clone(), forwarders);
        Ok(())
    }

    pub(crate) async fn stop_workload(&self, name: &str) -> Result<()> {
        let server = self.store.server(name)?.server;
        if is_build_server(&server) {
            return self.stop_build_server(&server).await;
        }
        self.lock_forwarders().remove(name);
        let id: ServerName = name.parse()?;
        let runtime = self.runtime.clone();
        blocking(move || runtime.stop(&id, STOP_GRACE)).await
    }

    /// Removes the server's container, mounts, namespace and root filesystem (not its
    /// record).
    pub(crate) async fn remove_workload(&self, name: &str) -> Result<()> {
        if let Ok(row) = self.store.server(name)
            && is_build_server(&row.server)
        {
            // Its volumes stay: a build server created again on them finds its keys.
            return self.stop_build_server(&row.server).await;
        }
        self.lock_forwarders().remove(name);
        let id: ServerName = name.parse()?;
        let runtime = self.runtime.clone();
        let rootfs = self.rootfs_dir(name);
        blocking(move || {
            runtime.delete(&id)?;
            crate::rootfs::unmount_overlay(&rootfs).map_err(|e| runtime::RuntimeError::Io {
                operation: "unmount the overlay of",
                path: rootfs.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
            match std::fs::remove_dir_all(&rootfs) {
                Ok(()) => Ok(()),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(runtime::RuntimeError::Io {
                    operation: "remove",
                    path: rootfs,
                    source,
                }),
            }
        })
        .await
    }

    fn lock_forwarders(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Vec<runtime::PortForwarder>>>
    {
        self.forwarders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Appliance {
    /// Mounts the server's overlay again if it is not (after a reboot of the host).
    fn ensure_overlay(&self, server: &VirtualServer) -> Result<()> {
        let Some(digest) = server.digest.as_deref() else {
            return Ok(());
        };
        let digest = oci_push::Digest::parse(digest).map_err(|_| ApplianceError::InvalidField {
            field: "digest",
            value: digest.to_owned(),
            expected: "sha256:<64 hex>",
        })?;
        let dir = self.rootfs_dir(&server.name);
        crate::rootfs::mount_overlay(&self.image_tree(&digest), &dir, false)
            .map(drop)
            .map_err(|e| {
                ApplianceError::Runtime(runtime::RuntimeError::Io {
                    operation: "mount the overlay of",
                    path: dir,
                    source: std::io::Error::other(e.to_string()),
                })
            })
    }
}

/// Whether the server runs the built-in Secure Build Server.
fn is_build_server(server: &VirtualServer) -> bool {
    server.repo == wire::SECURE_BUILD_REPOSITORY
}

impl Appliance {
    /// The server's env values, unsealed.
    pub(crate) fn server_env(
        &self,
        name: &str,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        let row = self.store.server(name)?;
        let json = self.sealer.open("server env", &row.env_sealed)?;
        serde_json::from_slice(&json).map_err(|_| ApplianceError::Unseal { what: "server env" })
    }

    /// Starts the recorded build server `name` and records the outcome.
    pub(crate) async fn deploy_build_server(self: Arc<Self>, name: ServerName) {
        let started = async {
            let server = self.store.server(name.as_str())?.server;
            let env = self.server_env(name.as_str())?;
            self.start_build_server(&server, &env).await
        }
        .await;
        let recorded = match started {
            Ok(()) => self.store.set_server_state(
                name.as_str(),
                ServerState::Running,
                None,
                None,
                Some(&now()),
            ),
            Err(error) => {
                if let Ok(row) = self.store.server(name.as_str()) {
                    let _ = self.stop_build_server(&row.server).await;
                }
                self.store.set_server_state(
                    name.as_str(),
                    ServerState::Failed,
                    Some(&format!("start the build server: {error}")),
                    None,
                    None,
                )
            }
        };
        if let Err(error) = recorded {
            tracing::error!(server = %name, %error, "recording a build server's start");
        }
    }
}

/// Each quotagroup mount of a recorded server with its quotagroup.
pub(crate) fn quota_mounts_of(server: &VirtualServer) -> Result<Vec<(String, QuotaMount)>> {
    let new = NewVirtualServer {
        name: server.name.clone(),
        repo: server.repo.clone(),
        tag: server.tag.clone(),
        cpu: server.cpu,
        ram: server.ram,
        quotagroups: server.quotagroups.clone(),
        env: Default::default(),
        ports: server.ports.clone(),
    };
    let groups = server.quotagroups.iter().map(|m| m.quotagroup.clone());
    Ok(groups.zip(quota_mounts(&new)?).collect())
}

/// The runtime's mounts for a server's quotagroup mounts.
pub(crate) fn quota_mounts(new: &NewVirtualServer) -> Result<Vec<QuotaMount>> {
    new.quotagroups
        .iter()
        .map(|mount| {
            let quota = QuotaMount {
                mount_id: mount.mountid.parse::<MountId>()?,
                mount: mount.mount.clone().into(),
                filesystem: match mount.filesystem {
                    wire::Filesystem::Ext4 => runtime::Filesystem::Ext4,
                    wire::Filesystem::Xfs => runtime::Filesystem::Xfs,
                    wire::Filesystem::Btrfs => runtime::Filesystem::Btrfs,
                },
                size: mount.size,
                reset_root: mount.reset_root,
            };
            quota.check_size()?;
            Ok(quota)
        })
        .collect()
}

/// A host port another program holds is refused before the server is recorded; one that
/// another server's forwarder holds is left to the store, which names that server.
fn check_host_port_free(appliance: &Appliance, port: u16) -> Result<()> {
    if port == 0 {
        return Err(ApplianceError::InvalidField {
            field: "hostport",
            value: "0".to_owned(),
            expected: "a port from 1 to 65535",
        });
    }
    if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
        return Ok(());
    }
    let ours = appliance
        .store
        .servers()?
        .iter()
        .any(|row| row.server.ports.iter().any(|p| p.hostport == port));
    if ours {
        return Ok(());
    }
    Err(ApplianceError::PortTaken {
        port,
        holder: "another program on this host".to_owned(),
    })
}

/// Runs a blocking runtime call off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> runtime::Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(call).await {
        Ok(result) => result.map_err(ApplianceError::from),
        Err(join) => Err(ApplianceError::Runtime(runtime::RuntimeError::Io {
            operation: "run a runtime call",
            path: Default::default(),
            source: std::io::Error::other(join.to_string()),
        })),
    }
}

/// Now, RFC 3339 in UTC.
pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
