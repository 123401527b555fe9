//! The Secure Build Server (hpvs-sim's SBS in process, reached over mutual TLS with
//! `hpvs_api::SbsClient`) next to the same work by hand with the real tools, in one run:
//! clone-to-`success` time of a small app whose Dockerfile needs no container runtime (FROM
//! scratch, `COPY` of a static busybox, a start script and a page, `LABEL`, `ENV`, `WORKDIR`,
//! `EXPOSE`, `ENTRYPOINT`, `CMD`; about 2 MB). Peers, started once: a devstack git host (sshd
//! on loopback, the bench's Ed25519 deploy key authorised), docker-registry (HTTP) and
//! notary-server (TLS). Per round, alternating which side goes first:
//!
//! - **ours**: a fresh SBS (`BuildServer` on a fresh state directory with the real
//!   `ToolPipeline`, `serve_build_server` on a loopback port), `POST /image` (untimed), then
//!   `PUT /image` until `GET /image` says `success` (polled every 20 ms): clone over SSH
//!   (host key learnt on first use), our builder, push of `latest-<sha7>` and `latest`, DCT
//!   signing of both, the signed build manifest. The first build also makes the DCT root and
//!   targets keys and the collection; a later build (a new commit) reuses them. Step times
//!   come from the build log's timestamps (ms).
//! - **by hand**: `git clone` (`GIT_SSH_COMMAND` with the deploy key and a known_hosts),
//!   `buildah bud --isolation chroot` into a fresh vfs storage (`--root`/`--runroot` in a
//!   temporary directory), `skopeo copy` from that storage as `latest-<sha7>` and registry
//!   to registry as `latest`, `skopeo inspect --raw` of the pushed manifest, then the Go
//!   `notary` CLI: `init` on the first build (snapshot key local, the CLI's default; ours
//!   leaves it to the server), `add` of both tags with that manifest file, the second with
//!   `-p`. No build manifest by hand: those rows are ours alone.
//! - after each round (untimed), the Go `notary list` of both repositories from an empty
//!   trust dir must show their 3 tags.
//! - **builder alone**: `oci_push::dockerfile::build` into a fresh OCI layout against
//!   `buildah bud` into a fresh vfs storage, on the same clone; and, as ours writes gzip
//!   layers and buildah only commits to its storage, against `bud` + `buildah push oci:DIR`.
//!
//! Rows print median and spread (min-max) of both and the ratio of the medians, ours/by
//! hand (below 1: ours is faster). "Everything but the build step" is the SBS's own
//! overhead: the total minus the build (ours: from the log; by hand: `buildah bud`).
//! `SBS_BENCH_ROUNDS` sets the rounds (default 5). Needs git, ssh, sshd, buildah, skopeo,
//! notary, notary-server, docker-registry, busybox (`scripts/install-peers.sh`) and root
//! (buildah's storage). Run it with `cargo bench -p benches --bench sbs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use benches::env_number;
use benches::rounds::{in_turn, ours_first};
use benches::table::{Ratio, Row, Table};
use devstack::{GitHost, ListenerSecurity, NotaryCli, NotaryOptions, NotaryServer, Registry};
use hpvs_api::{SbsClient, SbsConfig, Secret};
use hpvs_sim::sbs::{ApplianceSecret, BuildServer, SbsIdentity, ToolPipeline};
use keymgmt::mtls::{MtlsMaterial, SubjectAltName};
use serde_json::json;

