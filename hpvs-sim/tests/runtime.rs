//! The workload runtime against the real runc, loop devices and network namespaces (root).
//!
//! Every test builds a busybox root filesystem, runs one server from it whose start script
//! writes what it sees (env, hostname, id, a host file, a write past its quota) into the web
//! root of `busybox httpd`, and reads that back through a host port forwarder. Each test has
//! its own state directory, so its host resources carry their own prefix; a guard deletes
//! the server even when the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hpvs_sim::runtime::{
    Filesystem, ImageConfig, PortForwarder, QuotaMount, Runtime, RuntimeError, ServerName,
    ServerSettings, ServerState,
};

const APPLETS: &[&str] = &[
    "sh", "httpd", "cat", "ps", "hostname", "env", "dd", "id", "echo", "rm", "sleep", "mkdir",
    "wget", "kill",
];

/// The workload: records what it sees, then serves it (and a live `ps` through CGI).
const START_SCRIPT: &str = r#"
trap 'kill $server; exit 0' TERM
echo "workload up as $(id -u)"
echo "to stderr" >&2
hostname > /www/hostname.txt
cat /proc/mounts > /www/mounts.txt
env > /www/env.txt
id > /www/id.txt
cat "$HOST_SECRET" > /www/secret.txt 2>&1
if [ -d /data ]; then
  echo boot >> /data/boots
  cat /data/boots > /www/boots.txt
  dd if=/dev/zero of=/data/fill bs=1M count=64 2> /www/dd.txt
  echo "exit=$?" >> /www/dd.txt
  rm -f /data/fill
fi
wget -q -T 2 -O /www/probe.txt "http://$HOST_PROBE/" 2> /www/probe-err.txt
echo "exit=$?" >> /www/probe-err.txt
httpd -f -p 8080 -h /www &
server=$!
wait
"#;

const PS_CGI: &str = "#!/bin/sh\necho 'Content-Type: text/plain'\necho\nps -o pid,comm\n";

/// A test's state directory, root filesystem and runtime; deletes its server on drop.
struct Fixture {
    runtime: Runtime,
    name: ServerName,
    rootfs: PathBuf,
    host_secret: PathBuf,
    /// A host loopback service the workload must not reach.
    host_probe: std::net::TcpListener,
    _dir: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Err(error) = self.runtime.delete(&self.name) {
            eprintln!("cleanup of {}: {error}", self.name);
        }
    }
}

/// Deletes one more server of a fixture's runtime on drop.
struct ServerGuard<'a> {
    runtime: &'a Runtime,
    name: ServerName,
}

impl Drop for ServerGuard<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.runtime.delete(&self.name) {
            eprintln!("cleanup of {}: {error}", self.name);
        }
    }
}

impl Fixture {
    fn new(name: &str) -> Self {
        assert_eq!(
            nix::unistd::geteuid().as_raw(),
            0,
            "these tests need root (runc, loop devices, namespaces)"
        );
        let dir = tempfile::Builder::new()
            .prefix("hpvs-sim-runtime-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let rootfs = dir.path().join("rootfs");
        build_rootfs(&rootfs);
        let host_secret = dir.path().join("host-secret.txt");
        std::fs::write(&host_secret, "host-only-secret").unwrap();
        let runtime = Runtime::open(&dir.path().join("state")).unwrap();
        let host_probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        Self {
            runtime,
            name: name.parse().unwrap(),
            rootfs,
            host_secret,
            host_probe,
            _dir: dir,
        }
    }

    fn image(&self) -> ImageConfig {
        ImageConfig {
            entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
            cmd: Some(vec![START_SCRIPT.into()]),
            env: Some(vec!["IMAGE_VAR=from-image".into(), "MODE=image".into()]),
            working_dir: Some("/www".into()),
            user: Some("app".into()),
            exposed_ports: None,
        }
    }

    fn settings(&self, mounts: Vec<QuotaMount>) -> ServerSettings {
        ServerSettings {
            name: self.name.clone(),
            env: vec![
                ("MODE".into(), "server".into()),
                ("HOST_SECRET".into(), self.host_secret.display().to_string()),
                (
                    "HOST_PROBE".into(),
                    self.host_probe.local_addr().unwrap().to_string(),
                ),
            ],
            cpus: 1,
            ram_mib: 128,
            cap_add: vec![],
            mounts,
        }
    }

    fn create_and_start(&self, mounts: Vec<QuotaMount>) {
        self.runtime
            .create(&self.rootfs, &self.image(), &self.settings(mounts))
            .unwrap();
        self.runtime.start(&self.name).unwrap();
    }
}

fn data_mount(size: u64) -> QuotaMount {
    QuotaMount {
        mount_id: "data".parse().unwrap(),
        mount: "/data".into(),
        filesystem: Filesystem::Ext4,
        size,
        reset_root: true,
    }
}

fn busybox() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .expect("busybox-static is installed (scripts/install-peers.sh)")
}

