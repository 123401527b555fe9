//! Spawning peers with their output in a log file, waiting for them to be healthy, and
//! killing them by PID.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Error;

/// How long a peer has to answer its health endpoint.
pub(crate) const HEALTH_TIMEOUT: Duration = Duration::from_secs(20);
/// How many log lines an error shows.
const LOG_TAIL_LINES: usize = 40;
/// How many ports to try when another process grabs the free port first.
pub(crate) const PORT_ATTEMPTS: u32 = 5;

/// Finds a free loopback port by binding port 0 and letting it go again.
pub(crate) fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::io("bind", "127.0.0.1:0"))?;
    let port = listener
        .local_addr()
        .map_err(Error::io("read local address of", "127.0.0.1:0"))?
        .port();
    Ok(port)
}

/// 128 random bits in hex: passwords and passphrases of the peers' own.
pub(crate) fn random_hex() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A new temporary directory named `<prefix>...` for one peer instance (config, TLS files,
/// data, log), removed when dropped.
pub(crate) fn instance_dir(prefix: &str) -> Result<tempfile::TempDir, Error> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(Error::io(
            "create temporary directory in",
            std::env::temp_dir(),
        ))
}

/// Removes the inherited environment variables starting with one of `prefixes`, so that the
/// user's own configuration of a peer does not leak into a test.
pub(crate) fn clear_env_prefixed(command: &mut Command, prefixes: &[&str]) {
    for (key, _) in std::env::vars_os() {
        if let Some(text) = key.to_str()
            && prefixes.iter().any(|prefix| text.starts_with(prefix))
        {
            command.env_remove(&key);
        }
    }
}

/// What a peer needs to be started again and again (restarts, port retries).
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    /// The peer's name, for errors and logs.
    pub(crate) name: &'static str,
    /// The binary.
    pub(crate) program: PathBuf,
    /// Its arguments.
    pub(crate) args: Vec<OsString>,
    /// Prefixes of inherited environment variables to remove.
    pub(crate) clear_env: &'static [&'static str],
    /// The log file (appended to).
    pub(crate) log: PathBuf,
    /// How long the peer has to become healthy.
    pub(crate) health_timeout: Duration,
    /// Variables set for the peer (after `clear_env`), e.g. key passphrases.
    pub(crate) env: Vec<(String, String)>,
    /// The user (uid, gid) the peer runs as, when not the caller's (PostgreSQL refuses root).
    pub(crate) run_as: Option<(u32, u32)>,
}

/// How the health check talks to the peer.
#[derive(Debug, Clone, Default)]
pub(crate) struct HealthClient {
    /// CA certificate PEM to trust (HTTPS).
    pub(crate) ca_pem: Option<String>,
    /// Client certificate + key PEM to present (mutual TLS).
    pub(crate) identity_pem: Option<String>,
}

/// How a starting peer shows that it is up.
#[derive(Clone)]
pub(crate) enum Probe {
    /// `GET url` answers 200 (or 401, which also means up).
    Http {
        /// The health URL.
        url: String,
        /// How to reach it.
        client: HealthClient,
    },
    /// A check of the peer's own protocol (a TLS handshake, a client command) succeeds.
    Check {
        /// What is checked, for errors (an address or URL).
        target: String,
        /// True once the peer is up.
        ready: Arc<dyn Fn() -> bool + Send + Sync>,
    },
}

impl Probe {
    /// The HTTP probe of `url`.
    pub(crate) fn http(url: impl Into<String>, client: &HealthClient) -> Probe {
        Probe::Http {
            url: url.into(),
            client: client.clone(),
        }
    }

    fn target(&self) -> &str {
        match self {
            Probe::Http { url, .. } => url,
            Probe::Check { target, .. } => target,
        }
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Probe").field(&self.target()).finish()
    }
}

/// Why a start attempt did not give a healthy peer.
pub(crate) enum StartFailure {
    /// The port was taken between finding it and the peer binding it: try another one.
    AddressInUse,
    /// Anything else: give up.
    Fatal(Error),
}

impl From<Error> for StartFailure {
    fn from(error: Error) -> Self {
        StartFailure::Fatal(error)
    }
}

/// A running peer process, killed (and reaped) by its own PID on drop.
#[derive(Debug)]
pub(crate) struct Supervised {
    name: &'static str,
    child: Child,
}

