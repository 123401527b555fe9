//! oci-push next to `skopeo copy --preserve-digests`, in the same run: push of an image (4
//! layers) from an OCI layout to a fresh loopback docker-registry, and pull of it into a
//! layout. Prints wall time, MiB/s and peak RSS of each (medians over several rounds), the
//! ratios, and two ceilings that bound any client on this machine:
//!
//! - the machine's single-core SHA-256 rate (`openssl speed sha256`), which bounds a
//!   hash-once push;
//! - the registry's own rate, measured with `curl` moving the same blobs in parallel with no
//!   hashing and no verification (`curl -T` into upload sessions, `curl -o` out of the blob
//!   endpoint). docker-registry hashes every byte it receives with a portable Go SHA-256, so
//!   on a small machine the registry and the client share the cores and this is the real
//!   bound of a push.
//!
//! `OCI_BENCH_MIB` sets the image size in MiB (default 1024, i.e. 4 x 256 MiB),
//! `OCI_BENCH_ROUNDS` the number of rounds (default 3; the order of the tools alternates
//! between rounds), `OCI_BENCH_PARALLEL` our client's parallelism and `OCI_BENCH_CHUNK_MIB`
//! chunked uploads of that many MiB (default: the library's defaults, monolithic uploads).
//! E.g. `OCI_BENCH_MIB=64 OCI_BENCH_ROUNDS=1 cargo bench -p benches --bench oci` for a quick
//! run. Each side runs in a child process whose peak RSS (`VmHWM`) is sampled from `/proc`;
//! `sync` runs before each measurement so that one run's disk writeback does not land on the
//! next.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use benches::env_number;
use benches::noise::Noise;
use benches::process::{cpu_seconds, peak_rss_kib, sync};
use benches::rounds::turn_order;
use benches::stats::middle_by_key;
use devstack::{Registry, RegistryOptions};
use oci_push::{
    Client, ClientOptions, Descriptor, ImageRef, Layout, PullOptions, PushOptions, Security,
};

