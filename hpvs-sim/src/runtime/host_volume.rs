//! Quota volumes mounted on the host for work the appliance does itself (the Secure Build
//! Server runs as a process of hpvs-sim, not under runc). Each is a loop-mounted filesystem of
//! its size, named by its quotagroup and mount ID, so a server deleted and created again on
//! the same mounts finds its data; `reset_root` formats it anew.
//!
//! ```text
//! <state>/host-volumes/<quotagroup>/<mountid>.img   (sparse)
//! <state>/host-volumes/<quotagroup>/<mountid>/      (its mount point)
//! ```

use std::path::PathBuf;

use super::error::{Result, RuntimeError, io_error};
use super::names::MountId;
use super::server::Runtime;
use super::volume::{self, QuotaMount, Volume};

impl Runtime {
    fn host_volume(&self, quotagroup: &str, mount_id: &MountId) -> Result<Volume> {
        // The quotagroup names a directory: the same rule as a mount ID.
        let group: MountId = quotagroup
            .parse()
            .map_err(|_| RuntimeError::InvalidMountId {
                mount_id: quotagroup.to_owned(),
                reason: "a quotagroup name must also be a valid mount id to name a host volume",
            })?;
        let dir = self.state_dir().join("host-volumes").join(group.as_str());
        Ok(Volume {
            image: dir.join(format!("{}.img", mount_id.as_str())),
            mountpoint: dir.join(mount_id.as_str()),
        })
    }

    /// Mounts `mount` of `quotagroup` on the host (formatting it when new or when
    /// `reset_root` asks) and returns where; owned by root.
    pub fn mount_host_volume(&self, quotagroup: &str, mount: &QuotaMount) -> Result<PathBuf> {
        mount.check_size()?;
        let volume = self.host_volume(quotagroup, &mount.mount_id)?;
        if let Some(parent) = volume.image.parent() {
            std::fs::create_dir_all(parent).map_err(io_error("create", parent))?;
        }
        volume.prepare(mount, (0, 0))?;
        Ok(volume.mountpoint)
    }

    /// Unmounts a host volume (its data stays in its image); nothing mounted is not an error.
    pub fn unmount_host_volume(&self, quotagroup: &str, mount_id: &MountId) -> Result<()> {
        self.host_volume(quotagroup, mount_id)?.unmount()
    }

    /// Unmounts every host volume (for a teardown): their images stay.
    pub fn unmount_all_host_volumes(&self) -> Result<()> {
        let root = self.state_dir().join("host-volumes");
        for point in volume::mount_points()? {
            if point.starts_with(&root) {
                let image = point.with_extension("img");
                Volume {
                    image,
                    mountpoint: point,
                }
                .unmount()?;
            }
        }
        Ok(())
    }
}