const DOCKERFILE: &str = "FROM scratch
LABEL org.opencontainers.image.title=\"sbs bench app\"
ENV PATH=/bin APP_MODE=bench
COPY rootfs/ /
WORKDIR /app
COPY app/ /app/
EXPOSE 8080
ENTRYPOINT [\"/bin/busybox\", \"sh\"]
CMD [\"/app/start.sh\"]
";
/// The rows of the table, in order (the last two are the builder alone).
const ROWS: [&str; 14] = [
    "first build, clone to success (makes the DCT keys)",
    "later build (new commit), clone to success",
    "  later: clone over SSH",
    "  later: build (our builder / buildah bud)",
    "  later: push both tags",
    "  first: sign both tags (DCT init + keys)",
    "  later: sign both tags",
    "  later: manifest key, RSA-2048 (ours only)",
    "  later: manifest tbz + sig + record (ours only)",
    "  later: PUT + status polls, outside the log (ours only)",
    "first build, everything but the build step",
    "later build, everything but the build step",
    "builder alone: dockerfile::build / buildah bud",
    "builder to an OCI layout: same / bud + push oci:",
];
/// The table: seconds, median (min-max) of each side, ours/by hand.
const TABLE: Table = Table {
    label_width: 58,
    cell_width: 22,
    ratio_width: 8,
    decimals: 3,
    ratio_decimals: 2,
    ratio: Ratio::OursOverTheirs,
    ratio_suffix: "",
};
const START_SCRIPT: &str = "#!/bin/busybox sh\nexec busybox httpd -f -p 8080 -h /app/www\n";
/// How long one build may take before the bench gives up.
const DEADLINE: Duration = Duration::from_secs(600);
/// The tools the bench runs (all from scripts/install-peers.sh).
const TOOLS: &str =
    "git ssh ssh-keygen sshd buildah skopeo notary notary-server docker-registry busybox";

fn main() {
    // `cargo test --benches` (or `--all-targets`) runs this without `--bench`: there it only
    // says how to run it.
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("sbs bench: run it with `cargo bench -p benches --bench sbs` (as root)");
        return;
    }
    let missing: Vec<&str> = TOOLS.split(' ').filter(|t| find(t).is_none()).collect();
    if !missing.is_empty() {
        eprintln!(
            "missing: {}: install them with scripts/install-peers.sh (buildah, skopeo, notary, git, ssh, sshd, docker-registry, busybox-static; scripts/install-bench-peers.sh is not needed here)",
            missing.join(", ")
        );
        std::process::exit(1);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The main future runs on this thread, not on the workers: its blocking tool runs do
    // not hold up the SBS's tasks.
    runtime.block_on(bench());
}

/// `name` on `PATH` or in `/usr/sbin` (sshd).
fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

async fn bench() {
    let rounds = env_number("SBS_BENCH_ROUNDS", 5usize).max(1);
    let stack = Stack::start();
    let mut table: [Row; ROWS.len()] = Default::default();
    for round in 0..rounds {
        let ours_first = ours_first(round);
        eprintln!(
            "round {}/{rounds}, {} first ...",
            round + 1,
            if ours_first { "ours" } else { "by hand" }
        );
        let dir = tempfile::tempdir().unwrap();
        let sbs = Sbs::start(&stack, &dir.path().join("sbs"), round).await;
        let notary = NotaryCli::new(&stack.notary).unwrap();
        let gun = format!("{}/bench/hand-r{round}", stack.registry.host());
        let hand =
            |name: &str, first: bool| stack.by_hand(&notary, &gun, &dir.path().join(name), first);

        let (o1, h1) = in_turn(ours_first, sbs.build(), || hand("hand-1", true)).await;
        stack.commit(&format!("round {round}, second commit"));
        let (o2, h2) = in_turn(ours_first, sbs.build(), || hand("hand-2", false)).await;
        drop(sbs);
        // Untimed: the Go client, from an empty trust dir, sees the 3 tags of each side signed.
        for side in ["ours", "hand"] {
            let gun = format!("{}/bench/{side}-r{round}", stack.registry.host());
            let go = NotaryCli::new(&stack.notary).unwrap();
            let listed = go.run(&["list", &gun]).unwrap();
            let tags = listed.lines().filter(|l| l.starts_with("latest")).count();
            assert_eq!(tags, 3, "{gun}: {listed}");
        }
        for (what, ours, theirs) in [("first", &o1, &h1), ("later", &o2, &h2)] {
            eprintln!(
                "  {what} build: ours {}\n  {what} build: by hand {}",
                ours.steps(),
                theirs.steps()
            );
        }
        let work = dir.path().join("alone");
        let (ours, (bud, bud_oci)) = in_turn(
            ours_first,
            our_builder(&stack.checkout, &work.join("ours")),
            || buildah_alone(&stack.checkout, &work.join("buildah")),
        )
        .await;
        eprintln!(
            "  builder alone: ours {ours:.3} s, buildah bud {bud:.3} s (+ push oci: {bud_oci:.3} s)"
        );
        let values = [
            (o1.total, h1.total),
            (o2.total, h2.total),
            (o2.clone, h2.clone),
            (o2.build, h2.build),
            (o2.push, h2.push),
            (o1.sign, h1.sign),
            (o2.sign, h2.sign),
            (o2.key, f64::NAN),
            (o2.manifest, f64::NAN),
            (o2.outside, f64::NAN),
            (o1.but_build(), h1.but_build()),
            (o2.but_build(), h2.but_build()),
            (ours, bud),
            (ours, bud_oci),
        ];
        for (row, (ours, theirs)) in table.iter_mut().zip(values) {
            row.push(ours, theirs);
        }
    }
    println!();
    println!(
        "SBS (hpvs-sim in process, SbsClient over mutual TLS) vs by hand (git clone + buildah bud + skopeo copy + notary add -p), a RUN-less ~2 MB app, loopback git host over SSH, docker-registry, notary-server (TLS)"
    );
    println!(
        "median (min-max) of {rounds} round(s), in s; ratio = ours/by hand (below 1: ours is faster)"
    );
    println!("{}", TABLE.header("row", "ours", "by hand", "ratio"));
    for (what, row) in ROWS.iter().zip(&table) {
        TABLE.print(what, row);
    }
}

/// The peers, the deploy key, the source repository and a checkout of it.
struct Stack {
    notary: NotaryServer,
    registry: Registry,
    git: GitHost,
    ca_pem: Vec<u8>,
    material: MtlsMaterial,
    url: String,
    deploy_key: PathBuf,
    known_hosts: PathBuf,
    source: PathBuf,
    /// A clone for the builder-alone rows.
    checkout: PathBuf,
    _work: tempfile::TempDir,
}

impl Stack {
    fn start() -> Stack {
        let notary =
            NotaryServer::start(NotaryOptions::with_security(ListenerSecurity::Tls)).unwrap();
        let registry = Registry::start(devstack::RegistryOptions::default()).unwrap();
        let git = GitHost::start().unwrap();
        let ca_pem = std::fs::read(&notary.tls().unwrap().ca_cert).unwrap();
        let work = tempfile::tempdir().unwrap();
        let deploy_key = work.path().join("deploy_ed25519");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "sbs-bench", "-f"])
            .arg(&deploy_key));
        git.authorize(&std::fs::read_to_string(deploy_key.with_extension("pub")).unwrap())
            .unwrap();
        let known_hosts = work.path().join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{} {}\n", git.port(), git.host_key()),
        )
        .unwrap();
        let url = git.create_repository("app").unwrap();
        let source = work.path().join("source");
        write_app(&source);
        let material =
            MtlsMaterial::generate("sbs.bench.example", &SubjectAltName::loopback()).unwrap();
        let stack = Stack {
            checkout: work.path().join("checkout"),
            notary,
            registry,
            git,
            ca_pem,
            material,
            url,
            deploy_key,
            known_hosts,
            source,
            _work: work,
        };
        stack.commit("first commit");
        stack.clone_into(&stack.checkout);
        stack
    }

    /// Commits the source (with a changed page) and pushes it to the git host.
    fn commit(&self, message: &str) {
        std::fs::write(
            self.source.join("app/www/index.html"),
            format!("<p>{message}</p>\n"),
        )
        .unwrap();
        self.git.push_tree("app", &self.source, message).unwrap();
    }

    /// `git clone` over SSH with the deploy key and the known host key; returns the commit.
    fn clone_into(&self, dir: &Path) -> String {
        let ssh = format!(
            "ssh -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
            self.deploy_key.display(),
            self.known_hosts.display()
        );
        run(Command::new("git")
            .args(["clone", "--quiet", "--branch", "main", &self.url])
            .arg(dir)
            .env("GIT_SSH_COMMAND", ssh));
        run(Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "HEAD"]))
        .trim()
        .to_owned()
    }

    /// One build by hand into `dir`: clone, `buildah bud`, `skopeo copy` of both tags,
    /// `notary` (`init` first when `first`) `add` of both tags and publish.
    fn by_hand(&self, notary: &NotaryCli, gun: &str, dir: &Path, first: bool) -> Steps {
        let start = Instant::now();
        let commit = self.clone_into(&dir.join("git"));
        let tags = [format!("latest-{}", &commit[..7]), "latest".to_owned()];
        let cloned = start.elapsed().as_secs_f64();
        let store = BuildahStore::new(&dir.join("buildah"));
        let local = format!("localhost/bench-app:{}", tags[0]);
        store.bud(&dir.join("git"), &local);
        let built = start.elapsed().as_secs_f64();
        let remote = |tag: &str| format!("docker://{gun}:{tag}");
        let (tagged, latest) = (remote(&tags[0]), remote(&tags[1]));
        let insecure = "--src-tls-verify=false --dest-tls-verify=false";
        skopeo(
            &format!("copy --quiet {insecure}"),
            &[&store.reference(&local), &tagged],
        );
        skopeo(&format!("copy --quiet {insecure}"), &[&tagged, &latest]);
        let pushed = start.elapsed().as_secs_f64();
        let manifest = dir.join("manifest.json");
        let raw = skopeo("inspect --raw --tls-verify=false", &[&tagged]);
        std::fs::write(&manifest, raw).unwrap();
        let manifest = manifest.to_str().unwrap();
        if first {
            notary.run(&["init", gun]).unwrap();
        }
        notary.run(&["add", gun, &tags[0], manifest]).unwrap();
        notary.run(&["add", "-p", gun, &tags[1], manifest]).unwrap();
        let total = start.elapsed().as_secs_f64();
        drop(store);
        Steps {
            total,
            clone: cloned,
            build: built - cloned,
            push: pushed - built,
            sign: total - pushed,
            key: f64::NAN,
            manifest: f64::NAN,
            outside: f64::NAN,
        }
    }
}