const ROLE: &str = "OCI_BENCH_ROLE";
const REPOSITORY: &str = "bench/image";

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        child(&role);
        return;
    }
    let mib = env_number("OCI_BENCH_MIB", 1024u64);
    let rounds = env_number("OCI_BENCH_ROUNDS", 3usize).max(1);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    eprintln!("generating a {mib} MiB image (4 layers) ...");
    let blobs = make_layout(&src, mib);
    let bytes = mib * 1024 * 1024;
    let exe = std::env::current_exe().unwrap();

    // Runs of (push, pull) for each tool.
    let mut runs: [(Vec<Measured>, Vec<Measured>); 3] = Default::default();
    for round in 0..rounds {
        eprintln!("round {}/{rounds} ...", round + 1);
        let ours_registry = Registry::start(RegistryOptions::default()).unwrap();
        let skopeo_registry = Registry::start(RegistryOptions::default()).unwrap();
        let curl_registry = Registry::start(RegistryOptions::default()).unwrap();
        let ours_ref = format!("{}/{REPOSITORY}:v1", ours_registry.host());
        let skopeo_ref = format!("{}/{REPOSITORY}:v1", skopeo_registry.host());
        let out = work.path().join(format!("round-{round}"));
        std::fs::create_dir_all(&out).unwrap();

        let ours =
            |role: &str, from: &dyn AsRef<std::ffi::OsStr>, to: &dyn AsRef<std::ffi::OsStr>| {
                measure(
                    Command::new(&exe).env(ROLE, role).arg(from).arg(to),
                    &ours_registry,
                )
            };
        let skopeo = |tls_flag: &str, from: String, to: String| {
            measure(
                Command::new("skopeo").args([
                    "copy",
                    "--quiet",
                    "--preserve-digests",
                    tls_flag,
                    &from,
                    &to,
                ]),
                &skopeo_registry,
            )
        };
        let push_ours = || ours("push", &src, &ours_ref);
        let push_skopeo = || {
            skopeo(
                "--dest-tls-verify=false",
                format!("oci:{}:v1", src.display()),
                format!("docker://{skopeo_ref}"),
            )
        };
        let push_curl = || measure(&mut curl_upload(&curl_registry, &blobs), &curl_registry);
        let pull_ours = || ours("pull", &ours_ref, &out.join("ours"));
        let pull_skopeo = || {
            skopeo(
                "--src-tls-verify=false",
                format!("docker://{skopeo_ref}"),
                format!("oci:{}:v1", out.join("skopeo").display()),
            )
        };
        let pull_curl = || {
            measure(
                &mut curl_download(&curl_registry, &blobs, &out.join("curl")),
                &curl_registry,
            )
        };
        // Alternate the order so that neither tool always runs on a warmer machine: ours,
        // skopeo, curl in even rounds, the reverse in odd ones; all pushes before the pulls.
        let pushes: [&dyn Fn() -> Measured; 3] = [&push_ours, &push_skopeo, &push_curl];
        let pulls: [&dyn Fn() -> Measured; 3] = [&pull_ours, &pull_skopeo, &pull_curl];
        for i in turn_order::<3>(round) {
            runs[i].0.push(pushes[i]());
        }
        for i in turn_order::<3>(round) {
            runs[i].1.push(pulls[i]());
        }
        std::fs::remove_dir_all(&out).unwrap();
    }

    let sha = sha256_rate();
    let [
        ours_push,
        ours_pull,
        skopeo_push,
        skopeo_pull,
        curl_push,
        curl_pull,
    ] = {
        let [ours, skopeo, curl] = runs;
        [ours.0, ours.1, skopeo.0, skopeo.1, curl.0, curl.1].map(median)
    };
    let mibs = |d: Duration| bytes as f64 / 1048576.0 / d.as_secs_f64();
    println!();
    println!(
        "oci-push vs skopeo copy --preserve-digests, {mib} MiB image (4 layers), loopback docker-registry, median of {rounds} round(s)"
    );
    println!(
        "{:<6} {:<18} {:>8} {:>9} {:>13} {:>13} {:>14}",
        "op", "tool", "wall s", "MiB/s", "peak RSS MiB", "client CPU s", "registry CPU s"
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (op, ours, skopeo, ceiling) in [
        ("push", &ours_push, &skopeo_push, &curl_push),
        ("pull", &ours_pull, &skopeo_pull, &curl_pull),
    ] {
        for (tool, m) in [
            ("oci-push", ours),
            ("skopeo", skopeo),
            ("curl, no hashing", ceiling),
        ] {
            let rss = if tool == "curl, no hashing" {
                "-".to_owned()
            } else {
                format!("{:.1}", m.peak_rss_kib as f64 / 1024.0)
            };
            println!(
                "{op:<6} {tool:<18} {:>8.2} {:>9.1} {rss:>13} {:>13.2} {:>14.2}",
                m.wall.as_secs_f64(),
                mibs(m.wall),
                m.cpu_s,
                m.registry_cpu_s,
            );
        }
        println!(
            "{op:<6} ratio    throughput ours/skopeo = {:.2}x (the registry's ceiling, curl/skopeo = {:.2}x), peak RSS ours/skopeo = {:.2}",
            skopeo.wall.as_secs_f64() / ours.wall.as_secs_f64(),
            skopeo.wall.as_secs_f64() / ceiling.wall.as_secs_f64(),
            ours.peak_rss_kib as f64 / skopeo.peak_rss_kib.max(1) as f64
        );
        println!(
            "{op:<6} ours reaches {:.0}% of the registry's ceiling; client + registry used {:.0}% of the {cores} cores during ours",
            100.0 * ceiling.wall.as_secs_f64() / ours.wall.as_secs_f64(),
            100.0 * (ours.cpu_s + ours.registry_cpu_s) / (cores as f64 * ours.wall.as_secs_f64()),
        );
    }
    match sha {
        Some(rate) => println!(
            "single-core SHA-256 (openssl speed sha256, 16 KiB blocks): {:.1} MiB/s; ours push reaches {:.0}% of it",
            rate,
            100.0 * mibs(ours_push.wall) / rate
        ),
        None => println!("single-core SHA-256: openssl speed unavailable"),
    }
}

/// The median run (by wall time), with the largest peak RSS seen in any run.
fn median(runs: Vec<Measured>) -> Measured {
    let peak_rss_kib = runs.iter().map(|m| m.peak_rss_kib).max().unwrap_or(0);
    let middle = middle_by_key(runs, |m| m.wall).expect("at least one round");
    Measured {
        peak_rss_kib,
        ..middle
    }
}

/// A blob of the bench image: its digest and its file in the layout.
struct Blob {
    digest: String,
    path: PathBuf,
}

/// A shell command uploading every blob with its own `curl` (POST a session, `PUT -T` the
/// file with the digest), all at once, and failing if any upload fails.
fn curl_upload(registry: &Registry, blobs: &[Blob]) -> Command {
    let mut script = String::from("set -eu\npids=''\n");
    for blob in blobs {
        script.push_str(&format!(
            "( loc=$(curl -sSf -o /dev/null -D - -X POST '{url}/v2/{REPOSITORY}/blobs/uploads/' \
               | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p')
              case $loc in http*) ;; *) loc='{url}'$loc ;; esac
              curl -sSf -o /dev/null -T '{path}' -H 'content-type: application/octet-stream' \
                \"$loc&digest={digest}\" ) &\npids=\"$pids $!\"\n",
            url = registry.url(),
            path = blob.path.display(),
            digest = blob.digest,
        ));
    }
    script.push_str("for p in $pids; do wait $p; done\n");
    let mut command = Command::new("sh");
    command.arg("-c").arg(script);
    command
}

