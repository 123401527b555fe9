//! Quotagroup mounts: a sparse image file of the mount's size, formatted, attached to a loop
//! device and mounted on the host under the state directory, from where the container gets
//! it as a bind mount. The filesystem's own size is the quota: a write past it fails with
//! ENOSPC inside the container.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use super::error::{Result, RuntimeError, io_error};
use super::names::MountId;
use super::tool;

/// A filesystem a quotagroup mount can be formatted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filesystem {
    /// ext4 (`mkfs.ext4`, e2fsprogs).
    Ext4,
    /// XFS (`mkfs.xfs`, xfsprogs).
    Xfs,
    /// Btrfs (`mkfs.btrfs`, btrfs-progs).
    Btrfs,
}

impl Filesystem {
    /// The kernel's name for it (`mount -t`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ext4 => "ext4",
            Self::Xfs => "xfs",
            Self::Btrfs => "btrfs",
        }
    }

    /// The smallest image its mkfs accepts.
    pub fn minimum_size(self) -> u64 {
        match self {
            Self::Ext4 => 1 << 20,
            Self::Xfs => 300 << 20,
            Self::Btrfs => 114 << 20,
        }
    }

    fn mkfs(self) -> &'static str {
        match self {
            Self::Ext4 => "mkfs.ext4",
            Self::Xfs => "mkfs.xfs",
            Self::Btrfs => "mkfs.btrfs",
        }
    }

    fn mkfs_args(self) -> &'static [&'static str] {
        match self {
            Self::Ext4 => &["-q", "-F"],
            Self::Xfs | Self::Btrfs => &["-q", "-f"],
        }
    }
}

impl FromStr for Filesystem {
    type Err = RuntimeError;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "ext4" => Ok(Self::Ext4),
            "xfs" => Ok(Self::Xfs),
            "btrfs" => Ok(Self::Btrfs),
            _ => Err(RuntimeError::UnsupportedFilesystem {
                filesystem: name.to_owned(),
            }),
        }
    }
}

/// One quotagroup mount of a server: `{mountid, mount, filesystem, size, reset_root}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaMount {
    /// The mount's id, unique within the server.
    pub mount_id: MountId,
    /// Where the container sees it.
    pub mount: PathBuf,
    /// Its filesystem.
    pub filesystem: Filesystem,
    /// Its size in bytes: the most the workload can store there.
    pub size: u64,
    /// Whether `create` empties it when it already holds data.
    pub reset_root: bool,
}

impl QuotaMount {
    /// Refuses a size the filesystem cannot be made in.
    pub fn check_size(&self) -> Result<()> {
        let minimum = self.filesystem.minimum_size();
        if self.size < minimum {
            return Err(RuntimeError::MountTooSmall {
                mount_id: self.mount_id.to_string(),
                size: self.size,
                filesystem: self.filesystem.name(),
                minimum,
            });
        }
        Ok(())
    }
}

/// The host side of one mount: its image file and the directory it is mounted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Volume {
    pub image: PathBuf,
    pub mountpoint: PathBuf,
}

impl Volume {
    /// Formats the image (when new, or when `reset_root` asks) with its root owned by
    /// `owner`, so that a non-root workload can write to it, and mounts it.
    pub fn prepare(&self, mount: &QuotaMount, owner: (u32, u32)) -> Result<()> {
        std::fs::create_dir_all(&self.mountpoint).map_err(io_error("create", &self.mountpoint))?;
        if self.image.exists() && !mount.reset_root {
            return self.mount(mount.filesystem);
        }
        self.unmount()?;
        let file = std::fs::File::create(&self.image).map_err(io_error("create", &self.image))?;
        file.set_len(mount.size)
            .map_err(io_error("resize", &self.image))?;
        drop(file);
        let mkfs = tool::find(mount.filesystem.mkfs())?;
        let mut args: Vec<&OsStr> = mount
            .filesystem
            .mkfs_args()
            .iter()
            .map(OsStr::new)
            .collect();
        args.push(self.image.as_os_str());
        tool::run(&mkfs, &args)?;
        self.mount(mount.filesystem)?;
        std::os::unix::fs::chown(&self.mountpoint, Some(owner.0), Some(owner.1))
            .map_err(io_error("chown", &self.mountpoint))
    }

