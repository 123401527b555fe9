//! The appliance (hpvs-sim, served in-process over HTTPS) next to podman, in the same run:
//! time from "deploy this image" until its workload answers on its host port, and peak RSS.
//!
//! One image per size, built here with oci-push's `ImageBuilder` (4 gzip layers of
//! incompressible random data; the first also holds a static busybox, whose `httpd` serves
//! `/www` on port 8080), pushed once to a loopback docker-registry and DCT-signed once on a
//! loopback notary-server with TLS. Then, per round, alternating which tool goes first:
//!
//! - **first server**: ours is `POST /virtual-servers` on a fresh appliance (fresh state
//!   directory: nothing cached, the repository registered with a sealed registration file
//!   first, untimed) until the server is `running` and its host port answers an HTTP GET:
//!   DCT resolve pinned to the registered root, pull by digest with every blob verified,
//!   unpack, runc start, port forward. podman's is `podman pull --tls-verify=false
//!   IMAGE@DIGEST` + `podman run -d -p 127.0.0.1:PORT:8080 IMAGE@DIGEST` on a fresh storage
//!   (`--root`/`--runroot` temporary directories) until the port answers. podman checks no
//!   signature: the DCT resolve is work only ours does.
//! - **second server**: another server from the same image on the same appliance (no pull;
//!   ours still unpacks a root filesystem of its own), and `podman run -d` again.
//! - **peak RSS**: ours is the bench process's `VmHWM` (the appliance, its API server and the
//!   API client all live in it), reset by writing `5` to `/proc/self/clear_refs` before the
//!   first server and read once it answers; podman's is the largest `ru_maxrss` of its
//!   processes (`wait4` rusage of the `podman pull` and `podman run` children, read by a child
//!   of this bench that runs them). Both at two image sizes, to show whether the peak grows
//!   with the image.
//!
//! podman runs as `podman --root R --runroot RR --tmpdir T --storage-driver overlay
//! --runtime runc --cgroup-manager cgroupfs --events-backend file` with `run --ulimit
//! nofile=1024:1024 --ulimit nproc=1024:1024` (its defaults, crun and systemd, fail on these
//! machines), on its default CNI bridge network (rootful port publishing works there).
//!
//! `APPLIANCE_BENCH_MIB` sets the image size in MiB (default 1024), `APPLIANCE_BENCH_SMALL_MIB`
//! the second size (default a quarter of it), `APPLIANCE_BENCH_ROUNDS` the number of rounds
//! (default 3) and `APPLIANCE_BENCH_PODMAN_STORAGE` podman's storage driver (default
//! `overlay`; `vfs` works too). Each row prints the median and the spread (min-max) of both
//! and the ratio of the medians, ours/podman (below 1: ours is faster or smaller). `sync`
//! runs before each measurement so that one run's writeback does not land on the next. Needs
//! root (runc, network namespaces) and podman (`scripts/install-bench-peers.sh`). E.g.
//! `APPLIANCE_BENCH_MIB=128 APPLIANCE_BENCH_ROUNDS=1 cargo bench -p benches --bench appliance`
//! for a quick run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use benches::env_number;
use benches::noise::Noise;
use benches::process::{free_port, own_peak_rss_kib, reset_peak_rss, sync, wait_http};
use benches::rounds::{in_turn, ours_first};
use benches::stats::median;
use benches::table::{Ratio, Row, Table};
use devstack::{ListenerSecurity, NotaryOptions, NotaryServer, Registry, RegistryOptions};
use hpvs_api::wire::{
    NewRegistry, NewRepository, NewVirtualServer, PortMapping, Protocol, ServerState,
};
use hpvs_api::{ApplianceConfig, Secret};
use hpvs_sim::{Appliance, ApplianceOptions};
use keymgmt::mtls::{MtlsMaterial, SubjectAltName};
use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::metadata::FileMeta;
use notary_client::repository::{InitOptions, KeyHolder};
use notary_client::transport::ServerConfig;
use oci_push::{ImageBuilder, ImageRef, LayerBuilder, Layout, Platform, PushOptions};

