//! notary-client next to the Go `notary` CLI on the same loopback notary-server:
//!
//! - library publish: init + N tags + publish with the library, against the Go CLI's init, one
//!   `notary addhash` process per tag and publish (the Go CLI needs a process per staged tag;
//!   that is the cost a user of it pays);
//! - CLI publish, like with like: our `trust` CLI's init, one `trust add` process per tag and
//!   publish, against the Go CLI's init, one `notary add` process per tag and publish (both
//!   keep the snapshot key locally, both hash the same file);
//! - verify: `list` of a collection from an empty trust dir;
//! - lookup: one tag of a collection of 10 x N tags, from an empty trust dir.
//!
//! `NOTARY_BENCH_TAGS` sets N (default 200) and `NOTARY_BENCH_ROUNDS` the number of rounds
//! (default 5). Which tool goes first alternates between rounds, so that neither always runs
//! on a warmer (or busier) machine; each row prints the median and the spread (min-max) of
//! both, and the ratio of the medians. The `trust` binary is built (release) by this bench
//! with the cargo that runs it, into the same target directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use benches::env_number;
use benches::rounds::{in_turn, ours_first};
use benches::table::{Ratio, Row, Table};
use devstack::{DEFAULT_PASSPHRASE, NotaryCli, NotaryOptions, NotaryServer};
use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::metadata::FileMeta;
use notary_client::repository::{Client, InitOptions};
use notary_client::transport::{Security, ServerConfig};

fn client(server: &NotaryServer, dir: &Path) -> Client {
    let config = ServerConfig {
        url: server.url().to_owned(),
        security: Security::InsecureHttp,
        ..Default::default()
    };
    Client::new(dir, &config, Fixed(Passphrase::new(DEFAULT_PASSPHRASE))).unwrap()
}

fn digest(i: usize) -> [u8; 32] {
    let mut d = [0u8; 32];
    d[..8].copy_from_slice(&(i as u64).to_be_bytes());
    d
}

async fn ours_publish(server: &NotaryServer, gun: &str, tags: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let c = client(server, dir.path());
    let repo = c.repository(gun).unwrap();
    repo.init(&InitOptions {
        snapshot: notary_client::repository::KeyHolder::Server,
        ..Default::default()
    })
    .await
    .unwrap();
    for i in 0..tags {
        repo.add_target(
            &format!("tag-{i}"),
            FileMeta::from_sha256(digest(i), 1000 + i as u64),
            &[],
        )
        .unwrap();
    }
    repo.publish().await.unwrap();
    start.elapsed()
}

fn go_publish(server: &NotaryServer, gun: &str, tags: usize) -> Duration {
    let go = NotaryCli::new(server).unwrap();
    let start = Instant::now();
    go.run(&["init", gun]).unwrap();
    for i in 0..tags {
        let hex = hex::encode(digest(i));
        go.run(&[
            "addhash",
            gun,
            &format!("tag-{i}"),
            &(1000 + i).to_string(),
            "--sha256",
            &hex,
        ])
        .unwrap();
    }
    go.run(&["publish", gun]).unwrap();
    start.elapsed()
}

/// Our `trust` CLI staging a tag per process, as a shell script driving it would.
fn trust_cli_publish(
    trust: &Path,
    server: &NotaryServer,
    gun: &str,
    tags: usize,
    file: &Path,
) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(trust);
        cmd.arg("-s").arg(server.url()).arg("-d").arg(dir.path());
        for role in ["ROOT", "TARGETS", "SNAPSHOT", "DELEGATION"] {
            cmd.env(format!("NOTARY_{role}_PASSPHRASE"), DEFAULT_PASSPHRASE);
        }
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "trust {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let file = file.to_str().unwrap();
    let start = Instant::now();
    run(&["init", gun]);
    for i in 0..tags {
        run(&["add", gun, &format!("tag-{i}"), file]);
    }
    run(&["publish", gun]);
    start.elapsed()
}

/// The Go CLI doing the same: `notary add` of the same file per tag.
fn go_cli_publish(server: &NotaryServer, gun: &str, tags: usize, file: &Path) -> Duration {
    let go = NotaryCli::new(server).unwrap();
    let file = file.to_str().unwrap();
    let start = Instant::now();
    go.run(&["init", gun]).unwrap();
    for i in 0..tags {
        go.run(&["add", gun, &format!("tag-{i}"), file]).unwrap();
    }
    go.run(&["publish", gun]).unwrap();
    start.elapsed()
}

