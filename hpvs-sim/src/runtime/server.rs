//! [`Runtime`]: create, start, stop, inspect and delete servers.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::bundle::{self, Limits, Placement, ServerSettings};
use super::error::{Result, RuntimeError, io_error};
use super::forward::PortForwarder;
use super::image::ImageConfig;
use super::names::ServerName;
use super::netns::NetNamespace;
use super::runc::{Runc, Status};
use super::volume::{Filesystem, Volume};

pub use super::reconcile::Orphans;

/// How often `stop` looks whether the container has exited.
const POLL: Duration = Duration::from_millis(50);

/// How long `stop` waits after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// What runc says of a server's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Its process runs (or is paused) with this host pid.
    Running {
        /// The container's init process on the host.
        pid: i64,
    },
    /// Created but not started, or exited: `start` runs it again.
    Stopped,
    /// runc has no container by that name (never started, or deleted).
    Gone,
}

/// What `start` needs to know again about a server after `create`.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    volumes: Vec<RecordedVolume>,
    cpus: u32,
    ram_mib: u64,
    limits_applied: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct RecordedVolume {
    mount_id: String,
    filesystem: String,
}

/// Runs servers under runc from a state directory of its own. See the [module](super) docs.
#[derive(Debug, Clone)]
pub struct Runtime {
    state_dir: PathBuf,
    prefix: String,
    runc: Runc,
}

impl Runtime {
    /// Opens (creating it when needed) the state directory. Needs root, and `runc`, `ip`,
    /// `losetup`, `mount` and `mkfs.ext4` on the host (`scripts/install-peers.sh`).
    pub fn open(state_dir: &Path) -> Result<Self> {
        let euid = nix::unistd::geteuid().as_raw();
        if euid != 0 {
            return Err(RuntimeError::NotRoot { euid });
        }
        for dir in ["runc", "servers"] {
            let path = state_dir.join(dir);
            std::fs::create_dir_all(&path).map_err(io_error("create", &path))?;
        }
        let state_dir = state_dir
            .canonicalize()
            .map_err(io_error("resolve", state_dir))?;
        let digest = Sha256::digest(state_dir.as_os_str().as_encoded_bytes());
        // 8 hex digits keep namespace names short and tell state directories apart.
        let prefix = format!("hpvs-{}-", &hex::encode(digest)[..8]);
        let runc = Runc::new(state_dir.join("runc"))?;
        Ok(Self {
            state_dir,
            prefix,
            runc,
        })
    }

    /// The state directory, resolved.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The prefix of every host-wide name this runtime gives (network namespaces, cgroups).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The server's network namespace (it exists between `create` and `delete`).
    pub fn namespace(&self, name: &ServerName) -> NetNamespace {
        NetNamespace::new(format!("{}{name}", self.prefix))
    }

    /// The file the workload's stdout and stderr are appended to.
    pub fn log_path(&self, name: &ServerName) -> PathBuf {
        self.server_dir(name.as_str()).join("console.log")
    }

    pub(crate) fn servers_dir(&self) -> PathBuf {
        self.state_dir.join("servers")
    }

    pub(crate) fn server_dir(&self, name: &str) -> PathBuf {
        self.servers_dir().join(name)
    }

    pub(crate) fn runc(&self) -> &Runc {
        &self.runc
    }

    fn volume(&self, name: &str, mount_id: &str) -> Volume {
        let dir = self.server_dir(name).join("volumes");
        Volume {
            image: dir.join(format!("{mount_id}.img")),
            mountpoint: dir.join(mount_id),
        }
    }

    /// Prepares a server from an unpacked root filesystem: checks the image and settings
    /// (nothing is made when they are refused), then makes its network namespace, formats
    /// and mounts its volumes and writes its bundle. It does not start it. A failure part way
    /// removes what was made. A name already in use (even by what a crash left) is refused:
    /// delete it first.
    pub fn create(
        &self,
        rootfs: &Path,
        image: &ImageConfig,
        settings: &ServerSettings,
    ) -> Result<()> {
        let name = settings.name.as_str();
        let limits = host_limits();
        let placement = Placement {
            network_namespace: self.namespace(&settings.name).path(),
            cgroups_path: format!("/{}{name}", self.prefix),
            mount_sources: (settings.mounts.iter())
                .map(|mount| self.volume(name, mount.mount_id.as_str()).mountpoint)
                .collect(),
            limits,
        };
        let config = bundle::generate(rootfs, image, settings, &placement)?;
        // Undoing a failed create removes everything filed under the name, so an existing
        // server must never get that far.
        if self.server_dir(name).exists() || self.runc.find(name)?.is_some() {
            return Err(RuntimeError::ServerExists {
                server: name.to_owned(),
            });
        }
        let owner = (config.process.user.uid, config.process.user.gid);
        let made = self.make(settings, &config, owner, limits);
        if made.is_err() {
            // Report the first failure; a second one while undoing is only logged.
            if let Err(error) = self.teardown(name) {
                tracing::warn!(server = name, %error, "undoing a failed create");
            }
        }
        made
    }

    fn make(
        &self,
        settings: &ServerSettings,
        config: &super::spec::Spec,
        owner: (u32, u32),
        limits: Limits,
    ) -> Result<()> {
        let name = settings.name.as_str();
        let bundle = self.server_dir(name).join("bundle");
        std::fs::create_dir_all(&bundle).map_err(io_error("create", &bundle))?;
        self.namespace(&settings.name).ensure()?;
        for mount in &settings.mounts {
            self.volume(name, mount.mount_id.as_str())
                .prepare(mount, owner)?;
        }
        let record = Record {
            volumes: (settings.mounts.iter())
                .map(|mount| RecordedVolume {
                    mount_id: mount.mount_id.to_string(),
                    filesystem: mount.filesystem.name().to_owned(),
                })
                .collect(),
            cpus: settings.cpus,
            ram_mib: settings.ram_mib,
            limits_applied: limits == Limits::Apply,
        };
        write_json(&self.server_dir(name).join("server.json"), &record)?;
        write_json(&bundle.join("config.json"), config)
    }