/// Set in the child that runs podman commands and reports their peak RSS.
const ROLE: &str = "APPLIANCE_BENCH_ROLE";
/// The child's commands, a JSON array of argv arrays.
const COMMANDS: &str = "APPLIANCE_BENCH_COMMANDS";
const TOKEN: &str = "bench-admin-token";
const REPO_ID: &str = "app-repo";
const CONTAINER_PORT: u16 = 8080;
const ENTRYPOINT: [&str; 7] = ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"];
/// How long a deploy or a `podman` step may take before the bench gives up.
const DEADLINE: Duration = Duration::from_secs(600);
/// How long a started workload may take to answer on its port.
const ANSWER_DEADLINE: Duration = Duration::from_secs(60);
/// The table: seconds or MiB, median (min-max) of each side, ours/podman.
const TABLE: Table = Table {
    label_width: 48,
    cell_width: 22,
    ratio_width: 12,
    decimals: 2,
    ratio_decimals: 2,
    ratio: Ratio::OursOverTheirs,
    ratio_suffix: "",
};

fn main() {
    if std::env::var_os(ROLE).is_some() {
        podman_child();
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` (or `--all-targets`) does not:
    // there this bench, which needs root and minutes, only says how to run it.
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!(
            "appliance bench: run it with `cargo bench -p benches --bench appliance` (as root)"
        );
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "the appliance bench needs root (runc, network namespaces, podman's storage); run it as root"
        );
        std::process::exit(1);
    }
    match Command::new("podman").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => {
            eprintln!(
                "podman is missing: install it with scripts/install-bench-peers.sh (only the benches need it)"
            );
            std::process::exit(1);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The main future runs on this thread, not on the runtime's workers, so its blocking
    // waits (podman, sync, the port probes) do not hold up the appliance's tasks.
    runtime.block_on(bench());
}

async fn bench() {
    let mib = env_number("APPLIANCE_BENCH_MIB", 1024u64).max(4);
    let small_mib = env_number("APPLIANCE_BENCH_SMALL_MIB", mib / 4).max(4);
    let rounds = env_number("APPLIANCE_BENCH_ROUNDS", 3usize).max(1);
    let storage =
        std::env::var("APPLIANCE_BENCH_PODMAN_STORAGE").unwrap_or_else(|_| "overlay".to_owned());

    let stack = Stack::start().await;
    let images = [
        stack.publish("full", mib).await,
        stack.publish("small", small_mib).await,
    ];
    let [full, small] = &images;

    let mut first = Row::default();
    let mut second = Row::default();
    let mut first_small = Row::default();
    let mut rss_full = Row::default();
    let mut rss_small = Row::default();
    for round in 0..rounds {
        for image in [full, small] {
            eprintln!(
                "round {}/{rounds}: {} MiB image, {} first ...",
                round + 1,
                image.mib,
                if ours_first(round) { "ours" } else { "podman" }
            );
            let dir = tempfile::tempdir().unwrap();
            let (ours, podman) = in_turn(ours_first(round), stack.ours(image, dir.path()), || {
                stack.podman(image, &dir.path().join("podman"), &storage)
            })
            .await;
            eprintln!(
                "  ours {:.2} s + {:.2} s, podman {:.2} s + {:.2} s",
                ours.first.as_secs_f64(),
                ours.second.as_secs_f64(),
                podman.first.as_secs_f64(),
                podman.second.as_secs_f64()
            );
            let seconds = |d: Duration| d.as_secs_f64();
            let mib = |kib: u64| kib as f64 / 1024.0;
            if std::ptr::eq(image, full) {
                first.push(seconds(ours.first), seconds(podman.first));
                second.push(seconds(ours.second), seconds(podman.second));
                rss_full.push(mib(ours.peak_rss_kib), mib(podman.peak_rss_kib));
            } else {
                first_small.push(seconds(ours.first), seconds(podman.first));
                rss_small.push(mib(ours.peak_rss_kib), mib(podman.peak_rss_kib));
            }
        }
    }

    println!();
    println!(
        "hpvs-sim appliance (POST /virtual-servers, in-process) vs podman (pull + run -d), images of 4 gzip layers of random data + static busybox httpd, loopback docker-registry and notary-server (TLS)"
    );
    println!(
        "median (min-max) of {rounds} round(s); times in s until the workload answers HTTP on its host port, RSS in MiB; ratio = ours/podman (below 1: ours is faster or smaller)"
    );
    println!("{}", TABLE.header("row", "ours", "podman", "ours/podman"));
    TABLE.print(
        &format!("first server, {mib} MiB image, nothing cached"),
        &first,
    );
    TABLE.print(
        &format!("second server, same {mib} MiB image, no pull"),
        &second,
    );
    TABLE.print(
        &format!("first server, {small_mib} MiB image"),
        &first_small,
    );
    TABLE.print(
        &format!("peak RSS MiB, first server, {small_mib} MiB"),
        &rss_small,
    );
    TABLE.print(&format!("peak RSS MiB, first server, {mib} MiB"), &rss_full);
    let growth = |side: fn(&Row) -> &[f64]| {
        median(side(&rss_full)).unwrap() - median(side(&rss_small)).unwrap()
    };
    println!(
        "peak RSS from {small_mib} to {mib} MiB: ours {:+.1} MiB, podman {:+.1} MiB",
        growth(|row| &row.ours),
        growth(|row| &row.theirs),
    );
    println!(
        "ours: DCT resolve pinned to the registered root + pull by digest (every blob verified) + unpack + runc + port forward; podman: pull by digest (no signature check), {storage} storage, runc, CNI bridge"
    );
}

/// The peers, the published images and what registering them needs.
struct Stack {
    notary: NotaryServer,
    registry: Registry,
    ca_pem: Vec<u8>,
    work: tempfile::TempDir,
    gun: String,
    registration: ssc_register::Registration,
    vendor: ssc_register::SecretKey,
}

/// An image pushed and signed under a tag of [`Stack::gun`].
struct Image {
    tag: &'static str,
    mib: u64,
    digest: String,
}

/// One tool's times and peak RSS, in one round.
struct Run {
    first: Duration,
    second: Duration,
    peak_rss_kib: u64,
}

impl Stack {
    /// notary-server (TLS) and docker-registry on free loopback ports; the GUN's collection
    /// initialised, and the registration of its root for a vendor key.
    async fn start() -> Stack {
        let notary =
            NotaryServer::start(NotaryOptions::with_security(ListenerSecurity::Tls)).unwrap();
        let registry = Registry::start(RegistryOptions::default()).unwrap();
        let ca_pem = std::fs::read(&notary.tls().unwrap().ca_cert).unwrap();
        let work = tempfile::tempdir().unwrap();
        let gun = format!("{}/app", registry.host());
        let trust_dir = work.path().join("vendor-trust");
        let signer = Self::signer(&notary, &ca_pem, &trust_dir);
        signer
            .repository(&gun)
            .unwrap()
            .init(&InitOptions {
                root_key: None,
                snapshot: KeyHolder::Server,
            })
            .await
            .unwrap();
        let root_json =
            std::fs::read(trust_dir.join("tuf").join(&gun).join("metadata/root.json")).unwrap();
        let root = ssc_register::RootKey::from_root_json(&root_json).unwrap();
        let vendor = ssc_register::SecretKey::generate(
            ssc_register::KeyKind::Ed25519,
            "Vendor <v@example.com>",
            ssc_register::Secret::new("pw"),
        )
        .unwrap();
        let registration = ssc_register::Registration::builder(gun.clone(), root)
            .build(&vendor.public_key())
            .unwrap();
        Stack {
            notary,
            registry,
            ca_pem,
            work,
            gun,
            registration,
            vendor,
        }
    }

    fn signer(
        notary: &NotaryServer,
        ca_pem: &[u8],
        trust_dir: &Path,
    ) -> notary_client::repository::Client {
        let config = ServerConfig {
            ca_pem: Some(ca_pem.to_vec()),
            ..ServerConfig::from_url(notary.url()).unwrap()
        };
        notary_client::repository::Client::new(
            trust_dir,
            &config,
            Fixed(Passphrase::new("vendor-passphrase")),
        )
        .unwrap()
    }

    /// Builds the image of `mib` MiB, pushes it as `tag` and signs the tag with DCT.
    async fn publish(&self, tag: &'static str, mib: u64) -> Image {
        eprintln!("building, pushing and signing a {mib} MiB image (4 layers) as {tag} ...");
        let layout = Layout::create(self.work.path().join(format!("layout-{tag}"))).unwrap();
        build_image(
            &layout,
            &self.work.path().join(format!("context-{tag}")),
            tag,
            mib,
        );
        let client = oci_push::Client::new(oci_push::ClientOptions {
            security: oci_push::Security::InsecureHttp,
            ..Default::default()
        })
        .unwrap();
        let pushed = client
            .push_layout(
                &layout,
                Some(tag),
                &ImageRef::parse(&format!("{}:{tag}", self.gun)).unwrap(),
                &PushOptions::default(),
            )
            .await
            .unwrap();
        // The registry has the blobs now; free the disk for the servers' root filesystems.
        drop(layout);
        std::fs::remove_dir_all(self.work.path().join(format!("layout-{tag}"))).unwrap();
        let signer = Self::signer(
            &self.notary,
            &self.ca_pem,
            &self.work.path().join("vendor-trust"),
        );
        let repository = signer.repository(&self.gun).unwrap();
        repository
            .add_target(tag, FileMeta::from(&pushed), &[])
            .unwrap();
        repository.publish().await.unwrap();
        Image {
            tag,
            mib,
            digest: pushed.digest.to_string(),
        }
    }

    /// Ours: a fresh appliance in `dir` with the registry and the repository registered,
    /// then two servers of `image`.
    async fn ours(&self, image: &Image, dir: &Path) -> Run {
        let appliance = Appliance::open(ApplianceOptions {
            state_dir: dir.join("appliance"),
            outbound_ca_pem: Some(self.ca_pem.clone()),
        })
        .unwrap();
        let material =
            MtlsMaterial::generate("hpvs-sim.bench", &SubjectAltName::loopback()).unwrap();
        let paths = material.write_pem_files(&dir.join("api-tls")).unwrap();
        let tls = hpvs_sim::serve::tls_config(&paths.server_cert, &paths.server_key).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = hpvs_sim::api::router(Arc::clone(&appliance), Secret::new(TOKEN));
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(hpvs_sim::serve::serve(listener, tls, router, async move {
            let _ = stopped.await;
        }));
        let client = hpvs_api::Client::new(
            ApplianceConfig::new(format!("https://{address}"), Secret::new(TOKEN))
                .with_ca_pem(std::fs::read(&paths.ca_cert).unwrap()),
        )
        .unwrap();

        client
            .add_registry(&NewRegistry {
                name: "lab".to_owned(),
                url: format!("http://{}", self.registry.host()),
                dct: self.notary.url().to_owned(),
                user: String::new(),
                password: Secret::default(),
            })
            .await
            .unwrap();
        let key = client.appliance_key().await.unwrap();
        let appliance_key =
            ssc_register::PublicKey::from_armored(key.public_key.as_bytes()).unwrap();
        let regfile =
            ssc_register::seal::seal(&self.registration, &self.vendor, &appliance_key).unwrap();
        client
            .register_repository(&NewRepository {
                id: REPO_ID.to_owned(),
                regfile,
            })
            .await
            .unwrap();

        sync().unwrap();
        reset_peak_rss().expect("write /proc/self/clear_refs");
        let (first, first_steps) = deploy(&client, "first", image.tag).await;
        let peak_rss_kib = own_peak_rss_kib().expect("VmHWM in /proc/self/status");
        sync().unwrap();
        let (second, second_steps) = deploy(&client, "second", image.tag).await;
        eprintln!("  ours, first server:  {first_steps}\n  ours, second server: {second_steps}");

        for name in ["first", "second"] {
            client.delete_virtual_server(name).await.unwrap();
        }
        drop(client);
        let _ = shutdown.send(());
        served.await.unwrap().unwrap();
        drop(appliance);
        Run {
            first,
            second,
            peak_rss_kib,
        }
    }

    /// podman: `pull` + `run -d` on a fresh storage under `dir`, then `run -d` again.
    fn podman(&self, image: &Image, dir: &Path, storage: &str) -> Run {
        let store = PodmanStore::new(dir, storage);
        let reference = format!("{}@{}", self.gun, image.digest);
        let pull = store.command(&["pull", "--quiet", "--tls-verify=false", &reference]);
        let run = |name: &str, port: u16| {
            store.command(&[
                "run",
                "-d",
                "--name",
                name,
                "--pull=never",
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
                "-p",
                &format!("127.0.0.1:{port}:{CONTAINER_PORT}"),
                &reference,
            ])
        };

        sync().unwrap();
        let port = free_port().unwrap();
        let start = Instant::now();
        let peak_rss_kib = run_podman(&[pull, run("first", port)]);
        wait_answer(port);
        let first = start.elapsed();
        sync().unwrap();
        let port = free_port().unwrap();
        let start = Instant::now();
        run_podman(&[run("second", port)]);
        wait_answer(port);
        let second = start.elapsed();
        drop(store);
        Run {
            first,
            second,
            peak_rss_kib,
        }
    }
}

/// A podman storage of its own, emptied (containers removed, storage reset, directory
/// deleted) when dropped.
struct PodmanStore {
    dir: PathBuf,
    global: Vec<String>,
}

impl PodmanStore {
    fn new(dir: &Path, storage: &str) -> PodmanStore {
        let path = |name: &str| dir.join(name).display().to_string();
        PodmanStore {
            dir: dir.to_owned(),
            global: [
                "--root".to_owned(),
                path("root"),
                "--runroot".to_owned(),
                path("runroot"),
                "--tmpdir".to_owned(),
                path("tmp"),
                "--storage-driver".to_owned(),
                storage.to_owned(),
                "--runtime".to_owned(),
                "runc".to_owned(),
                "--cgroup-manager".to_owned(),
                "cgroupfs".to_owned(),
                "--events-backend".to_owned(),
                "file".to_owned(),
            ]
            .into(),
        }
    }

    /// `podman GLOBAL-FLAGS args...` as an argv.
    fn command(&self, args: &[&str]) -> Vec<String> {
        std::iter::once("podman".to_owned())
            .chain(self.global.iter().cloned())
            .chain(args.iter().map(|&a| a.to_owned()))
            .collect()
    }

    fn quietly(&self, args: &[&str]) -> bool {
        let argv = self.command(args);
        Command::new(&argv[0])
            .args(&argv[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for PodmanStore {
    fn drop(&mut self) {
        if !self.dir.exists() {
            return;
        }
        let removed = self.quietly(&["rm", "--all", "--force", "--time", "0"]);
        let reset = self.quietly(&["system", "reset", "--force"]);
        if !(removed && reset) {
            eprintln!(
                "podman could not clean up {} (rm: {removed}, system reset: {reset})",
                self.dir.display()
            );
        }
        if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("removing {}: {error}", self.dir.display());
        }
    }
}

/// Runs the podman commands in a child of this bench, one after the other, and returns the
/// largest peak RSS (KiB) of any of their processes.
fn run_podman(commands: &[Vec<String>]) -> u64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "podman")
        .env(COMMANDS, serde_json::to_string(commands).unwrap())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "podman failed: {}", out.status);
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The child side of [`run_podman`]: runs each argv of `$APPLIANCE_BENCH_COMMANDS` and
/// prints `ru_maxrss` of its waited-for children (the largest of them, in KiB).
fn podman_child() {
    let commands: Vec<Vec<String>> =
        serde_json::from_str(&std::env::var(COMMANDS).unwrap()).unwrap();
    for argv in &commands {
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!(
                "{} failed: {}\n{}",
                argv.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            std::process::exit(1);
        }
    }
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    // Linux reports ru_maxrss in KiB.
    println!("{}", usage.max_rss());
}

/// `POST /virtual-servers` for a server of `tag` on a free host port; returns the time until
/// it is `running` and its port answers, and when each step began as the polled `reason`
/// showed it (`resolve 0.01 pull 0.05 ...`, seconds from the call, to within the 20 ms poll).
async fn deploy(client: &hpvs_api::Client, name: &str, tag: &str) -> (Duration, String) {
    let port = free_port().unwrap();
    let mut steps = String::new();
    let mut last_step = String::new();
    let start = Instant::now();
    client
        .create_virtual_server(&NewVirtualServer {
            name: name.to_owned(),
            repo: REPO_ID.to_owned(),
            tag: tag.to_owned(),
            cpu: 1,
            ram: 256,
            quotagroups: Vec::new(),
            env: BTreeMap::new(),
            ports: vec![PortMapping {
                containerport: CONTAINER_PORT,
                protocol: Protocol::Tcp,
                hostport: port,
            }],
        })
        .await
        .unwrap();
    loop {
        let server = client.virtual_server(name).await.unwrap();
        let step = match server.state {
            ServerState::Creating => server.reason.as_deref().unwrap_or("accepted"),
            other => other.as_str(),
        };
        let step = step.split_whitespace().next().unwrap_or_default();
        if step != last_step {
            steps.push_str(&format!("{step} {:.2} ", start.elapsed().as_secs_f64()));
            step.clone_into(&mut last_step);
        }
        match server.state {
            ServerState::Running => break,
            ServerState::Creating => {
                assert!(start.elapsed() < DEADLINE, "{name} still creating");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("{name} is {other}: {:?}", server.reason),
        }
    }
    wait_answer(port);
    let elapsed = start.elapsed();
    steps.push_str(&format!("answers {:.2}", elapsed.as_secs_f64()));
    (elapsed, steps)
}

/// Waits until the workload answers on `127.0.0.1:port`.
fn wait_answer(port: u16) {
    wait_http(port, ANSWER_DEADLINE).unwrap();
}

/// Writes the image into `layout` as `tag`: 4 gzip layers of `mib / 4` MiB of random bytes
/// each (a file per layer, written in `context` and deleted once packed), the first with a
/// static busybox and `/www/index.html`; busybox httpd serves `/www` on port 8080.
fn build_image(layout: &Layout, context: &Path, tag: &str, mib: u64) {
    std::fs::create_dir_all(context.join("www")).unwrap();
    std::fs::write(
        context.join("www/index.html"),
        "hello from the appliance bench\n",
    )
    .unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .expect("busybox-static is installed (scripts/install-peers.sh)");
    let mut image = ImageBuilder::scratch(Platform::host(), 0);
    image.config.entrypoint = Some(ENTRYPOINT.iter().map(|&s| s.to_owned()).collect());
    image.config.set_env("PATH", "/bin");
    image
        .config
        .exposed_ports
        .insert(format!("{CONTAINER_PORT}/tcp"));
    let layer_bytes = mib * 1024 * 1024 / 4;
    for i in 0..4u64 {
        let data = context.join(format!("data-{i}.bin"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&data).unwrap());
        std::io::copy(
            &mut Noise::new((i + 1) ^ (mib << 8), layer_bytes),
            &mut file,
        )
        .unwrap();
        file.flush().unwrap();
        drop(file);
        let mut layer = LayerBuilder::new();
        if i == 0 {
            layer.add_path(&busybox, "bin/busybox").unwrap();
            layer.add_path(&context.join("www"), "www").unwrap();
        }
        layer
            .add_path(&data, &format!("data/layer-{i}.bin"))
            .unwrap();
        image
            .add_layer(layout, &layer, &format!("bench layer {i}"))
            .unwrap();
        std::fs::remove_file(&data).unwrap();
    }
    image.finish(layout, tag).unwrap();
}
