//! hpvs-sim, the appliance emulator, on a free loopback port with a CA of its own, a fresh
//! state directory and an admin token; its servers are deleted when it is dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::Error;
use crate::notary::generate_tls;
use crate::process::{self, Launch, Service};

/// How long hpvs-sim has to answer (it makes its OpenPGP key at first start).
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How to start [`HpvsSim`].
#[derive(Debug, Clone, Default)]
pub struct HpvsSimOptions {
    /// The `hpvs-sim` binary; `None`: [`HpvsSim::locate_binary`].
    pub binary: Option<PathBuf>,
    /// CA certificates (PEM) the appliance trusts for registries and Notary servers (the
    /// notary-server's CA of a devstack stack).
    pub outbound_ca_pem: Option<Vec<u8>>,
}

/// A running hpvs-sim (root only: it runs runc). Dropping it kills the process, then deletes
/// every server it made (`hpvs-sim teardown`), so nothing stays mounted or running.
#[derive(Debug)]
pub struct HpvsSim {
    // Field order matters: the process is killed before its directory is removed.
    service: Service,
    binary: PathBuf,
    url: String,
    token: String,
    ca_cert: PathBuf,
    state_dir: PathBuf,
    _dir: TempDir,
}

impl HpvsSim {
    /// Starts hpvs-sim on a free loopback port and waits until its API answers.
    pub fn start(options: HpvsSimOptions) -> Result<HpvsSim, Error> {
        let binary = match options.binary {
            Some(binary) => binary,
            None => Self::locate_binary()?,
        };
        let dir = process::instance_dir("devstack-hpvs-sim-")?;
        let (paths, files) = generate_tls("hpvs-sim", &dir.path().join("tls"), false)?;
        let health = files.health_client()?;
        let state_dir = dir.path().join("state");
        std::fs::create_dir_all(&state_dir).map_err(Error::io("create directory", &state_dir))?;
        let token = process::random_hex();
        let token_file = dir.path().join("admin-token");
        process::write_private(&token_file, token.as_bytes())?;
        let outbound_ca = match &options.outbound_ca_pem {
            Some(pem) => {
                let path = dir.path().join("outbound-ca.pem");
                std::fs::write(&path, pem).map_err(Error::io("write", &path))?;
                Some(path)
            }
            None => None,
        };
        let log = dir.path().join("hpvs-sim.log");
        let service = process::start_on_free_port(
            "hpvs-sim",
            |port| format!("https://127.0.0.1:{port}"),
            "/api/v1/appliance/key",
            &health,
            |port| {
                let mut args: Vec<std::ffi::OsString> = vec![
                    "serve".into(),
                    "--state-dir".into(),
                    state_dir.clone().into(),
                    "--listen".into(),
                    format!("127.0.0.1:{port}").into(),
                    "--tls-cert".into(),
                    paths.server_cert.clone().into(),
                    "--tls-key".into(),
                    paths.server_key.clone().into(),
                    "--token-file".into(),
                    token_file.clone().into(),
                ];
                if let Some(ca) = &outbound_ca {
                    args.extend(["--outbound-ca".into(), ca.clone().into()]);
                }
                Ok(Launch {
                    name: "hpvs-sim",
                    program: binary.clone(),
                    args,
                    clear_env: &["HPVS_"],
                    log: log.clone(),
                    health_timeout: HEALTH_TIMEOUT,
                    env: Vec::new(),
                    run_as: None,
                })
            },
        )?;
        let url = format!("https://127.0.0.1:{}", service.port());
        Ok(HpvsSim {
            service,
            binary,
            url,
            token,
            ca_cert: paths.ca_cert,
            state_dir,
            _dir: dir,
        })
    }

    /// The `hpvs-sim` binary: `$HPVS_SIM_BIN`, else the one beside this program (the same
    /// cargo target directory: `cargo build -p hpvs-sim` makes it), else `hpvs-sim` on the
    /// PATH.
    pub fn locate_binary() -> Result<PathBuf, Error> {
        if let Some(path) = std::env::var_os("HPVS_SIM_BIN") {
            return crate::require_binary(&PathBuf::from(path).to_string_lossy(), "hpvs-sim");
        }
        if let Ok(exe) = std::env::current_exe() {
            // Test binaries live in target/<profile>/deps, programs in target/<profile>.
            for dir in exe.ancestors().skip(1).take(2) {
                let candidate = dir.join("hpvs-sim");
                if candidate.is_file() {
                    return Ok(candidate);
                }
            }
        }
        crate::require_binary("hpvs-sim", "hpvs-sim (cargo build -p hpvs-sim)")
    }

    /// The base URL, `https://127.0.0.1:PORT` (the API is under `/api/v1`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The CA certificate (PEM) that signed its server certificate.
    pub fn ca_cert(&self) -> &Path {
        &self.ca_cert
    }

    /// Its state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Its log (stdout and stderr, across restarts).
    pub fn log_path(&self) -> &Path {
        self.service.log_path()
    }

    /// Its process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.service.pid()
    }

    /// Kills the process (SIGKILL, as a crash would); [`HpvsSim::restart`] starts it again
    /// on the same port and state.
    pub fn kill(&mut self) {
        self.service.stop();
    }

    /// Starts it again (killing it first if it runs) on the same port and state.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.service.restart()
    }

    /// `export` lines for `HPVS_URL`, `HPVS_TOKEN` and `HPVS_CACERT`, as the `hpvs` CLI reads
    /// them.
    pub fn env_lines(&self) -> Vec<String> {
        vec![
            format!("export HPVS_URL={}", self.url),
            format!("export HPVS_TOKEN={}", self.token),
            format!("export HPVS_CACERT={}", self.ca_cert.display()),
        ]
    }

    /// Deletes every server of its state directory (the process must be stopped).
    fn teardown(&self) {
        let outcome = Command::new(&self.binary)
            .args(["teardown", "--state-dir"])
            .arg(&self.state_dir)
            .output();
        match outcome {
            Ok(output) if output.status.success() => {}
            Ok(output) => tracing::warn!(
                stderr = %String::from_utf8_lossy(&output.stderr),
                "hpvs-sim teardown failed"
            ),
            Err(error) => tracing::warn!(%error, "hpvs-sim teardown did not start"),
        }
    }
}

impl Drop for HpvsSim {
    fn drop(&mut self) {
        self.service.stop();
        self.teardown();
    }
}