async fn ours_fresh<F: Future<Output = ()>>(
    f: impl FnOnce(Client) -> F,
    server: &NotaryServer,
) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    f(client(server, dir.path())).await;
    start.elapsed()
}

fn go_fresh(server: &NotaryServer, args: &[&str]) -> Duration {
    let go = NotaryCli::new(server).unwrap();
    let start = Instant::now();
    go.run(args).unwrap();
    start.elapsed()
}

/// Builds the examples crate's `trust` (release, the profile benches run in) with the cargo
/// running this bench and returns its path, next to this bench's `deps/` directory.
fn trust_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "examples",
            "--bin",
            "trust",
        ])
        .status()
        .expect("cannot run cargo to build the trust CLI");
    assert!(
        status.success(),
        "cargo build -p examples --bin trust failed"
    );
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the bench runs from <target>/release/deps");
    let trust = profile_dir.join("trust");
    assert!(trust.exists(), "{} was not built", trust.display());
    trust
}

/// The table: ms per operation, median (min-max) of each side, Go's median over ours.
const TABLE: Table = Table {
    label_width: 38,
    cell_width: 26,
    ratio_width: 9,
    decimals: 1,
    ratio_decimals: 1,
    ratio: Ratio::TheirsOverOurs,
    ratio_suffix: "x",
};

/// Adds one round's (ours, Go) times to `row`, in ms.
fn push_ms(row: &mut Row, (ours, go): (Duration, Duration)) {
    row.push(ours.as_secs_f64() * 1e3, go.as_secs_f64() * 1e3);
}

#[tokio::main]
async fn main() {
    let tags = env_number("NOTARY_BENCH_TAGS", 200usize).max(1);
    let rounds = env_number("NOTARY_BENCH_ROUNDS", 5usize).max(1);
    eprintln!("building the trust CLI ...");
    let trust = trust_binary();
    let server = NotaryServer::start(NotaryOptions::default())
        .expect("notary-server: run ./scripts/test.sh");
    let work = tempfile::tempdir().unwrap();
    let payload = work.path().join("payload");
    std::fs::write(&payload, b"bench payload: every tag names this file").unwrap();

    let big = tags * 10;
    eprintln!("publishing the {big}-tag lookup collection ...");
    ours_publish(&server, "bench.example.com/big", big).await;
    let probe = format!("tag-{}", big / 2);

    let [mut publish, mut cli, mut list, mut lookup]: [Row; 4] = Default::default();
    for round in 0..rounds {
        eprintln!(
            "round {}/{rounds}: {tags} tags with each client ...",
            round + 1
        );
        let gun = |who: &str| format!("bench.example.com/r{round}/{who}");
        let (ours_gun, go_gun) = (gun("ours"), gun("go"));
        push_ms(
            &mut publish,
            in_turn(
                ours_first(round),
                ours_publish(&server, &ours_gun, tags),
                || go_publish(&server, &go_gun, tags),
            )
            .await,
        );
        push_ms(
            &mut cli,
            in_turn(
                ours_first(round),
                async { trust_cli_publish(&trust, &server, &gun("trust-cli"), tags, &payload) },
                || go_cli_publish(&server, &gun("go-cli"), tags, &payload),
            )
            .await,
        );
        let list_go_gun = go_gun.clone();
        push_ms(
            &mut list,
            in_turn(
                ours_first(round),
                ours_fresh(
                    |c| async move {
                        let listed = c.repository(&list_go_gun).unwrap().list().await.unwrap();
                        assert_eq!(listed.len(), tags);
                    },
                    &server,
                ),
                || go_fresh(&server, &["list", &ours_gun]),
            )
            .await,
        );
        let probe_ref = probe.clone();
        push_ms(
            &mut lookup,
            in_turn(
                ours_first(round),
                ours_fresh(
                    |c| async move {
                        c.repository("bench.example.com/big")
                            .unwrap()
                            .lookup(&probe_ref)
                            .await
                            .unwrap();
                    },
                    &server,
                ),
                || go_fresh(&server, &["lookup", "bench.example.com/big", &probe]),
            )
            .await,
        );
    }

    println!();
    println!("median (min-max) of {rounds} round(s), in ms; the ratio is Go's median over ours");
    println!("{}", TABLE.header("operation", "ours", "Go", "Go/ours"));
    TABLE.print(&format!("library: init + {tags} tags + publish"), &publish);
    TABLE.print(&format!("CLI: init + {tags} x add + publish"), &cli);
    TABLE.print(&format!("fresh list of {tags} tags"), &list);
    TABLE.print(&format!("fresh lookup in {big} tags"), &lookup);
}