fn build_rootfs(rootfs: &Path) {
    for dir in ["bin", "etc", "www/cgi-bin", "tmp"] {
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    std::fs::copy(busybox(), rootfs.join("bin/busybox")).unwrap();
    for applet in APPLETS {
        symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/www:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    let cgi = rootfs.join("www/cgi-bin/ps");
    std::fs::write(&cgi, PS_CGI).unwrap();
    std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap();
    for dir in ["www", "www/cgi-bin"] {
        std::os::unix::fs::chown(rootfs.join(dir), Some(1000), Some(1000)).unwrap();
    }
}

/// One HTTP/1.0 GET; `None` when nothing answers (connection refused, closed or timed out).
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    // CGI output ends its headers with bare newlines.
    let (head, body) = response
        .split_once("\r\n\r\n")
        .or_else(|| response.split_once("\n\n"))?;
    head.starts_with("HTTP/1.").then(|| body.to_owned())
}

/// Polls until the workload serves `path`.
fn wait_for(addr: SocketAddr, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(body) = http_get(addr, path) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never answered on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn forward(tokio: &tokio::runtime::Runtime, fixture: &Fixture) -> PortForwarder {
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    tokio
        .block_on(fixture.runtime.forward(&fixture.name, listen, 8080))
        .unwrap()
}

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_workload_sees_its_env_hostname_user_and_processes_and_no_host_file() {
    let fixture = Fixture::new("isolated-1");
    fixture.create_and_start(vec![]);
    let tokio = tokio();
    let forwarder = forward(&tokio, &fixture);
    let addr = forwarder.local_addr();
    assert!(addr.ip().is_loopback());

    let env = wait_for(addr, "/env.txt");
    assert!(env.lines().any(|line| line == "MODE=server"), "{env}");
    assert!(
        env.lines().any(|line| line == "IMAGE_VAR=from-image"),
        "{env}"
    );
    assert!(!env.contains("CARGO"), "host env leaked: {env}");
    assert_eq!(wait_for(addr, "/hostname.txt").trim(), "isolated-1");
    assert!(wait_for(addr, "/id.txt").starts_with("uid=1000(app) gid=1000(app)"));

    let secret = wait_for(addr, "/secret.txt");
    assert!(!secret.contains("host-only-secret"), "{secret}");
    assert!(secret.contains("can't open"), "{secret}");

    // The host's loopback is not the server's: a host service there is out of reach.
    let probe = wait_for(addr, "/probe-err.txt");
    assert!(probe.contains("exit=1"), "{probe}");
    fixture.host_probe.set_nonblocking(true).unwrap();
    assert!(
        fixture.host_probe.accept().is_err(),
        "the workload reached the host"
    );

    let ps = wait_for(addr, "/cgi-bin/ps");
    let commands: Vec<&str> = ps
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1))
        .collect();
    assert!(commands.contains(&"httpd"), "{ps}");
    assert!(
        commands
            .iter()
            .all(|command| ["sh", "httpd", "ps"].contains(command)),
        "processes other than the workload's are visible: {ps}"
    );
    let pid_one = ps.lines().nth(1).unwrap_or_default();
    assert!(pid_one.trim_start().starts_with("1 "), "{ps}");

    // Creating over a live server is refused and leaves it running.
    let again =
        fixture
            .runtime
            .create(&fixture.rootfs, &fixture.image(), &fixture.settings(vec![]));
    assert!(matches!(again, Err(RuntimeError::ServerExists { server }) if server == "isolated-1"));
    assert!(http_get(addr, "/hostname.txt").is_some());

    let ServerState::Running { pid } = fixture.runtime.state(&fixture.name).unwrap() else {
        panic!("not running");
    };
    assert!(pid > 1);
    let log = std::fs::read_to_string(fixture.runtime.log_path(&fixture.name)).unwrap();
    assert!(!log.contains("host-only-secret"));
}