/// The app: a static busybox, a start script and a page, and the Dockerfile.
fn write_app(dir: &Path) {
    std::fs::create_dir_all(dir.join("rootfs/bin")).unwrap();
    std::fs::create_dir_all(dir.join("app/www")).unwrap();
    std::fs::copy(find("busybox").unwrap(), dir.join("rootfs/bin/busybox")).unwrap();
    std::fs::write(dir.join("app/start.sh"), START_SCRIPT).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        dir.join("app/start.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
}

/// An in-process SBS on a loopback port and its mutual-TLS client; stopped on drop.
struct Sbs {
    client: SbsClient,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Sbs {
    /// A fresh SBS over `state`, initialised for the repository `bench/ours-r<round>`.
    async fn start(stack: &Stack, state: &Path, round: usize) -> Sbs {
        let env: BTreeMap<String, String> = stack
            .material
            .lab_env()
            .vars()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let identity = SbsIdentity::from_env(&env).unwrap();
        let pipeline = ToolPipeline {
            ca_pem: Some(Arc::new(stack.ca_pem.clone())),
        };
        let server =
            BuildServer::open(state, Arc::new(pipeline), ApplianceSecret::new([7; 32])).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                stopped.await.ok();
            };
            hpvs_sim::sbs::serve_build_server(listener, &identity, server, shutdown)
                .await
                .unwrap();
        });
        let client = stack.material.client();
        let client = SbsClient::new(SbsConfig {
            url: format!("https://127.0.0.1:{port}"),
            ca_cert_pem: stack.material.ca().certificate_pem().as_bytes().to_vec(),
            client_cert_pem: client.certificate_pem().as_bytes().to_vec(),
            client_key_pem: Secret::new(client.private_key_pem().as_str()),
        })
        .unwrap()
        .with_poll_interval(Duration::from_millis(20));
        let key = std::fs::read_to_string(&stack.deploy_key).unwrap();
        client
            .init(&json!({
                "GITHUB_URL": stack.url, "GITHUB_BRANCH": "main", "GITHUB_KEY": key,
                "DOCKER_REPO": format!("bench/ours-r{round}"),
                "DOCKER_USER": "", "DOCKER_PASSWORD": "",
                "DOCKER_PUSH_SERVER": format!("http://{}", stack.registry.host()),
                "DOCKER_CONTENT_TRUST_PUSH_SERVER": stack.notary.url(),
                "IMAGE_TAG_PREFIX": "latest",
                "SECRET": "c2JzLWJlbmNoLXNlY3JldC1vZi10aGUtY2xpZW50",
                "BUILD_IMAGE_TAG": "bench",
            }))
            .await
            .unwrap();
        Sbs {
            client,
            _stop: stop,
        }
    }

    /// `PUT /image` until `success`; the steps from the build log.
    async fn build(&self) -> Steps {
        let start = Instant::now();
        self.client.build().await.unwrap();
        let done = self.client.wait_for_build(DEADLINE, |_| {}).await.unwrap();
        let total = start.elapsed().as_secs_f64();
        let log = self.client.log("build").await.unwrap();
        assert!(
            done.succeeded(),
            "the SBS build failed: {}\n{log}",
            done.status
        );
        Steps::from_log(total, &log)
    }
}

