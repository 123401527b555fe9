//! Chromedriver's process: started in a process group of its own, polled until ready, and
//! killed with every Chromium it started.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::POLL_INTERVAL;
use crate::{Error, process};

/// How long the processes of a dropped [`Browser`](super::Browser) have to disappear.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts chromedriver in a process group of its own, with `HOME` and the XDG directories in
/// `dir` so that Chromium writes nothing (crash reports, caches) outside it.
pub(super) fn spawn_driver(
    program: &Path,
    port: u16,
    dir: &Path,
    log: &Path,
) -> Result<Child, Error> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(Error::io("open log file", log))?;
    let err = out.try_clone().map_err(Error::io("open log file", log))?;
    let mut command = Command::new(program);
    command
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .arg("--log-level=INFO")
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("CHROMIUM_FLAGS", "")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    command.spawn().map_err(|source| Error::Spawn {
        program: program.to_owned(),
        source,
    })
}

/// Polls `GET /status` until it says `ready`, chromedriver exits or the time runs out.
pub(super) fn wait_ready(
    child: &mut Child,
    base: &str,
    log: &Path,
) -> Result<(), process::StartFailure> {
    use process::StartFailure;
    let url = format!("{base}/status");
    // reqwest::blocking must not run inside an async runtime: poll from a thread of its own.
    let poll = || -> Result<(), StartFailure> {
        let client = process::health_client("chromedriver", &Default::default())?;
        let deadline = Instant::now() + process::HEALTH_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let log_tail = process::log_tail(log);
                    let lower = log_tail.to_ascii_lowercase();
                    if lower.contains("address already in use")
                        || lower.contains("port not available")
                    {
                        return Err(StartFailure::AddressInUse);
                    }
                    return Err(StartFailure::Fatal(Error::Exited {
                        name: "chromedriver".to_owned(),
                        status,
                        log: log.to_owned(),
                        log_tail,
                    }));
                }
                Ok(None) => {}
                Err(source) => {
                    return Err(StartFailure::Fatal(Error::Io {
                        action: "wait for",
                        path: "chromedriver".into(),
                        source,
                    }));
                }
            }
            let ready = client
                .get(&url)
                .send()
                .ok()
                .and_then(|response| response.bytes().ok())
                .and_then(|body| serde_json::from_slice::<Value>(&body).ok())
                .is_some_and(|status| status["value"]["ready"] == Value::Bool(true));
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartFailure::Fatal(Error::NotHealthy {
                    name: "chromedriver".to_owned(),
                    url: url.clone(),
                    log: log.to_owned(),
                    log_tail: process::log_tail(log),
                }));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(poll).join().unwrap_or_else(|_| {
            Err(StartFailure::Fatal(Error::HttpClient {
                name: "chromedriver".to_owned(),
                reason: "the readiness thread panicked".to_owned(),
            }))
        })
    })
}

/// Kills chromedriver's process group, reaps chromedriver and waits until no process of the
/// group, nor any other with `dir` on its command line (Chromium's crash handler starts a
/// session of its own), is left; stragglers of the latter kind are killed by PID.
pub(super) fn kill_group(child: &mut Child, dir: &Path) {
    let pgid = child.id();
    signal_kill(&format!("-{pgid}"));
    if let Err(error) = child.kill() {
        tracing::trace!(%error, "chromedriver already gone");
    }
    if let Err(error) = child.wait() {
        tracing::warn!(%error, "cannot reap chromedriver");
    }
    let deadline = Instant::now() + EXIT_TIMEOUT;
    loop {
        let left = live_processes(pgid, dir);
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            tracing::warn!(?left, "chromium processes survived SIGKILL");
            return;
        }
        for (pid, in_group) in left {
            if !in_group {
                signal_kill(&pid.to_string());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGKILL to `target` (a PID, or `-PGID` for a process group) with the `kill`
/// command.
fn signal_kill(target: &str) {
    let sent = Command::new("kill")
        .args(["-s", "KILL", "--", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(error) = sent {
        tracing::warn!(%error, target, "cannot run kill");
    }
}

/// The live (not zombie) processes in group `pgid` or with `dir` on their command line, with
/// whether they are in the group.
fn live_processes(pgid: u32, dir: &Path) -> Vec<(u32, bool)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let needle = dir.as_os_str().as_encoded_bytes();
    let mut live = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let mut fields = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace())
            .into_iter()
            .flatten();
        let state = fields.next();
        let group = fields.nth(1).and_then(|field| field.parse::<u32>().ok());
        if state == Some("Z") || state == Some("X") {
            continue;
        }
        let in_group = group == Some(pgid);
        let names_dir = std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|cmdline| cmdline.windows(needle.len()).any(|w| w == needle));
        if in_group || names_dir {
            live.push((pid, in_group));
        }
    }
    live
}
