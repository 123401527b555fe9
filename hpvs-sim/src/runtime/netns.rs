//! Network namespaces made with `ip netns`, one per server, named with our instance's
//! prefix so that we only ever list or remove our own.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::error::{Result, io_error};
use super::tool;

/// Where `ip netns` keeps its namespaces (bind mounts of nsfs files).
const NETNS_DIR: &str = "/run/netns";

/// A named network namespace of ours.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetNamespace {
    name: String,
}

impl NetNamespace {
    pub(crate) fn new(name: String) -> Self {
        Self { name }
    }

    /// Its name in `ip netns list`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The nsfs file a process or thread joins it through.
    pub fn path(&self) -> PathBuf {
        Path::new(NETNS_DIR).join(&self.name)
    }

    /// Creates it, unless it exists, and brings its loopback up (its only interface).
    pub(crate) fn ensure(&self) -> Result<()> {
        let ip = tool::find("ip")?;
        if !self.path().exists() {
            tool::run(
                &ip,
                &[
                    OsStr::new("netns"),
                    OsStr::new("add"),
                    OsStr::new(&self.name),
                ],
            )?;
        }
        let args = ["-n", &self.name, "link", "set", "lo", "up"].map(OsStr::new);
        tool::run(&ip, &args).map(drop)
    }

    /// Deletes it; a namespace that does not exist is not an error.
    pub(crate) fn remove(&self) -> Result<()> {
        if !self.path().exists() {
            return Ok(());
        }
        let ip = tool::find("ip")?;
        let args = ["netns", "delete", &self.name].map(OsStr::new);
        tool::run(&ip, &args).map(drop)
    }
}

/// The names in `/run/netns` that start with `prefix`.
pub(crate) fn list_with_prefix(prefix: &str) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error("list", NETNS_DIR)(error)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error("list", NETNS_DIR))?;
        if let Some(name) = entry
            .file_name()
            .to_str()
            .filter(|name| name.starts_with(prefix))
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}
