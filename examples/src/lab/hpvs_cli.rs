//! The `hpvs` CLI as the lab runs it: a child process with the appliance's environment, its
//! command line and output printed as a user would see them in a terminal.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::{LabError, Step};
use crate::{detail, outln};

/// Arguments longer than this are shortened when the command line is printed (the build
/// server's base64 certificates are kilobytes long).
const SHOWN_ARGUMENT: usize = 72;

/// The `hpvs` binary with the environment that points it at the lab's appliance.
#[derive(Debug, Clone)]
pub struct HpvsCli {
    binary: PathBuf,
    env: Vec<(String, String)>,
    dir: PathBuf,
}

/// What one `hpvs` command printed.
#[derive(Debug, Clone)]
pub struct HpvsOutput {
    /// Standard output.
    pub stdout: String,
    /// Standard error (progress lines, `ERROR:` lines).
    pub stderr: String,
}

impl HpvsCli {
    /// `binary` run in `dir` with `env` (`HPVS_URL`, `HPVS_TOKEN`, `HPVS_CACERT`, ...).
    pub fn new(binary: impl Into<PathBuf>, env: Vec<(String, String)>, dir: &Path) -> HpvsCli {
        HpvsCli {
            binary: binary.into(),
            env,
            dir: dir.to_owned(),
        }
    }

    /// The working directory of every command.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The environment every command gets.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Runs `hpvs ARGS` in `step`, `stdin` written to it, `extra_env` added; prints the
    /// command line and its output; a non-zero exit is a [`LabError`] carrying the command
    /// line and what it said on standard error.
    pub fn run(
        &self,
        step: Step,
        args: &[&str],
        stdin: Option<&str>,
        extra_env: &[(&str, &str)],
    ) -> Result<HpvsOutput, LabError> {
        let shown = command_line(args);
        outln!("  $ {shown}");
        let failed = |e: String| LabError::new(step, format!("`{shown}`"), e);
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra_env.iter().copied())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| {
            failed(format!(
                "cannot run {}: {e} (build it with `cargo build -p examples --bin hpvs`)",
                self.binary.display()
            ))
        })?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .and_then(|()| pipe.write_all(b"\n"))
                .map_err(|e| failed(format!("cannot write its standard input: {e}")))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| failed(format!("cannot wait for it: {e}")))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        for line in stdout.lines().chain(stderr.lines()) {
            detail(format!("  {line}"));
        }
        if !output.status.success() {
            let said = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("(nothing on standard error)")
                .to_owned();
            return Err(failed(format!("it exited with {}: {said}", output.status)));
        }
        Ok(HpvsOutput { stdout, stderr })
    }
}

impl HpvsCli {
    /// Runs `hpvs ARGS` like [`HpvsCli::run`] but prints only the command line: for output
    /// too long for the terminal (logs), which the caller saves.
    pub fn capture(&self, step: Step, args: &[&str]) -> Result<String, LabError> {
        let shown = command_line(args);
        outln!("  $ {shown}");
        let output = Command::new(&self.binary)
            .args(args)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| LabError::new(step, format!("`{shown}`"), e))?;
        if !output.status.success() {
            return Err(LabError::new(
                step,
                format!("`{shown}`"),
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// `hpvs ARGS` for printing: long arguments shortened, arguments with spaces quoted.
fn command_line(args: &[&str]) -> String {
    let mut line = String::from("hpvs");
    for arg in args {
        line.push(' ');
        let mut shown = if arg.chars().count() > SHOWN_ARGUMENT {
            let head: String = arg.chars().take(SHOWN_ARGUMENT - 12).collect();
            format!("{head}...({} characters)", arg.chars().count())
        } else {
            (*arg).to_owned()
        };
        if shown.contains(' ') {
            shown = format!("\"{shown}\"");
        }
        line.push_str(&shown);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::command_line;

    #[test]
    fn long_arguments_are_shortened_and_spaced_ones_quoted() {
        let long = "x".repeat(500);
        let line = command_line(&["vs", "create", "--env", &long, "--ports", "{a = b}"]);
        assert!(line.starts_with("hpvs vs create --env \"xxxx"), "{line}");
        assert!(line.contains("...(500 characters)"), "{line}");
        assert!(line.ends_with("--ports \"{a = b}\""), "{line}");
        assert!(line.len() < 200, "{line}");
    }
}
