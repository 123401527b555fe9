//! notary-client next to the Go `notary` CLI on the same loopback notary-server:
//!
//! - publish: init + N tags + publish (N = `NOTARY_BENCH_TAGS`, default 1000);
//! - verify: `list` of that collection from an empty trust dir;
//! - lookup: one tag of a collection of 10 x N tags, from an empty trust dir.
//!
//! The Go CLI needs a process per staged tag; that is the cost a user of it pays.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use devstack::{DEFAULT_PASSPHRASE, NotaryCli, NotaryOptions, NotaryServer};
use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::metadata::FileMeta;
use notary_client::repository::{Client, InitOptions};
use notary_client::transport::{Security, ServerConfig};

fn client(server: &NotaryServer, dir: &std::path::Path) -> Client {
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
        server_managed_snapshot: true,
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

async fn ours_fresh<F: std::future::Future<Output = ()>>(
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

fn row(what: &str, ours: Duration, go: Duration) {
    println!(
        "{what:<34} {:>12.1} {:>12.1} {:>9.1}x",
        ours.as_secs_f64() * 1e3,
        go.as_secs_f64() * 1e3,
        go.as_secs_f64() / ours.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let tags: usize = std::env::var("NOTARY_BENCH_TAGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let server = NotaryServer::start(NotaryOptions::default())
        .expect("notary-server: run ./scripts/test.sh");
    println!("publishing {tags} tags with each client (the Go CLI runs one process per tag)...");
    let ours_pub = ours_publish(&server, "bench.example.com/ours", tags).await;
    let go_pub = go_publish(&server, "bench.example.com/go", tags);

    let ours_list = ours_fresh(
        |c| async move {
            assert_eq!(
                c.repository("bench.example.com/go")
                    .unwrap()
                    .list()
                    .await
                    .unwrap()
                    .len(),
                tags
            );
        },
        &server,
    )
    .await;
    let go_list = go_fresh(&server, &["list", "bench.example.com/ours"]);

    let big = tags * 10;
    ours_publish(&server, "bench.example.com/big", big).await;
    let probe = format!("tag-{}", big / 2);
    let probe_ref = probe.clone();
    let ours_lookup = ours_fresh(
        |c| async move {
            c.repository("bench.example.com/big")
                .unwrap()
                .lookup(&probe_ref)
                .await
                .unwrap();
        },
        &server,
    )
    .await;
    let go_lookup = go_fresh(&server, &["lookup", "bench.example.com/big", &probe]);

    println!();
    println!(
        "{:<34} {:>12} {:>12} {:>10}",
        "operation", "ours (ms)", "Go (ms)", "speed-up"
    );
    row(&format!("init + {tags} tags + publish"), ours_pub, go_pub);
    row(&format!("fresh list of {tags} tags"), ours_list, go_list);
    row(
        &format!("fresh lookup in {big} tags"),
        ours_lookup,
        go_lookup,
    );
}