impl Supervised {
    /// Starts `launch` again on the port it had before (a restart): a port taken meanwhile is
    /// [`Error::PortTaken`], since a restarted peer must keep its address.
    pub(crate) fn restart_probed(
        launch: &Launch,
        probe: &Probe,
        port: u16,
    ) -> Result<Supervised, Error> {
        match Self::start_probed(launch, probe) {
            Ok(process) => Ok(process),
            Err(StartFailure::AddressInUse) => Err(Error::PortTaken {
                name: launch.name.to_owned(),
                port,
                log: launch.log.clone(),
            }),
            Err(StartFailure::Fatal(error)) => Err(error),
        }
    }

    /// Starts the peer and waits until `probe` says it is up.
    pub(crate) fn start_probed(launch: &Launch, probe: &Probe) -> Result<Supervised, StartFailure> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log)
            .map_err(Error::io("open log file", &launch.log))?;
        let log_err = log
            .try_clone()
            .map_err(Error::io("open log file", &launch.log))?;
        let mut command = Command::new(&launch.program);
        command
            .args(&launch.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        clear_env_prefixed(&mut command, launch.clear_env);
        command.envs(launch.env.iter().map(|(key, value)| (key, value)));
        #[cfg(unix)]
        if let Some((uid, gid)) = launch.run_as {
            use std::os::unix::process::CommandExt as _;
            command.uid(uid).gid(gid);
        }
        let child = command.spawn().map_err(|source| Error::Spawn {
            program: launch.program.clone(),
            source,
        })?;
        tracing::debug!(
            name = launch.name,
            pid = child.id(),
            probe = probe.target(),
            "started peer"
        );
        let mut supervised = Supervised {
            name: launch.name,
            child,
        };
        supervised.wait_healthy(launch, probe)?;
        Ok(supervised)
    }

    /// Polls the probe until it succeeds, the process exits or the timeout passes.
    fn wait_healthy(&mut self, launch: &Launch, probe: &Probe) -> Result<(), StartFailure> {
        let child = &mut self.child;
        // reqwest::blocking owns a runtime that must not be created or dropped inside an
        // async context: run it on a thread of its own, so callers may be async tests.
        let outcome = std::thread::scope(|scope| {
            scope
                .spawn(move || poll_health(child, launch, probe))
                .join()
                .unwrap_or_else(|_| {
                    Err(StartFailure::Fatal(Error::HttpClient {
                        name: launch.name.to_owned(),
                        reason: "the health-check thread panicked".to_owned(),
                    }))
                })
        });
        if outcome.is_err() {
            self.kill();
        }
        outcome
    }

    /// The process ID.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process and reaps it. Safe to call more than once.
    pub(crate) fn kill(&mut self) {
        match self.child.try_wait() {
            Ok(Some(_)) => {}
            _ => {
                if let Err(error) = self.child.kill() {
                    tracing::warn!(name = self.name, %error, "cannot kill peer");
                }
                if let Err(error) = self.child.wait() {
                    tracing::warn!(name = self.name, %error, "cannot reap peer");
                }
                tracing::debug!(name = self.name, pid = self.child.id(), "stopped peer");
            }
        }
    }
}

