//! A runc bundle's `config.json`, generated from the image config and the server's settings.
//!
//! Pure: no I/O except reading the root filesystem's `/etc/passwd` and `/etc/group`.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use super::error::{Result, RuntimeError};
use super::image::ImageConfig;
use super::names::ServerName;
use super::spec::{self, Spec};
use super::volume::QuotaMount;
use super::{caps, user};

/// `PATH` for images that do not set one, as Docker gives them.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The cgroup CPU period, in microseconds.
const CPU_PERIOD: u64 = 100_000;

/// What a virtual server adds to its image: identity, environment, limits, capabilities
/// and storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// The server's name; also its hostname.
    pub name: ServerName,
    /// Variables added to (or replacing those of) the image's `Env`, in order.
    pub env: Vec<(String, String)>,
    /// CPUs the server may use (0: no limit).
    pub cpus: u32,
    /// Memory the server may use, in MiB (0: no limit).
    pub ram_mib: u64,
    /// Capabilities added to Docker's default set (a registration's `cap_add`).
    pub cap_add: Vec<String>,
    /// Quotagroup mounts.
    pub mounts: Vec<QuotaMount>,
}

impl ServerSettings {
    /// Checks the settings that do not depend on the image: env names, mount paths, and
    /// mounts unique by id and by path.
    pub fn validate(&self) -> Result<()> {
        for (name, _) in &self.env {
            if name.is_empty() || name.contains(['=', '\0']) {
                return Err(RuntimeError::InvalidEnvName { name: name.clone() });
            }
        }
        let mut ids = BTreeSet::new();
        let mut paths = BTreeSet::new();
        for mount in &self.mounts {
            check_mount_path(&mount.mount)?;
            mount.check_size()?;
            if !ids.insert(mount.mount_id.as_str()) {
                return Err(RuntimeError::DuplicateMount {
                    value: mount.mount_id.to_string(),
                });
            }
            if !paths.insert(mount.mount.as_path()) {
                return Err(RuntimeError::DuplicateMount {
                    value: mount.mount.display().to_string(),
                });
            }
        }
        Ok(())
    }
}

/// A mount's container path: absolute, below `/`, only plain components, and off the
/// kernel filesystems runc mounts itself.
fn check_mount_path(path: &Path) -> Result<()> {
    let invalid = || RuntimeError::InvalidMountPath {
        path: path.to_path_buf(),
    };
    let mut components = path.components();
    if components.next() != Some(Component::RootDir) {
        return Err(invalid());
    }
    let rest: Vec<Component<'_>> = components.collect();
    let first = match rest.first() {
        Some(Component::Normal(first)) => *first,
        _ => return Err(invalid()),
    };
    if rest
        .iter()
        .any(|part| !matches!(part, Component::Normal(_)))
        || ["proc", "sys", "dev"].iter().any(|kernel| first == *kernel)
        || path.to_str().is_none()
    {
        return Err(invalid());
    }
    Ok(())
}

/// Where the runtime placed the server's host-side resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The network namespace the container joins.
    pub network_namespace: PathBuf,
    /// The container's cgroup path.
    pub cgroups_path: String,
    /// Host directory of each of the settings' mounts, in the same order.
    pub mount_sources: Vec<PathBuf>,
    /// Whether the cpu and memory limits go into the cgroup.
    pub limits: Limits,
}

/// Whether resource limits are applied, or only recorded because the host's cgroups lack
/// the controllers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    /// Written to `linux.resources`: runc applies them.
    Apply,
    /// Left out of `linux.resources`: the server runs unlimited.
    RecordOnly,
}