/// One build's time and steps, in seconds. NaN where a step is unknown (by hand: no
/// manifest; ours: a log line that was not found).
struct Steps {
    total: f64,
    clone: f64,
    build: f64,
    push: f64,
    sign: f64,
    /// Ours: the manifest key (RSA-2048), from `signed ...` to `writing manifest...`.
    key: f64,
    /// Ours: the manifest (bzip2 tars, signature, its check) and the build's record, from
    /// `writing manifest...` to the last log line.
    manifest: f64,
    /// Ours: the time outside the log's first to last line (`PUT /image`, the polling).
    outside: f64,
}

impl Steps {
    /// The steps of an SBS build log: from its first line (`cleaned up`) to `github
    /// cloned`, from `building ...` to `image built`, then to `pushed ...`, to `signed ...`
    /// to `writing manifest...` and to the last line.
    fn from_log(total: f64, log: &str) -> Steps {
        let lines: Vec<(f64, &str)> = log.lines().filter_map(parse_log_line).collect();
        let at = |prefix: &str| {
            lines
                .iter()
                .find(|(_, m)| m.starts_with(prefix))
                .map_or(f64::NAN, |(t, _)| *t)
        };
        let start = lines.first().map_or(f64::NAN, |l| l.0);
        let end = lines.last().map_or(f64::NAN, |l| l.0);
        let (building, built, pushed) = (at("building "), at("image built"), at("pushed "));
        let (signed, writing) = (at("signed "), at("writing manifest"));
        Steps {
            total,
            clone: at("github cloned") - start,
            build: built - building,
            push: pushed - built,
            sign: signed - pushed,
            key: writing - signed,
            manifest: end - writing,
            outside: total - (end - start),
        }
    }