#[test]
fn the_cgroup_gets_the_servers_memory_and_cpu_limits() {
    let fixture = Fixture::new("limits-1");
    fixture.create_and_start(vec![]);
    let cgroup = format!("{}{}", fixture.runtime.prefix(), fixture.name);
    let v1 = PathBuf::from("/sys/fs/cgroup/memory")
        .join(&cgroup)
        .join("memory.limit_in_bytes");
    let v2 = PathBuf::from("/sys/fs/cgroup")
        .join(&cgroup)
        .join("memory.max");
    let limit = std::fs::read_to_string(&v1)
        .or_else(|_| std::fs::read_to_string(&v2))
        .expect("the container's memory cgroup");
    assert_eq!(limit.trim(), (128u64 << 20).to_string());
    let v1_cpu = PathBuf::from("/sys/fs/cgroup/cpu")
        .join(&cgroup)
        .join("cpu.cfs_quota_us");
    let v2_cpu = PathBuf::from("/sys/fs/cgroup")
        .join(&cgroup)
        .join("cpu.max");
    let quota = std::fs::read_to_string(&v1_cpu)
        .or_else(|_| std::fs::read_to_string(&v2_cpu))
        .expect("the container's cpu cgroup");
    // One CPU: 100 ms of CPU time per 100 ms period (v2 writes "100000 100000").
    assert!(quota.trim().starts_with("100000"), "{quota}");
}

#[test]
fn the_quota_mount_is_full_at_its_size_keeps_data_across_restart_and_stop_closes_the_port() {
    let fixture = Fixture::new("quota-1");
    fixture.create_and_start(vec![data_mount(16 << 20)]);
    let tokio = tokio();
    let forwarder = forward(&tokio, &fixture);
    let addr = forwarder.local_addr();

    let dd = wait_for(addr, "/dd.txt");
    assert!(dd.contains("No space left on device"), "{dd}");
    assert!(dd.contains("exit=1"), "{dd}");
    assert_eq!(wait_for(addr, "/boots.txt"), "boot\n");

    // The workload exits on SIGTERM: stop returns long before the grace period ends.
    let stopping = Instant::now();
    fixture
        .runtime
        .stop(&fixture.name, Duration::from_secs(30))
        .unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(10));
    assert_eq!(
        fixture.runtime.state(&fixture.name).unwrap(),
        ServerState::Stopped
    );
    assert_eq!(
        http_get(addr, "/boots.txt"),
        None,
        "still answering after stop"
    );

    fixture.runtime.start(&fixture.name).unwrap();
    assert_eq!(wait_for(addr, "/boots.txt"), "boot\nboot\n");
    // Both runs' stdout and stderr, appended.
    let log = std::fs::read_to_string(fixture.runtime.log_path(&fixture.name)).unwrap();
    assert_eq!(log.matches("workload up as 1000\n").count(), 2, "{log}");
    assert_eq!(log.matches("to stderr\n").count(), 2, "{log}");
}