    /// Attaches the image to a loop device and mounts it, unless it already is.
    pub fn mount(&self, filesystem: Filesystem) -> Result<()> {
        if is_mounted(&self.mountpoint)? {
            return Ok(());
        }
        let losetup = tool::find("losetup")?;
        let device = match loop_devices_of(&self.image)?.into_iter().next() {
            Some(device) => device,
            None => {
                let args = [
                    OsStr::new("--find"),
                    OsStr::new("--show"),
                    self.image.as_os_str(),
                ];
                let out = tool::run(&losetup, &args)?;
                PathBuf::from(String::from_utf8_lossy(&out).trim())
            }
        };
        let mount = tool::find("mount")?;
        let args = [
            OsStr::new("-t"),
            OsStr::new(filesystem.name()),
            OsStr::new("-o"),
            OsStr::new("nosuid,nodev"),
            device.as_os_str(),
            self.mountpoint.as_os_str(),
        ];
        tool::run(&mount, &args).map(drop)
    }

    /// Unmounts the volume and detaches its loop devices; nothing to do is not an error.
    pub fn unmount(&self) -> Result<()> {
        if is_mounted(&self.mountpoint)? {
            tool::run(&tool::find("umount")?, &[self.mountpoint.as_os_str()])?;
        }
        for device in loop_devices_of(&self.image)? {
            detach(&device)?;
        }
        Ok(())
    }
}

/// Detaches one loop device.
pub(crate) fn detach(device: &Path) -> Result<()> {
    let losetup = tool::find("losetup")?;
    tool::run(&losetup, &[OsStr::new("-d"), device.as_os_str()]).map(drop)
}

/// Whether `path` is a mount point, from `/proc/self/mountinfo`.
pub(crate) fn is_mounted(path: &Path) -> Result<bool> {
    Ok(mount_points()?.iter().any(|point| point == path))
}

/// Every mount point of this mount namespace.
pub(crate) fn mount_points() -> Result<Vec<PathBuf>> {
    let path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(path).map_err(io_error("read", path))?;
    Ok(text
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_mountinfo(field)))
        .collect())
}

/// mountinfo writes space, tab, newline and backslash as `\ooo` octal escapes.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match escape {
            Some(digits) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A loop device and the file behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoopDevice {
    pub device: PathBuf,
    pub backing_file: PathBuf,
}

/// Every attached loop device, from `losetup --list --json`.
pub(crate) fn loop_devices() -> Result<Vec<LoopDevice>> {
    #[derive(Deserialize)]
    struct Listing {
        #[serde(default)]
        loopdevices: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        name: String,
        #[serde(rename = "back-file")]
        back_file: Option<String>,
    }
    let losetup = tool::find("losetup")?;
    let args = ["--list", "--json", "--output", "NAME,BACK-FILE"].map(OsStr::new);
    let out = tool::run(&losetup, &args)?;
    if out.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let listing: Listing =
        serde_json::from_slice(&out).map_err(|error| RuntimeError::UnexpectedOutput {
            command: tool::describe(&losetup, &args),
            detail: error.to_string(),
        })?;
    Ok(listing
        .loopdevices
        .into_iter()
        .filter_map(|entry| {
            let file = entry.back_file?;
            // A backing file removed while attached is listed as "<path> (deleted)".
            let file = file.strip_suffix(" (deleted)").unwrap_or(&file).to_owned();
            Some(LoopDevice {
                device: PathBuf::from(entry.name),
                backing_file: PathBuf::from(file),
            })
        })
        .collect())
}

/// The loop devices attached to `image`.
fn loop_devices_of(image: &Path) -> Result<Vec<PathBuf>> {
    Ok(loop_devices()?
        .into_iter()
        .filter(|entry| entry.backing_file == image)
        .map(|entry| entry.device)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filesystems_parse_by_kernel_name_and_others_are_unsupported() {
        for fs in [Filesystem::Ext4, Filesystem::Xfs, Filesystem::Btrfs] {
            assert_eq!(fs.name().parse::<Filesystem>().unwrap(), fs);
        }
        assert!(matches!(
            "zfs".parse::<Filesystem>(),
            Err(RuntimeError::UnsupportedFilesystem { filesystem }) if filesystem == "zfs"
        ));
    }

    #[test]
    fn a_mount_below_its_filesystems_minimum_is_refused() {
        let mount = QuotaMount {
            mount_id: "data".parse().unwrap(),
            mount: "/data".into(),
            filesystem: Filesystem::Xfs,
            size: 16 << 20,
            reset_root: false,
        };
        assert!(matches!(
            mount.check_size(),
            Err(RuntimeError::MountTooSmall { size, minimum, .. })
                if size == 16 << 20 && minimum == 300 << 20
        ));
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo(r"/var/a\040b\134c"), r"/var/a b\c");
        assert_eq!(unescape_mountinfo(r"/plain\x"), r"/plain\x");
    }
}