    fn but_build(&self) -> f64 {
        self.total - self.build
    }

    fn steps(&self) -> String {
        format!(
            "{:.2} s: clone {:.2}, build {:.2}, push {:.2}, sign {:.2}{}",
            self.total,
            self.clone,
            self.build,
            self.push,
            self.sign,
            if self.key.is_nan() {
                String::new()
            } else {
                format!(
                    ", manifest key {:.2}, manifest {:.2}",
                    self.key, self.manifest
                )
            }
        )
    }
}

/// `YYYY-MM-DD HH:MM:SS,mmm  root       LEVEL   message` as (seconds of the day, message).
fn parse_log_line(line: &str) -> Option<(f64, &str)> {
    let (stamp, rest) = (line.get(..23)?, line.get(23..)?);
    let clock = stamp.get(11..)?;
    let (hms, ms) = clock.split_once(',')?;
    let mut seconds = 0.0;
    for part in hms.split(':') {
        seconds = seconds * 60.0 + part.parse::<f64>().ok()?;
    }
    seconds += ms.parse::<f64>().ok()? / 1e3;
    let rest = rest.trim_start().strip_prefix("root")?.trim_start();
    let (_level, message) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    Some((seconds, message.trim_start()))
}

/// Our builder alone: the checkout's Dockerfile into a fresh OCI layout under `dir`.
async fn our_builder(context: &Path, dir: &Path) -> f64 {
    let dockerfile = std::fs::read_to_string(context.join("Dockerfile")).unwrap();
    let start = Instant::now();
    let layout = oci_push::Layout::create(dir).unwrap();
    oci_push::dockerfile::build(
        None,
        context,
        &dockerfile,
        &layout,
        "bench",
        &oci_push::dockerfile::BuildOptions::default(),
    )
    .await
    .unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    std::fs::remove_dir_all(dir).unwrap();
    elapsed
}

