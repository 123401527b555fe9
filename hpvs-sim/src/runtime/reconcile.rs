//! Tearing a server down completely, and finding what is left of servers the caller no
//! longer knows (after a crash mid-create or mid-delete).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::{Result, RuntimeError, io_error};
use super::names::ServerName;
use super::netns::{self, NetNamespace};
use super::server::Runtime;
use super::volume;

/// How long a teardown waits for the kernel to release a detached loop device.
const DETACH_WAIT: Duration = Duration::from_secs(10);

/// Host resources of ours that belong to no server the caller knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Orphans {
    /// The names these resources are filed under.
    pub servers: BTreeSet<String>,
    /// runc containers under our state root.
    pub containers: Vec<String>,
    /// Network namespaces with our prefix.
    pub namespaces: Vec<String>,
    /// Mount points under our state directory.
    pub mounts: Vec<PathBuf>,
    /// Loop devices backed by files under our state directory.
    pub loop_devices: Vec<PathBuf>,
    /// Server directories (bundles, volume images, logs).
    pub directories: Vec<PathBuf>,
}

impl Orphans {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }
}

impl Runtime {
    /// Lists everything of ours that belongs to no server in `known`. Nothing outside this
    /// runtime's state directory, runc root and namespace prefix is looked at.
    pub fn orphans(&self, known: &BTreeSet<ServerName>) -> Result<Orphans> {
        let known: BTreeSet<&str> = known.iter().map(ServerName::as_str).collect();
        let mut orphans = Orphans::default();
        let file = |name: &str, servers: &mut BTreeSet<String>| {
            let orphaned = !known.contains(name);
            if orphaned {
                servers.insert(name.to_owned());
            }
            orphaned
        };
        for listed in self.runc().list()? {
            if file(&listed.id, &mut orphans.servers) {
                orphans.containers.push(listed.id);
            }
        }
        for namespace in netns::list_with_prefix(self.prefix())? {
            let name = &namespace[self.prefix().len()..];
            if file(name, &mut orphans.servers) {
                orphans.namespaces.push(namespace.clone());
            }
        }
        let servers_dir = self.servers_dir();
        for point in volume::mount_points()? {
            if let Some(name) = server_of(&servers_dir, &point)
                && file(&name, &mut orphans.servers)
            {
                orphans.mounts.push(point);
            }
        }
        for device in volume::loop_devices()? {
            if let Some(name) = server_of(&servers_dir, &device.backing_file)
                && file(&name, &mut orphans.servers)
            {
                orphans.loop_devices.push(device.device);
            }
        }
        let entries = std::fs::read_dir(&servers_dir).map_err(io_error("list", &servers_dir))?;
        for entry in entries {
            let entry = entry.map_err(io_error("list", &servers_dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if file(&name, &mut orphans.servers) {
                orphans.directories.push(entry.path());
            }
        }
        Ok(orphans)
    }

    /// Tears down every server `orphans` names, as [`Runtime::delete`] does.
    pub fn remove_orphans(&self, orphans: &Orphans) -> Result<()> {
        let mut first_error = None;
        for name in &orphans.servers {
            if let Err(error) = self.teardown(name) {
                tracing::warn!(server = name, %error, "removing an orphan");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Removes every resource filed under `name`, going on past failures so that one stuck
    /// resource does not keep the others; the first failure is returned.
    pub(crate) fn teardown(&self, name: &str) -> Result<()> {
        let dir = self.server_dir(name);
        let mut first_error = None;
        let container = match self.runc().find(name) {
            Ok(Some(_)) => self.runc().delete(name),
            Ok(None) => Ok(()),
            Err(error) => Err(error),
        };
        keep_first(&mut first_error, name, container);
        keep_first(&mut first_error, name, unmount_below(&dir));
        keep_first(&mut first_error, name, detach_below(&dir));
        let namespace = NetNamespace::new(format!("{}{name}", self.prefix()));
        keep_first(&mut first_error, name, namespace.remove());
        if first_error.is_none() && dir.exists() {
            // Only once nothing is mounted below it: removing through a live mount would
            // delete the volume's contents instead of the directory.
            let removed = std::fs::remove_dir_all(&dir).map_err(io_error("remove", &dir));
            keep_first(&mut first_error, name, removed);
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Logs a failed teardown step and keeps the first failure.
fn keep_first(first: &mut Option<RuntimeError>, name: &str, result: Result<()>) {
    if let Err(error) = result {
        tracing::warn!(server = name, %error, "teardown step");
        first.get_or_insert(error);
    }
}

/// Detaches every loop device whose file is below `dir`, and waits until the kernel has let
/// go of them: a filesystem the container's mount namespace still held when it was unmounted
/// on the host keeps its device busy until that namespace is freed, shortly after runc's
/// delete, and `losetup -d` then only marks the device to be cleared.
fn detach_below(dir: &Path) -> Result<()> {
    let below = || -> Result<Vec<PathBuf>> {
        Ok(volume::loop_devices()?
            .into_iter()
            .filter(|device| device.backing_file.starts_with(dir))
            .map(|device| device.device)
            .collect())
    };
    for device in below()? {
        volume::detach(&device)?;
    }
    let deadline = Instant::now() + DETACH_WAIT;
    loop {
        let Some(device) = below()?.into_iter().next() else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            return Err(RuntimeError::LoopDeviceBusy { device });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Unmounts every mount point at or below `dir`, deepest first.
fn unmount_below(dir: &Path) -> Result<()> {
    let mut points: Vec<PathBuf> = volume::mount_points()?
        .into_iter()
        .filter(|point| point.starts_with(dir))
        .collect();
    points.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
    points.dedup();
    let umount = super::tool::find("umount")?;
    for point in points {
        super::tool::run(&umount, &[point.as_os_str()])?;
    }
    Ok(())
}

/// The server a path under `servers_dir` belongs to (its first component there).
fn server_of(servers_dir: &Path, path: &Path) -> Option<String> {
    match path.strip_prefix(servers_dir).ok()?.components().next()? {
        Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_filed_under_their_server_and_others_are_not() {
        let servers = Path::new("/state/servers");
        assert_eq!(
            server_of(servers, Path::new("/state/servers/web/volumes/data")).as_deref(),
            Some("web")
        );
        assert_eq!(server_of(servers, Path::new("/state/other/web")), None);
        assert_eq!(server_of(servers, servers), None);
    }
}
