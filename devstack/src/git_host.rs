//! The "GitHub" of the lab: OpenSSH's `sshd` on a free loopback port serving bare git
//! repositories to the deploy keys it was told to authorise, and nothing else (no passwords,
//! no other users' keys, its own host key).

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{self, Launch, Probe, Service};
use crate::{Error, require_binary};

/// A running sshd serving bare repositories, stopped and removed on drop.
#[derive(Debug)]
pub struct GitHost {
    // Field order matters: the process is killed before its directory is removed.
    service: Service,
    repositories: PathBuf,
    authorized_keys: PathBuf,
    host_key_public: String,
    _dir: TempDir,
}

impl GitHost {
    /// Starts sshd (Debian `openssh-server`) with a new Ed25519 host key on a free
    /// loopback port and waits until it greets with its SSH banner.
    pub fn start() -> Result<GitHost, Error> {
        let sshd = ["/usr/sbin/sshd", "sshd"]
            .iter()
            .find_map(|name| require_binary(name, "openssh-server").ok())
            .ok_or_else(|| Error::MissingBinary {
                name: "sshd".to_owned(),
                package: "openssh-server".to_owned(),
            })?;
        let keygen = require_binary("ssh-keygen", "openssh-client")?;
        require_binary("git", "git")?;
        let dir = process::instance_dir("devstack-git-host-")?;
        let host_key = dir.path().join("host_ed25519");
        run(Command::new(&keygen)
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "devstack-git-host",
                "-f",
            ])
            .arg(&host_key))?;
        let host_key_public = std::fs::read_to_string(host_key.with_extension("pub"))
            .map_err(Error::io("read", host_key.with_extension("pub")))?;
        let repositories = dir.path().join("repositories");
        std::fs::create_dir_all(&repositories)
            .map_err(Error::io("create directory", &repositories))?;
        let authorized_keys = dir.path().join("authorized_keys");
        process::write_private(&authorized_keys, b"")?;
        // sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").map_err(Error::io("create directory", "/run/sshd"))?;
        let config_path = dir.path().join("sshd_config");
        let log = dir.path().join("sshd.log");
        let service = process::start_on_free_port_probed(
            "sshd",
            |port| Probe::Check {
                target: format!("127.0.0.1:{port} (SSH banner)"),
                ready: Arc::new(move || greets(port)),
            },
            |port| {
                let config = format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                     AuthorizedKeysFile {}\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                     PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n\
                     AllowTcpForwarding no\nX11Forwarding no\nPermitTunnel no\n\
                     LogLevel VERBOSE\n",
                    host_key.display(),
                    dir.path().join("sshd.pid").display(),
                    authorized_keys.display(),
                );
                process::write_private(&config_path, config.as_bytes())?;
                Ok(Launch {
                    name: "sshd",
                    program: sshd.clone(),
                    args: vec![
                        "-D".into(),
                        "-e".into(),
                        "-f".into(),
                        config_path.clone().into(),
                    ],
                    clear_env: &[],
                    log: log.clone(),
                    health_timeout: process::HEALTH_TIMEOUT,
                    env: Vec::new(),
                    run_as: None,
                })
            },
        )?;
        Ok(GitHost {
            service,
            repositories,
            authorized_keys,
            host_key_public,
            _dir: dir,
        })
    }

    /// Makes the bare repository `name` (`[A-Za-z0-9._-]`, no leading dot) on branch `main`
    /// and returns its SSH URL.
    pub fn create_repository(&self, name: &str) -> Result<String, Error> {
        let valid = !name.is_empty()
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            return Err(Error::InvalidName {
                what: "git repository",
                name: name.to_owned(),
            });
        }
        let path = self.repository_path(name);
        run(Command::new("git")
            .args(["init", "--quiet", "--bare", "--initial-branch", "main"])
            .arg(&path))?;
        Ok(self.url(name))
    }

    /// The SSH URL of repository `name`: `ssh://root@127.0.0.1:PORT/<dir>/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "ssh://root@127.0.0.1:{}{}",
            self.service.port(),
            self.repository_path(name).display()
        )
    }

    /// Where repository `name` is on disk.
    pub fn repository_path(&self, name: &str) -> PathBuf {
        self.repositories.join(format!("{name}.git"))
    }

    /// Commits everything in the work tree `work` (made a repository on branch `main` first
    /// when it is none) with `message` and pushes `main` to repository `name`, as a developer
    /// pushes the source the build server then clones; returns the new commit's id.
    pub fn push_tree(&self, name: &str, work: &Path, message: &str) -> Result<String, Error> {
        if !work.join(".git").exists() {
            git(work, &["init", "--quiet", "--initial-branch", "main"])?;
        }
        git(work, &["add", "--all"])?;
        git(work, &["commit", "--quiet", "--allow-empty", "-m", message])?;
        let remote = self.repository_path(name);
        git(
            work,
            &["push", "--quiet", &remote.to_string_lossy(), "main"],
        )?;
        Ok(git(work, &["rev-parse", "HEAD"])?.trim().to_owned())
    }

    /// Lets the holder of `public_key` (one OpenSSH `authorized_keys` line, such as the
    /// content of `id_ed25519.pub`) clone and push.
    pub fn authorize(&self, public_key: &str) -> Result<(), Error> {
        let line = public_key.trim();
        let known_kind = line.starts_with("ssh-") || line.starts_with("ecdsa-");
        if line.is_empty() || line.contains('\n') || !known_kind {
            return Err(Error::InvalidName {
                what: "OpenSSH public key",
                name: line.chars().take(40).collect(),
            });
        }
        let mut keys = std::fs::read_to_string(&self.authorized_keys)
            .map_err(Error::io("read", &self.authorized_keys))?;
        keys.push_str(line);
        keys.push('\n');
        process::write_private(&self.authorized_keys, keys.as_bytes())
    }

    /// The server's public host key (`ssh-ed25519 AAAA... devstack-git-host`).
    pub fn host_key(&self) -> &str {
        self.host_key_public.trim()
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// sshd's log.
    pub fn log_path(&self) -> &Path {
        self.service.log_path()
    }
}

/// Whether something on `port` greets with an SSH banner.
fn greets(port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut socket) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_secs(2)));
    let mut banner = [0u8; 8];
    socket.read_exact(&mut banner).is_ok() && banner.starts_with(b"SSH-2.0")
}

/// Runs `git -C dir ARGS` as the lab's author (`HPVS Lab <lab@hpvs-lab.example>`, so that no
/// global git identity is needed) and returns its standard output; a non-zero exit is
/// [`Error::Cli`] with what git said.
///
/// ```no_run
/// # fn main() -> Result<(), devstack::Error> {
/// let work = std::path::Path::new("/tmp/app");
/// devstack::git(work, &["init", "--quiet", "--initial-branch", "main"])?;
/// devstack::git(work, &["add", "."])?;
/// devstack::git(work, &["commit", "--quiet", "-m", "first"])?;
/// let head = devstack::git(work, &["rev-parse", "HEAD"])?;
/// # let _ = head; Ok(()) }
/// ```
pub fn git(dir: &Path, args: &[&str]) -> Result<String, Error> {
    run(Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=HPVS Lab",
            "-c",
            "user.email=lab@hpvs-lab.example",
        ])
        .args(args))
}

fn run(command: &mut Command) -> Result<String, Error> {
    let output = command.output().map_err(|source| Error::Spawn {
        program: PathBuf::from(command.get_program()),
        source,
    })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Err(Error::Cli {
        program: command.get_program().to_string_lossy().into_owned(),
        args: command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect(),
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