/// A shell command downloading every blob with its own `curl -o`, all at once.
fn curl_download(registry: &Registry, blobs: &[Blob], dir: &Path) -> Command {
    std::fs::create_dir_all(dir).unwrap();
    let mut script = String::from("set -eu\npids=''\n");
    for (i, blob) in blobs.iter().enumerate() {
        script.push_str(&format!(
            "curl -sSf -o '{out}' '{url}/v2/{REPOSITORY}/blobs/{digest}' &\npids=\"$pids $!\"\n",
            out = dir.join(format!("blob-{i}")).display(),
            url = registry.url(),
            digest = blob.digest,
        ));
    }
    script.push_str("for p in $pids; do wait $p; done\n");
    let mut command = Command::new("sh");
    command.arg("-c").arg(script);
    command
}

struct Measured {
    wall: Duration,
    peak_rss_kib: u64,
    /// CPU seconds of the client (its children included).
    cpu_s: f64,
    /// CPU seconds the registry spent while the client ran.
    registry_cpu_s: f64,
}

/// Runs a command after `sync`, sampling its `VmHWM` and CPU time until it exits, and
/// reading the CPU time `registry` spent meanwhile.
fn measure(command: &mut Command, registry: &Registry) -> Measured {
    sync().unwrap();
    let registry_pid = registry.pid().unwrap();
    let registry_before = cpu_seconds(registry_pid, false).unwrap();
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut peak = 0;
    let mut cpu = 0.0f64;
    let status = loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(seconds) = cpu_seconds(child.id(), true) {
            cpu = cpu.max(seconds);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = start.elapsed();
    assert!(status.success(), "{command:?} failed: {status}");
    Measured {
        wall,
        peak_rss_kib: peak,
        cpu_s: cpu,
        registry_cpu_s: cpu_seconds(registry_pid, false).unwrap() - registry_before,
    }
}

/// The child side: one push or pull with oci-push.
fn child(role: &str) {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let defaults = ClientOptions::default();
    let client = Client::new(ClientOptions {
        security: Security::InsecureHttp,
        parallelism: std::env::var("OCI_BENCH_PARALLEL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(defaults.parallelism),
        upload: match std::env::var("OCI_BENCH_CHUNK_MIB")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            Some(mib) => oci_push::UploadMode::Chunked {
                chunk_size: mib << 20,
            },
            None => defaults.upload,
        },
        ..defaults
    })
    .unwrap();
    runtime.block_on(async {
        match role {
            "push" => {
                let layout = Layout::open(&args[0]).unwrap();
                let target = ImageRef::parse(&args[1]).unwrap();
                client
                    .push_layout(&layout, Some("v1"), &target, &PushOptions::default())
                    .await
                    .unwrap();
            }
            "pull" => {
                let image = ImageRef::parse(&args[0]).unwrap();
                let layout = Layout::create(&args[1]).unwrap();
                client
                    .pull(&image, &layout, "v1", &PullOptions::default())
                    .await
                    .unwrap();
            }
            other => panic!("unknown role {other}"),
        }
    });
}

/// A layout with 4 layers of `mib / 4` MiB of incompressible bytes, written in 1 MiB steps.
fn make_layout(dir: &Path, mib: u64) -> Vec<Blob> {
    let layout = Layout::create(dir).unwrap();
    let layer_bytes = (mib * 1024 * 1024 / 4).max(1);
    let mut layers = Vec::new();
    for i in 0..4u64 {
        let data = Noise::new(i + 1, layer_bytes);
        let d = layout
            .write_blob("application/vnd.oci.image.layer.v1.tar", data)
            .unwrap();
        layers.push(serde_json::json!({
            "mediaType": d.media_type, "digest": d.digest.as_str(), "size": d.size,
        }));
    }
    let diff_ids: Vec<_> = layers.iter().map(|l| l["digest"].clone()).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = layout
        .write_document(
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        )
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config.media_type, "digest": config.digest.as_str(), "size": config.size},
        "layers": layers,
    });
    let manifest: Descriptor = layout
        .write_document(
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().as_bytes(),
        )
        .unwrap();
    layout.set_tag("v1", &manifest).unwrap();
    std::iter::once(config.digest.to_string())
        .chain(
            layers
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_owned()),
        )
        .map(|digest| Blob {
            path: dir
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
            digest,
        })
        .collect()
}

/// MiB/s of `openssl speed sha256` at 16 KiB blocks, one core.
fn sha256_rate() -> Option<f64> {
    let text = benches::openssl_speed(1, &["sha256"]).ok()?;
    let line = text.lines().find(|l| l.starts_with("sha256"))?;
    let last: f64 = line
        .split_whitespace()
        .last()?
        .trim_end_matches('k')
        .parse()
        .ok()?;
    // openssl prints thousands of bytes per second.
    Some(last * 1000.0 / 1048576.0)
}
