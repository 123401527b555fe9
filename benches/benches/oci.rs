//! oci-push next to `skopeo copy --preserve-digests`, in the same run: push of an image (4
//! layers) from an OCI layout to a fresh loopback docker-registry, and pull of it into a
//! layout. Prints wall time, MiB/s and peak RSS of each, the ratios, and the machine's
//! single-core SHA-256 rate (`openssl speed sha256`), which bounds a hash-once push.
//!
//! `OCI_BENCH_MIB` sets the image size in MiB (default 1024, i.e. 4 x 256 MiB); e.g.
//! `OCI_BENCH_MIB=64 cargo bench -p benches --bench oci` for a quick run. Each side runs
//! in a child process whose peak RSS (`VmHWM`) is sampled from `/proc`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use devstack::{Registry, RegistryOptions};
use oci_push::{Client, ClientOptions, Descriptor, ImageRef, Layout, PushOptions, Transport};

const ROLE: &str = "OCI_BENCH_ROLE";

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        child(&role);
        return;
    }
    let mib: u64 = std::env::var("OCI_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    eprintln!("generating a {mib} MiB image (4 layers) ...");
    make_layout(&src, mib);
    let bytes = mib * 1024 * 1024;

    let ours_registry = Registry::start(RegistryOptions::default()).unwrap();
    let skopeo_registry = Registry::start(RegistryOptions::default()).unwrap();
    let ours_ref = format!("{}/bench/image:v1", ours_registry.host());
    let skopeo_ref = format!("{}/bench/image:v1", skopeo_registry.host());
    let exe = std::env::current_exe().unwrap();

    let ours_push = measure(
        Command::new(&exe)
            .env(ROLE, "push")
            .arg(&src)
            .arg(&ours_ref),
    );
    let skopeo_push = measure(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:v1", src.display()),
        &format!("docker://{skopeo_ref}"),
    ]));
    let ours_out = work.path().join("ours-pulled");
    let ours_pull = measure(
        Command::new(&exe)
            .env(ROLE, "pull")
            .arg(&ours_ref)
            .arg(&ours_out),
    );
    let skopeo_out = work.path().join("skopeo-pulled");
    let skopeo_pull = measure(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--preserve-digests",
        "--src-tls-verify=false",
        &format!("docker://{skopeo_ref}"),
        &format!("oci:{}:v1", skopeo_out.display()),
    ]));

    let sha = sha256_rate();
    let mibs = |d: Duration| bytes as f64 / 1048576.0 / d.as_secs_f64();
    println!();
    println!(
        "oci-push vs skopeo copy --preserve-digests, {mib} MiB image (4 layers), loopback docker-registry"
    );
    println!(
        "{:<6} {:<8} {:>9} {:>10} {:>12}",
        "op", "tool", "wall s", "MiB/s", "peak RSS MiB"
    );
    for (op, ours, skopeo) in [
        ("push", &ours_push, &skopeo_push),
        ("pull", &ours_pull, &skopeo_pull),
    ] {
        for (tool, m) in [("oci-push", ours), ("skopeo", skopeo)] {
            println!(
                "{op:<6} {tool:<8} {:>9.2} {:>10.1} {:>12.1}",
                m.wall.as_secs_f64(),
                mibs(m.wall),
                m.peak_rss_kib as f64 / 1024.0
            );
        }
        println!(
            "{op:<6} ratio    throughput ours/skopeo = {:.2}x, peak RSS ours/skopeo = {:.2}",
            skopeo.wall.as_secs_f64() / ours.wall.as_secs_f64(),
            ours.peak_rss_kib as f64 / skopeo.peak_rss_kib.max(1) as f64
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

struct Measured {
    wall: Duration,
    peak_rss_kib: u64,
}

/// Runs a command, sampling its `VmHWM` until it exits.
fn measure(command: &mut Command) -> Measured {
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = std::fs::read_to_string(&status_path)
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .map(str::to_owned)
            })
            .and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok())
            })
        {
            peak = peak.max(kib);
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
    let client = Client::new(ClientOptions {
        transport: Transport::InsecureHttp,
        ..ClientOptions::default()
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
                    .pull(&image, &layout, "v1", &PushOptions::default())
                    .await
                    .unwrap();
            }
            other => panic!("unknown role {other}"),
        }
    });
}

/// A layout with 4 layers of `mib / 4` MiB of incompressible bytes, written in 1 MiB steps.
fn make_layout(dir: &Path, mib: u64) {
    let layout = Layout::create(dir).unwrap();
    let layer_bytes = (mib * 1024 * 1024 / 4).max(1);
    let mut layers = Vec::new();
    for i in 0..4u64 {
        let data = Noise {
            state: 0x243f_6a88_85a3_08d3 ^ (i + 1),
            left: layer_bytes,
        };
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
}

/// `left` incompressible pseudo-random bytes (xorshift).
struct Noise {
    state: u64,
    left: u64,
}

impl std::io::Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left as usize);
        for word in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            word.copy_from_slice(&self.state.to_le_bytes()[..word.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
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