#[test]
fn delete_leaves_no_container_mount_loop_device_namespace_or_directory() {
    let fixture = Fixture::new("delete-1");
    fixture.create_and_start(vec![data_mount(8 << 20)]);
    let state = fixture.runtime.state_dir().to_path_buf();
    let namespace = fixture.runtime.namespace(&fixture.name).path();
    assert!(namespace.exists());
    assert!(mounts_below(&state) > 0);
    assert!(loops_below(&state) > 0);

    fixture.runtime.delete(&fixture.name).unwrap();
    assert_eq!(
        fixture.runtime.state(&fixture.name).unwrap(),
        ServerState::Gone
    );
    assert!(!namespace.exists());
    assert_eq!(mounts_below(&state), 0);
    assert_eq!(loops_below(&state), 0);
    assert!(!state.join("servers").join(fixture.name.as_str()).exists());
    assert!(
        fixture
            .runtime
            .orphans(&BTreeSet::new())
            .unwrap()
            .is_empty()
    );
    // Deleting again is not an error.
    fixture.runtime.delete(&fixture.name).unwrap();
}

#[test]
fn orphans_are_what_unknown_servers_left_and_removing_them_leaves_nothing() {
    let fixture = Fixture::new("orphan-1");
    fixture.create_and_start(vec![data_mount(8 << 20)]);
    let known: BTreeSet<ServerName> = [fixture.name.clone()].into();
    assert!(fixture.runtime.orphans(&known).unwrap().is_empty());

    let orphans = fixture.runtime.orphans(&BTreeSet::new()).unwrap();
    assert_eq!(orphans.servers, ["orphan-1".to_owned()].into());
    assert_eq!(orphans.containers, ["orphan-1"]);
    assert_eq!(orphans.namespaces.len(), 1);
    assert_eq!(orphans.mounts.len(), 1);
    assert_eq!(orphans.loop_devices.len(), 1);
    assert_eq!(orphans.directories.len(), 1);

    fixture.runtime.remove_orphans(&orphans).unwrap();
    assert!(
        fixture
            .runtime
            .orphans(&BTreeSet::new())
            .unwrap()
            .is_empty()
    );
    let state = fixture.runtime.state_dir();
    assert_eq!((mounts_below(state), loops_below(state)), (0, 0));
}

#[test]
fn a_refused_create_makes_nothing() {
    let fixture = Fixture::new("refused-1");
    let image = ImageConfig {
        user: Some("ghost".into()),
        ..fixture.image()
    };
    let error = fixture
        .runtime
        .create(
            &fixture.rootfs,
            &image,
            &fixture.settings(vec![data_mount(8 << 20)]),
        )
        .unwrap_err();
    assert!(matches!(error, RuntimeError::UserNotFound { ref user, .. } if user == "ghost"));
    assert!(!fixture.runtime.namespace(&fixture.name).path().exists());
    assert!(
        fixture
            .runtime
            .orphans(&BTreeSet::new())
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        fixture.runtime.start(&fixture.name),
        Err(RuntimeError::NotCreated { .. })
    ));
}

#[test]
fn a_forwarder_refuses_an_address_off_the_loopback() {
    let fixture = Fixture::new("forward-1");
    let tokio = tokio();
    let listen: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let refused = tokio.block_on(fixture.runtime.forward(&fixture.name, listen, 8080));
    assert!(matches!(refused, Err(RuntimeError::NonLoopbackAddress { addr }) if addr == listen));
}

fn mounts_below(dir: &Path) -> usize {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| Path::new(point).starts_with(dir))
        .count()
}