impl Supervised {
    /// Sends `signal` (e.g. `INT`, PostgreSQL's fast shutdown) with the `kill` command, waits
    /// up to `grace` for the process to exit, then kills it. Safe to call more than once.
    pub(crate) fn terminate(&mut self, signal: &str, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let pid = self.child.id().to_string();
            let sent = Command::new("kill")
                .args(["-s", signal, &pid])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if matches!(sent, Ok(status) if status.success()) {
                let deadline = Instant::now() + grace;
                while Instant::now() < deadline {
                    if !matches!(self.child.try_wait(), Ok(None)) {
                        tracing::debug!(name = self.name, pid, signal, "peer stopped");
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                tracing::warn!(name = self.name, pid, signal, "peer ignored the signal");
            }
        }
        self.kill();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.kill();
    }
}

fn poll_health(child: &mut Child, launch: &Launch, probe: &Probe) -> Result<(), StartFailure> {
    let url = probe.target();
    let ready: Box<dyn Fn() -> bool> = match probe {
        Probe::Http { url, client } => {
            let client = health_client(launch.name, client)?;
            let url = url.clone();
            Box::new(move || match client.get(&url).send() {
                Ok(response) => {
                    let up = matches!(response.status().as_u16(), 200 | 401);
                    if !up {
                        tracing::trace!(status = %response.status(), url, "peer not healthy yet");
                    }
                    up
                }
                Err(error) => {
                    tracing::trace!(%error, url, "peer not reachable yet");
                    false
                }
            })
        }
        Probe::Check { ready, .. } => {
            let ready = Arc::clone(ready);
            Box::new(move || ready())
        }
    };
    let deadline = Instant::now() + launch.health_timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let log_tail = log_tail(&launch.log);
                // Go says "bind: address already in use", PostgreSQL "Address already in use".
                if log_tail
                    .to_ascii_lowercase()
                    .contains("address already in use")
                {
                    tracing::debug!(
                        name = launch.name,
                        "port taken before the peer could bind it"
                    );
                    return Err(StartFailure::AddressInUse);
                }
                return Err(StartFailure::Fatal(Error::Exited {
                    name: launch.name.to_owned(),
                    status,
                    log: launch.log.clone(),
                    log_tail,
                }));
            }
            Ok(None) => {}
            Err(source) => {
                return Err(StartFailure::Fatal(Error::Io {
                    action: "wait for",
                    path: launch.program.clone(),
                    source,
                }));
            }
        }
        if ready() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StartFailure::Fatal(Error::NotHealthy {
                name: launch.name.to_owned(),
                url: url.to_owned(),
                log: launch.log.clone(),
                log_tail: log_tail(&launch.log),
            }));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A blocking HTTP client that trusts only the peer's CA and presents the client identity.
pub(crate) fn health_client(
    name: &str,
    health: &HealthClient,
) -> Result<reqwest::blocking::Client, Error> {
    let fail = |reason: String| Error::HttpClient {
        name: name.to_owned(),
        reason,
    };
    // An explicit provider: a test tool must not change the process's rustls default either.
    let tls = registry_http::TlsOptions {
        roots: match &health.ca_pem {
            Some(ca) => registry_http::TrustRoots::CustomCa(ca.clone().into_bytes()),
            None => registry_http::TrustRoots::Platform,
        },
        client_identity_pem: health.identity_pem.clone().map(registry_http::Secret::new),
    };
    let config = tls.client_config().map_err(|e| fail(e.to_string()))?;
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .map_err(|e| fail(registry_http::error_chain(&e)))
}

/// The last lines of a log file (or a note saying why it cannot be read).
pub(crate) fn log_tail(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
        }
        Err(error) => format!("(cannot read {}: {error})", path.display()),
    }
}

/// Writes a file readable only by its owner (configs may hold secrets or key paths).
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file: File = options.open(path).map_err(Error::io("create", path))?;
    std::io::Write::write_all(&mut file, contents).map_err(Error::io("write", path))?;
    Ok(())
}

/// How a [`Service`] is stopped.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shutdown {
    /// Killed at once (the peers that keep nothing in memory worth flushing).
    Kill,
    /// Sent `signal`, given `grace` to exit, then killed (PostgreSQL's fast shutdown).
    Signal {
        /// The signal name for `kill -s`.
        signal: &'static str,
        /// How long to wait for the exit.
        grace: Duration,
    },
}

/// A peer started on a free port, with what is needed to stop it and start it again on that
/// port: every launcher's process handling, stopped on drop.
#[derive(Debug)]
pub(crate) struct Service {
    process: Option<Supervised>,
    launch: Launch,
    probe: Probe,
    port: u16,
    shutdown: Shutdown,
}

impl Service {
    /// Stops it with `shutdown` instead of killing it.
    pub(crate) fn with_shutdown(mut self, shutdown: Shutdown) -> Service {
        self.shutdown = shutdown;
        self
    }

    /// The port it listens on (kept across restarts).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Its log file (stdout and stderr, across restarts).
    pub(crate) fn log_path(&self) -> &Path {
        &self.launch.log
    }

