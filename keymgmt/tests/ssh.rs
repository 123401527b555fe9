//! Deploy keys judged by the real OpenSSH tools (Debian `openssh-client`, `openssh-server`):
//! `ssh-keygen` reads our keys and we read its keys, and `ssh` logs in with ours to a real
//! `sshd` on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use keymgmt::fsutil::Existing;
use keymgmt::ssh::{DeployKey, SshKeyKind};

const KINDS: [SshKeyKind; 2] = [SshKeyKind::Ed25519, SshKeyKind::Rsa4096];

/// One key of each kind for the whole test binary: RSA 4096 generation takes a while.
fn key(kind: SshKeyKind) -> &'static DeployKey {
    static ED25519: OnceLock<DeployKey> = OnceLock::new();
    static RSA: OnceLock<DeployKey> = OnceLock::new();
    let cell = match kind {
        SshKeyKind::Ed25519 => &ED25519,
        SshKeyKind::Rsa4096 => &RSA,
    };
    cell.get_or_init(|| {
        DeployKey::generate(kind, &format!("deploy-{}@sbs", kind.as_str())).unwrap()
    })
}

/// Runs a program, returning (success, stdout, stderr).
fn run(program: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("{program} not found ({e}): install the Debian packages openssh-client and openssh-server")
    });
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn ssh_keygen(args: &[&str]) -> String {
    let (ok, stdout, stderr) = run("ssh-keygen", args);
    assert!(ok, "ssh-keygen {args:?}: {stderr}");
    stdout
}

/// The `type base64` part of a public key line, without the comment.
fn key_part(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn ssh_keygen_derives_our_public_line_and_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    for kind in KINDS {
        let key = key(kind);
        let paths = key
            .write_pair(
                dir.path(),
                &format!("id_{}", kind.as_str()),
                Existing::Refuse,
            )
            .unwrap();
        let private = path_str(&paths.private);

        // (1) ssh-keygen -y reads our private key and prints our public key.
        let derived = ssh_keygen(&["-y", "-f", private]);
        assert_eq!(key_part(&derived), key_part(&key.public_line()), "{kind}");
        assert!(
            derived.trim_end().ends_with(key.comment()),
            "{kind}: {derived}"
        );
        let public = std::fs::read_to_string(&paths.public).unwrap();
        assert_eq!(public, format!("{}\n", key.public_line()));

        // (2) ssh-keygen -l prints our fingerprint and size, from either file.
        for file in [private, path_str(&paths.public)] {
            let listed = ssh_keygen(&["-l", "-E", "sha256", "-f", file]);
            let fields: Vec<&str> = listed.split_whitespace().collect();
            assert_eq!(fields[0], key.bits().to_string(), "{kind}: {listed}");
            assert_eq!(fields[1], key.fingerprint_sha256(), "{kind}: {listed}");
        }
    }
    assert_eq!(key(SshKeyKind::Rsa4096).bits(), 4096);
    assert_eq!(key(SshKeyKind::Rsa4096).algorithm(), "ssh-rsa");
}

#[test]
fn we_read_keys_made_by_ssh_keygen_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, args) in [
        (SshKeyKind::Ed25519, &["-t", "ed25519"][..]),
        (SshKeyKind::Rsa4096, &["-t", "rsa", "-b", "4096"][..]),
    ] {
        let file = dir
            .path()
            .join(format!("made_by_ssh_keygen_{}", kind.as_str()));
        let mut all = vec![
            "-q",
            "-N",
            "",
            "-C",
            "made@ssh-keygen",
            "-f",
            path_str(&file),
        ];
        all.extend_from_slice(args);
        ssh_keygen(&all);

        // (3) the same public line as ssh-keygen's .pub, and the same file written back.
        let text = std::fs::read_to_string(&file).unwrap();
        let key = DeployKey::from_openssh_private(&text).unwrap();
        let public = std::fs::read_to_string(file.with_extension("pub")).unwrap();
        assert_eq!(key.public_line(), public.trim_end(), "{kind}");
        assert_eq!(*key.to_openssh_private(), text, "{kind}");
        let listed = ssh_keygen(&["-l", "-f", path_str(&file)]);
        assert!(
            listed.contains(&key.fingerprint_sha256()),
            "{kind}: {listed}"
        );
        assert_eq!(
            key.bits(),
            if kind == SshKeyKind::Ed25519 {
                256
            } else {
                4096
            }
        );
    }
}