fn loops_below(dir: &Path) -> usize {
    let out = std::process::Command::new("losetup")
        .args(["--list", "--noheadings", "--output", "BACK-FILE"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|file| Path::new(file.trim()).starts_with(dir))
        .count()
}

#[test]
fn stop_kills_a_workload_that_ignores_sigterm_after_the_grace_period() {
    let fixture = Fixture::new("stubborn-1");
    let image = ImageConfig {
        cmd: Some(vec![
            "trap '' TERM; echo > /www/trapped; while true; do sleep 1; done".into(),
        ]),
        ..fixture.image()
    };
    let settings = fixture.settings(vec![]);
    fixture
        .runtime
        .create(&fixture.rootfs, &image, &settings)
        .unwrap();
    fixture.runtime.start(&fixture.name).unwrap();
    assert!(matches!(
        fixture.runtime.state(&fixture.name).unwrap(),
        ServerState::Running { .. }
    ));
    // Signalled before its trap is set (while runc's init still runs), it would just exit.
    let trapped = fixture.rootfs.join("www/trapped");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !trapped.exists() {
        assert!(Instant::now() < deadline, "the workload never set its trap");
        std::thread::sleep(Duration::from_millis(20));
    }
    let grace = Duration::from_millis(500);
    let stopping = Instant::now();
    fixture.runtime.stop(&fixture.name, grace).unwrap();
    assert!(stopping.elapsed() >= grace);
    assert_eq!(
        fixture.runtime.state(&fixture.name).unwrap(),
        ServerState::Stopped
    );
}

#[test]
fn a_restarted_runtime_finds_its_running_server_and_half_created_ones_are_orphans() {
    let fixture = Fixture::new("restart-1");
    fixture.create_and_start(vec![]);
    // A second process on the same state directory: same prefix, same containers.
    let again = Runtime::open(fixture.runtime.state_dir()).unwrap();
    assert_eq!(again.prefix(), fixture.runtime.prefix());
    assert!(matches!(
        again.state(&fixture.name).unwrap(),
        ServerState::Running { .. }
    ));

    let half = ServerGuard {
        runtime: &again,
        name: "half-1".parse().unwrap(),
    };
    let half_settings = ServerSettings {
        name: half.name.clone(),
        ..fixture.settings(vec![data_mount(8 << 20)])
    };
    // Created (namespace, volume, bundle) but never started, then forgotten by the caller.
    again
        .create(&fixture.rootfs, &fixture.image(), &half_settings)
        .unwrap();
    let known: BTreeSet<ServerName> = [fixture.name.clone()].into();
    let orphans = again.orphans(&known).unwrap();
    assert_eq!(orphans.servers, ["half-1".to_owned()].into());
    assert!(orphans.containers.is_empty());
    assert_eq!(
        (
            orphans.namespaces.len(),
            orphans.mounts.len(),
            orphans.loop_devices.len()
        ),
        (1, 1, 1)
    );
    again.remove_orphans(&orphans).unwrap();
    assert!(again.orphans(&known).unwrap().is_empty());
    drop(half);
}

#[test]
fn xfs_and_btrfs_mounts_are_filesystems_of_their_kind_in_the_container() {
    let fixture = Fixture::new("kinds-1");
    let mount = |id: &str, filesystem: Filesystem| QuotaMount {
        mount_id: id.parse().unwrap(),
        mount: format!("/{id}").into(),
        filesystem,
        size: filesystem.minimum_size(),
        reset_root: false,
    };
    fixture.create_and_start(vec![
        mount("xfsdata", Filesystem::Xfs),
        mount("btrfsdata", Filesystem::Btrfs),
    ]);
    let tokio = tokio();
    let forwarder = forward(&tokio, &fixture);
    let mounts = wait_for(forwarder.local_addr(), "/mounts.txt");
    let kind_of = |point: &str| {
        mounts.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            (fields.get(1) == Some(&point)).then(|| fields.get(2).copied().unwrap_or_default())
        })
    };
    assert_eq!(kind_of("/xfsdata"), Some("xfs"), "{mounts}");
    assert_eq!(kind_of("/btrfsdata"), Some("btrfs"), "{mounts}");
}