    /// Whether the process runs (not stopped).
    pub(crate) fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Its process ID, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Supervised::pid)
    }

    /// Stops the process; port and config are kept for [`restart`](Self::restart).
    pub(crate) fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            match self.shutdown {
                Shutdown::Kill => process.kill(),
                Shutdown::Signal { signal, grace } => process.terminate(signal, grace),
            }
        }
    }

    /// Stops the process if it runs and starts it again on the same port and config.
    pub(crate) fn restart(&mut self) -> Result<(), Error> {
        self.stop();
        self.process = Some(Supervised::restart_probed(
            &self.launch,
            &self.probe,
            self.port,
        )?);
        Ok(())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Finds a free port, lets `prepare` write the peer's config for it, starts the peer and waits
/// for `health_path`; on a port clash, tries again with another port.
pub(crate) fn start_on_free_port(
    name: &'static str,
    base_url: impl Fn(u16) -> String,
    health_path: &str,
    health: &HealthClient,
    prepare: impl FnMut(u16) -> Result<Launch, Error>,
) -> Result<Service, Error> {
    start_on_free_port_probed(
        name,
        |port| Probe::http(format!("{}{health_path}", base_url(port)), health),
        prepare,
    )
}

/// [`start_on_free_port`] with a probe of the caller's for the port.
pub(crate) fn start_on_free_port_probed(
    name: &'static str,
    probe: impl Fn(u16) -> Probe,
    mut prepare: impl FnMut(u16) -> Result<Launch, Error>,
) -> Result<Service, Error> {
    for attempt in 1..=PORT_ATTEMPTS {
        let port = free_port()?;
        let launch = prepare(port)?;
        let probe = probe(port);
        match Supervised::start_probed(&launch, &probe) {
            Ok(process) => {
                return Ok(Service {
                    process: Some(process),
                    launch,
                    probe,
                    port,
                    shutdown: Shutdown::Kill,
                });
            }
            Err(StartFailure::AddressInUse) => {
                tracing::debug!(
                    name,
                    port,
                    attempt,
                    "port clash, retrying with another port"
                );
            }
            Err(StartFailure::Fatal(error)) => return Err(error),
        }
    }
    Err(Error::PortsExhausted {
        name: name.to_owned(),
        attempts: PORT_ATTEMPTS,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn shell(dir: &Path, script: &str, timeout: Duration) -> Launch {
        Launch {
            name: "test-peer",
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            clear_env: &[],
            log: dir.join("peer.log"),
            health_timeout: timeout,
            env: Vec::new(),
            run_as: None,
        }
    }

    /// An HTTP probe of a port nothing listens on.
    fn unused_probe() -> Probe {
        let url = format!("http://127.0.0.1:{}/health", free_port().unwrap());
        Probe::http(url, &HealthClient::default())
    }

    #[test]
    fn early_exit_reports_status_and_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        let script = "for i in $(seq 1 100); do echo line $i; done; echo boom >&2; exit 3";
        let launch = shell(dir.path(), script, HEALTH_TIMEOUT);
        match Supervised::start_probed(&launch, &unused_probe()) {
            Err(StartFailure::Fatal(Error::Exited {
                status, log_tail, ..
            })) => {
                assert_eq!(status.code(), Some(3));
                assert!(log_tail.ends_with("boom"), "{log_tail}");
                assert_eq!(log_tail.lines().count(), LOG_TAIL_LINES);
                assert!(!log_tail.contains("line 60\n"), "only the tail: {log_tail}");
            }
            Err(StartFailure::Fatal(other)) => panic!("unexpected error {other}"),
            Err(StartFailure::AddressInUse) => panic!("not a port clash"),
            Ok(_) => panic!("nothing listens, cannot be healthy"),
        }
    }

    #[test]
    fn address_in_use_is_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let script = "echo 'listen tcp 127.0.0.1:1: bind: address already in use'; exit 1";
        let launch = shell(dir.path(), script, HEALTH_TIMEOUT);
        let outcome = Supervised::start_probed(&launch, &unused_probe());
        assert!(matches!(outcome, Err(StartFailure::AddressInUse)));
    }

    #[test]
    fn timeout_gives_not_healthy_and_kills_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let launch = shell(
            dir.path(),
            "echo waiting; exec sleep 60",
            Duration::from_millis(500),
        );
        let probe = unused_probe();
        let url = probe.target().to_owned();
        match Supervised::start_probed(&launch, &probe) {
            Err(StartFailure::Fatal(Error::NotHealthy {
                url: got, log_tail, ..
            })) => {
                assert_eq!(got, url);
                assert_eq!(log_tail, "waiting");
            }
            _ => panic!("expected NotHealthy"),
        }
    }

    #[test]
    fn log_tail_of_missing_file_says_so() {
        assert!(log_tail(Path::new("/nonexistent/devstack.log")).contains("cannot read"));
    }
}