#[test]
fn keys_ssh_keygen_cannot_give_us_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let encrypted = dir.path().join("encrypted");
    ssh_keygen(&[
        "-q",
        "-t",
        "ed25519",
        "-N",
        "secret passphrase",
        "-C",
        "locked",
        "-f",
        path_str(&encrypted),
    ]);
    let err =
        DeployKey::from_openssh_private(&std::fs::read_to_string(&encrypted).unwrap()).unwrap_err();
    let listed = ssh_keygen(&["-l", "-f", path_str(&encrypted.with_extension("pub"))]);
    assert!(
        matches!(err, keymgmt::Error::EncryptedSshKey { ref fingerprint } if listed.contains(fingerprint.as_str())),
        "{err}"
    );

    let ecdsa = dir.path().join("ecdsa");
    ssh_keygen(&["-q", "-t", "ecdsa", "-N", "", "-f", path_str(&ecdsa)]);
    let err =
        DeployKey::from_openssh_private(&std::fs::read_to_string(&ecdsa).unwrap()).unwrap_err();
    assert!(
        matches!(err, keymgmt::Error::UnsupportedSshKeyType { ref algorithm } if algorithm == "ecdsa-sha2-nistp256"),
        "{err}"
    );
    assert_eq!(err.blame(), keymgmt::Blame::Input);
}

/// A throwaway sshd on a free loopback port that lets in the authorised keys as root; killed
/// on drop.
struct Sshd {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sshd {
    fn start(authorized_lines: &[String]) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let host_key = dir.path().join("host_ed25519");
        ssh_keygen(&[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "test-host",
            "-f",
            path_str(&host_key),
        ]);
        let authorized_keys = dir.path().join("authorized_keys");
        std::fs::write(&authorized_keys, authorized_lines.join("\n") + "\n").unwrap();
        // sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let log = dir.path().join("sshd.log");
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                     AuthorizedKeysFile {}\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                     PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n\
                     LogLevel VERBOSE\n",
                    host_key.display(),
                    dir.path().join("sshd.pid").display(),
                    authorized_keys.display(),
                ),
            )
            .unwrap();
            let child = Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f", path_str(&config)])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("/usr/sbin/sshd: install the Debian package openssh-server");
            let mut child = child;
            if wait_for_banner(&mut child, port) {
                return Sshd {
                    child,
                    port,
                    log,
                    _dir: dir,
                };
            }
            // Retry on another port: someone may have taken this one meanwhile.
            let _ = child.kill();
            let _ = child.wait();
            last_error = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("sshd did not greet with SSH-2.0: {last_error}");
    }

    /// Runs `ssh ... root@127.0.0.1 echo logged-in` with only `key_file`.
    fn login(&self, key_file: &Path) -> (bool, String, String) {
        let port = self.port.to_string();
        run(
            "ssh",
            &[
                "-i",
                path_str(key_file),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "ConnectTimeout=20",
                "-p",
                &port,
                "root@127.0.0.1",
                "echo logged-in",
            ],
        )
    }
}

/// Waits until sshd on `port` greets with its banner; false if it exits or takes too long.
fn wait_for_banner(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        if let Ok(mut socket) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) {
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut banner = [0u8; 7];
            if socket.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0" {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ssh_logs_in_with_our_keys_and_not_with_others() {
    let dir = tempfile::tempdir().unwrap();
    let authorized: Vec<String> = KINDS.iter().map(|&kind| key(kind).public_line()).collect();
    let sshd = Sshd::start(&authorized);
    for kind in KINDS {
        let paths = key(kind)
            .write_pair(
                dir.path(),
                &format!("deploy_{}", kind.as_str()),
                Existing::Refuse,
            )
            .unwrap();
        // (4) a real login with the deploy key.
        let (ok, stdout, stderr) = sshd.login(&paths.private);
        let log = std::fs::read_to_string(&sshd.log).unwrap_or_default();
        assert!(ok, "{kind}: ssh failed: {stderr}\nsshd log:\n{log}");
        assert_eq!(stdout.trim_end(), "logged-in", "{kind}: {stderr}");
    }
    // A key sshd was not told about is refused: the login above is the key's doing.
    let stranger = DeployKey::generate(SshKeyKind::Ed25519, "stranger").unwrap();
    let paths = stranger
        .write_pair(dir.path(), "stranger", Existing::Refuse)
        .unwrap();
    let (ok, stdout, stderr) = sshd.login(&paths.private);
    assert!(!ok && !stdout.contains("logged-in"), "{stdout} {stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
}