/// buildah alone on the checkout: `bud` into a fresh storage, then also `push oci:DIR`;
/// returns (bud, bud + push).
fn buildah_alone(context: &Path, dir: &Path) -> (f64, f64) {
    let store = BuildahStore::new(dir);
    let start = Instant::now();
    store.bud(context, "localhost/bench-app:alone");
    let bud = start.elapsed().as_secs_f64();
    let layout = dir.join("oci");
    run(store
        .command()
        .args(["push", "--quiet", "localhost/bench-app:alone"])
        .arg(format!("oci:{}:alone", layout.display())));
    (bud, start.elapsed().as_secs_f64())
}

/// A buildah vfs storage under a directory of its own, emptied (images removed, directory
/// deleted) when dropped.
struct BuildahStore {
    dir: PathBuf,
}

impl BuildahStore {
    fn new(dir: &Path) -> BuildahStore {
        std::fs::create_dir_all(dir).unwrap();
        BuildahStore {
            dir: dir.to_owned(),
        }
    }

    /// `buildah --root R --runroot RR --storage-driver vfs`.
    fn command(&self) -> Command {
        let mut command = Command::new("buildah");
        command
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("runroot"))
            .args(["--storage-driver", "vfs"]);
        command
    }

    /// `buildah bud --isolation chroot` of `context/Dockerfile` as `name`.
    fn bud(&self, context: &Path, name: &str) {
        run(self
            .command()
            .args("bud --quiet --isolation chroot --layers=false -t".split(' '))
            .arg(name)
            .arg("-f")
            .arg(context.join("Dockerfile"))
            .arg(context)
            .env("BUILDAH_ISOLATION", "chroot"));
    }

    /// The containers-storage reference of `name` in this storage, as skopeo takes it.
    fn reference(&self, name: &str) -> String {
        format!(
            "containers-storage:[vfs@{}+{}]{name}",
            self.dir.join("root").display(),
            self.dir.join("runroot").display()
        )
    }
}

impl Drop for BuildahStore {
    fn drop(&mut self) {
        let removed = self
            .command()
            .args(["rmi", "--all", "--force"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !removed {
            eprintln!("buildah rmi --all failed in {}", self.dir.display());
        }
        if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("removing {}: {error}", self.dir.display());
        }
    }
}

/// `skopeo ARGS REFERENCES...` (`args` split on spaces); its stdout.
fn skopeo(args: &str, references: &[&str]) -> String {
    run(Command::new("skopeo")
        .args(args.split(' '))
        .args(references))
}

/// Runs `command`, returning its stdout; panics with its stderr when it fails.
fn run(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed ({}): {}",
        command,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
