//! `runc` with a state root of our own, so that every container it lists is ours.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::error::{Result, RuntimeError, io_error};
use super::tool;

/// How much of runc's own log an error quotes.
const LOG_TAIL: u64 = 2048;

/// A container's status as `runc list` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

/// One entry of `runc list`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Listed {
    pub id: String,
    pub status: Status,
    pub pid: i64,
}

/// The `runc` binary and our state root.
#[derive(Debug, Clone)]
pub(crate) struct Runc {
    binary: PathBuf,
    root: PathBuf,
}

impl Runc {
    /// Finds runc on the host; a missing one names the install script.
    pub fn new(root: PathBuf) -> Result<Self> {
        Ok(Self {
            binary: tool::find("runc")?,
            root,
        })
    }

    fn global_args(&self) -> Vec<&OsStr> {
        vec![OsStr::new("--root"), self.root.as_os_str()]
    }

    fn run(&self, args: &[&OsStr]) -> Result<Vec<u8>> {
        let mut all = self.global_args();
        all.extend_from_slice(args);
        tool::run(&self.binary, &all)
    }

    /// `runc create`: the container's init waits for `start`; its stdout and stderr are
    /// `console` (appended), and runc's own messages go to `runc_log`.
    pub fn create(&self, id: &str, bundle: &Path, console: &File, runc_log: &Path) -> Result<()> {
        let mut args = self.global_args();
        args.extend([
            OsStr::new("--log"),
            runc_log.as_os_str(),
            OsStr::new("create"),
            OsStr::new("--bundle"),
            bundle.as_os_str(),
            OsStr::new(id),
        ]);
        let stdout = console.try_clone().map_err(io_error("clone", runc_log))?;
        let stderr = console.try_clone().map_err(io_error("clone", runc_log))?;
        let status = Command::new(&self.binary)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .map_err(io_error("run", &self.binary))?;
        if status.success() {
            return Ok(());
        }
        // runc wrote its reason to the console log (our stderr) and to its own log; the
        // latter holds nothing of the workload's, so it is what the error quotes.
        Err(tool::failed(&self.binary, &args, status, &tail(runc_log)))
    }

    /// `runc start`: runs the created container's process.
    pub fn start(&self, id: &str) -> Result<()> {
        self.run(&[OsStr::new("start"), OsStr::new(id)]).map(drop)
    }

    /// `runc kill` with a signal name (`TERM`, `KILL`).
    pub fn kill(&self, id: &str, signal: &str) -> Result<()> {
        self.run(&[OsStr::new("kill"), OsStr::new(id), OsStr::new(signal)])
            .map(drop)
    }

    /// `runc delete --force`: kills and removes the container and its cgroup.
    pub fn delete(&self, id: &str) -> Result<()> {
        self.run(&[OsStr::new("delete"), OsStr::new("--force"), OsStr::new(id)])
            .map(drop)
    }

    /// Every container under our root.
    pub fn list(&self) -> Result<Vec<Listed>> {
        let args = [
            OsStr::new("list"),
            OsStr::new("--format"),
            OsStr::new("json"),
        ];
        let out = self.run(&args)?;
        // runc prints `null` when there is no container.
        let listed: Option<Vec<Listed>> =
            serde_json::from_slice(&out).map_err(|error| RuntimeError::UnexpectedOutput {
                command: tool::describe(&self.binary, &args),
                detail: error.to_string(),
            })?;
        Ok(listed.unwrap_or_default())
    }

    /// One container's entry, or `None` when runc has none by that id.
    pub fn find(&self, id: &str) -> Result<Option<Listed>> {
        Ok(self.list()?.into_iter().find(|listed| listed.id == id))
    }
}

/// The end of a log file, or nothing when it cannot be read.
fn tail(path: &Path) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let length = file.metadata().map(|meta| meta.len()).unwrap_or(0);
    let mut out = Vec::new();
    if file
        .seek(SeekFrom::Start(length.saturating_sub(LOG_TAIL)))
        .is_ok()
    {
        // A partial read still says something; an error here only shortens the message.
        let _ = file.read_to_end(&mut out);
    }
    out
}