/// Generates the container's runtime config.
///
/// The process runs entrypoint + cmd with the image's env overridden by the server's, in the
/// image's working directory, as the image's user resolved in `rootfs`. The container has its
/// own PID, mount, IPC, UTS and cgroup namespaces, joins `placement`'s network namespace,
/// sees only its root filesystem and its mounts, and gets runc's default masked and
/// read-only paths.
pub fn generate(
    rootfs: &Path,
    image: &ImageConfig,
    settings: &ServerSettings,
    placement: &Placement,
) -> Result<Spec> {
    settings.validate()?;
    if !rootfs.is_absolute() || !rootfs.is_dir() {
        return Err(RuntimeError::InvalidRootfs {
            path: rootfs.to_path_buf(),
        });
    }
    let user = user::resolve(rootfs, image.user.as_deref().unwrap_or(""))?;
    let all_caps = caps::with_added(&settings.cap_add)?;
    // As in Docker: a non-root process holds no capability unless it execs a file that has
    // some; the bounding set still caps what it can gain.
    let held = if user.uid == 0 {
        all_caps.clone()
    } else {
        Vec::new()
    };
    let mut mounts = default_mounts();
    for (mount, source) in settings.mounts.iter().zip(&placement.mount_sources) {
        mounts.push(spec::Mount {
            destination: mount.mount.display().to_string(),
            kind: "bind".into(),
            source: source.display().to_string(),
            options: strings(&["rbind", "rw", "nosuid", "nodev"]),
        });
    }
    Ok(Spec {
        oci_version: spec::OCI_VERSION.into(),
        process: spec::Process {
            terminal: false,
            user,
            args: image.args()?,
            env: merge_env(image.env.as_deref().unwrap_or_default(), &settings.env),
            cwd: image.cwd()?,
            capabilities: spec::Capabilities {
                bounding: all_caps,
                effective: held.clone(),
                permitted: held,
            },
            rlimits: vec![spec::Rlimit {
                kind: "RLIMIT_NOFILE".into(),
                hard: 1024,
                soft: 1024,
            }],
            // Docker images may rely on setuid binaries (su, sudo), which Docker allows.
            no_new_privileges: false,
        },
        root: spec::Root {
            path: rootfs.display().to_string(),
            readonly: false,
        },
        hostname: settings.name.to_string(),
        mounts,
        linux: spec::Linux {
            namespaces: namespaces(&placement.network_namespace),
            resources: resources(settings, placement.limits),
            cgroups_path: placement.cgroups_path.clone(),
            masked_paths: strings(&[
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/proc/scsi",
                "/sys/firmware",
            ]),
            readonly_paths: strings(&[
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ]),
        },
    })
}

/// The image's `Env` with each server variable replacing the image's of the same name in
/// place, or appended; `PATH` added when neither sets it.
pub fn merge_env(image_env: &[String], server_env: &[(String, String)]) -> Vec<String> {
    let key = |entry: &str| {
        entry
            .split_once('=')
            .map_or(entry, |(key, _)| key)
            .to_owned()
    };
    let mut env: Vec<String> = image_env.to_vec();
    for (name, value) in server_env {
        let entry = format!("{name}={value}");
        match env.iter_mut().find(|existing| key(existing) == *name) {
            Some(existing) => *existing = entry,
            None => env.push(entry),
        }
    }
    if !env.iter().any(|entry| key(entry) == "PATH") {
        env.insert(0, DEFAULT_PATH.to_owned());
    }
    env
}

fn namespaces(network: &Path) -> Vec<spec::Namespace> {
    let mut namespaces: Vec<spec::Namespace> = ["pid", "ipc", "uts", "mount", "cgroup"]
        .iter()
        .map(|kind| spec::Namespace {
            kind: (*kind).into(),
            path: None,
        })
        .collect();
    namespaces.push(spec::Namespace {
        kind: "network".into(),
        path: Some(network.display().to_string()),
    });
    namespaces
}

fn resources(settings: &ServerSettings, limits: Limits) -> spec::Resources {
    let apply = limits == Limits::Apply;
    let memory_bytes = settings.ram_mib.saturating_mul(1 << 20);
    spec::Resources {
        devices: vec![spec::DeviceRule {
            allow: false,
            access: "rwm".into(),
        }],
        memory: (apply && settings.ram_mib > 0).then(|| spec::Memory {
            limit: i64::try_from(memory_bytes).unwrap_or(i64::MAX),
        }),
        cpu: (apply && settings.cpus > 0).then(|| spec::Cpu {
            quota: i64::from(settings.cpus) * CPU_PERIOD as i64,
            period: CPU_PERIOD,
        }),
    }
}

/// runc's default mounts (`runc spec`): a fresh /proc, a small /dev, and sysfs and the
/// cgroup tree read-only.
fn default_mounts() -> Vec<spec::Mount> {
    let mount = |destination: &str, kind: &str, source: &str, options: &[&str]| spec::Mount {
        destination: destination.into(),
        kind: kind.into(),
        source: source.into(),
        options: strings(options),
    };
    vec![
        mount("/proc", "proc", "proc", &[]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

#[cfg(test)]
#[path = "bundle_tests.rs"]
mod tests;