    /// Runs the server's workload: makes sure its namespace and volumes are in place (after
    /// a host reboot they are not), replaces an exited container, and starts a new one.
    /// A server already running is left as it is.
    pub fn start(&self, name: &ServerName) -> Result<()> {
        let dir = self.server_dir(name.as_str());
        let bundle = dir.join("bundle");
        if !bundle.join("config.json").is_file() {
            return Err(RuntimeError::NotCreated {
                server: name.to_string(),
            });
        }
        match self.runc.find(name.as_str())? {
            Some(listed) if matches!(listed.status, Status::Running | Status::Paused) => {
                return Ok(());
            }
            Some(_) => self.runc.delete(name.as_str())?,
            None => {}
        }
        self.namespace(name).ensure()?;
        let record: Record = read_json(&dir.join("server.json"))?;
        for volume in &record.volumes {
            let filesystem: Filesystem = volume.filesystem.parse()?;
            self.volume(name.as_str(), &volume.mount_id)
                .mount(filesystem)?;
        }
        let log_path = self.log_path(name);
        let console = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_error("open", &log_path))?;
        self.runc
            .create(name.as_str(), &bundle, &console, &dir.join("runc.log"))?;
        if let Err(error) = self.runc.start(name.as_str()) {
            if let Err(cleanup) = self.runc.delete(name.as_str()) {
                tracing::warn!(server = %name, %cleanup, "removing a container that did not start");
            }
            return Err(error);
        }
        Ok(())
    }

    /// Stops the workload: SIGTERM, then SIGKILL when it is still running after `grace`.
    /// The exited container stays (its state is [`ServerState::Stopped`]) until `start` or
    /// `delete`; volumes and namespace stay too.
    pub fn stop(&self, name: &ServerName, grace: Duration) -> Result<()> {
        let id = name.as_str();
        if !self.is_live(id)? {
            return Ok(());
        }
        // The process may exit between the look and the signal; the wait below decides.
        if let Err(error) = self.runc.kill(id, "TERM") {
            tracing::debug!(server = id, %error, "SIGTERM");
        }
        if self.wait_exit(id, grace)? {
            return Ok(());
        }
        if let Err(error) = self.runc.kill(id, "KILL") {
            tracing::debug!(server = id, %error, "SIGKILL");
        }
        if self.wait_exit(id, KILL_WAIT)? {
            return Ok(());
        }
        Err(RuntimeError::StopTimeout {
            server: name.to_string(),
            waited_ms: KILL_WAIT.as_millis(),
        })
    }

    fn is_live(&self, id: &str) -> Result<bool> {
        Ok(matches!(
            self.runc.find(id)?.map(|listed| listed.status),
            Some(Status::Running | Status::Paused | Status::Created | Status::Creating)
        ))
    }

    /// Whether the container exited within `limit`.
    fn wait_exit(&self, id: &str, limit: Duration) -> Result<bool> {
        let deadline = Instant::now() + limit;
        loop {
            if !self.is_live(id)? {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(POLL);
        }
    }

    /// The server's container state.
    pub fn state(&self, name: &ServerName) -> Result<ServerState> {
        Ok(match self.runc.find(name.as_str())? {
            None => ServerState::Gone,
            Some(listed) => match listed.status {
                Status::Running | Status::Paused => ServerState::Running { pid: listed.pid },
                Status::Creating | Status::Created | Status::Stopped => ServerState::Stopped,
            },
        })
    }

    /// Removes everything of the server: container (killed if running), cgroup, mounts,
    /// loop devices, volume images, namespace, bundle and log. Deleting a server that is
    /// already gone is not an error. Drop its [`PortForwarder`]s first.
    pub fn delete(&self, name: &ServerName) -> Result<()> {
        self.teardown(name.as_str())
    }

    /// Starts relaying `listen` (loopback only) to `container_port` inside the server's
    /// namespace. Must be called within a tokio runtime.
    pub async fn forward(
        &self,
        name: &ServerName,
        listen: SocketAddr,
        container_port: u16,
    ) -> Result<PortForwarder> {
        PortForwarder::bind(listen, &self.namespace(name), container_port).await
    }
}

/// Whether this host's cgroups have the memory and cpu controllers runc needs to apply
/// limits: v1 (here, hybrid) hierarchies or a v2 tree that delegates both.
fn host_limits() -> Limits {
    let root = Path::new("/sys/fs/cgroup");
    let v1 = root.join("memory/memory.limit_in_bytes").exists()
        && root.join("cpu/cpu.cfs_quota_us").exists();
    let v2 = std::fs::read_to_string(root.join("cgroup.controllers")).is_ok_and(|controllers| {
        let names: Vec<&str> = controllers.split_whitespace().collect();
        names.contains(&"memory") && names.contains(&"cpu")
    });
    if v1 || v2 {
        Limits::Apply
    } else {
        Limits::RecordOnly
    }
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|error| RuntimeError::Io {
        operation: "encode",
        path: path.to_path_buf(),
        source: error.into(),
    })?;
    std::fs::write(path, bytes).map_err(io_error("write", path))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(io_error("read", path))?;
    serde_json::from_slice(&bytes).map_err(|error| RuntimeError::Io {
        operation: "decode",
        path: path.to_path_buf(),
        source: error.into(),
    })
}
