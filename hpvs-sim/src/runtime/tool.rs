//! Running the host's tools (`runc`, `ip`, `losetup`, `mount`, `mkfs.*`) with typed failures.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::error::{Result, RuntimeError};

/// How much of a failing tool's stderr an error keeps.
const STDERR_TAIL: usize = 2048;

/// Finds `tool` on `PATH` (and in the sbin directories a non-login root shell may lack).
pub(crate) fn find(tool: &'static str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .ok_or(RuntimeError::ToolMissing { tool })
}

/// A command line as shown in errors.
pub(crate) fn describe(program: &Path, args: &[&OsStr]) -> String {
    let mut line = program.display().to_string();
    for arg in args {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs `program args`, returning its stdout when it exits with 0.
pub(crate) fn run(program: &Path, args: &[&OsStr]) -> Result<Vec<u8>> {
    let output = output(program, args)?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(failed(program, args, output.status, &output.stderr))
    }
}

/// Runs `program args` and returns its whole output, whatever the exit status.
pub(crate) fn output(program: &Path, args: &[&OsStr]) -> Result<Output> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| RuntimeError::Io {
            operation: "run",
            path: program.to_path_buf(),
            source,
        })
}

/// The error for a tool that exited with `status`, keeping the end of `stderr`.
pub(crate) fn failed(
    program: &Path,
    args: &[&OsStr],
    status: std::process::ExitStatus,
    stderr: &[u8],
) -> RuntimeError {
    let start = stderr.len().saturating_sub(STDERR_TAIL);
    RuntimeError::ToolFailed {
        command: describe(program, args),
        status,
        stderr: String::from_utf8_lossy(&stderr[start..]).trim().to_owned(),
    }
}
