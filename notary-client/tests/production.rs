//! notary-client on notary's production topology (devstack's `ProductionNotary`:
//! notary-server on PostgreSQL, notary-signer over mutual TLS holding the timestamp and
//! snapshot keys): collections by us and by the Go client survive restarts of either process,
//! and a publish during a signer outage fails cleanly and goes through on retry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use devstack::{DEFAULT_PASSPHRASE, NotaryCli, NotaryOptions, ProductionNotary};
use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::metadata::FileMeta;
use notary_client::repository::{Client, InitOptions};
use notary_client::transport::{Security, ServerConfig};

const OURS: &str = "registry.example.com/production/ours";
const GOS: &str = "registry.example.com/production/go";

fn client(notary: &ProductionNotary, trust_dir: &Path) -> Client {
    let config = ServerConfig {
        url: notary.url().to_owned(),
        security: Security::InsecureHttp,
        ..Default::default()
    };
    Client::new(
        trust_dir,
        &config,
        Fixed(Passphrase::new(DEFAULT_PASSPHRASE)),
    )
    .unwrap()
}

fn go_add(go: &NotaryCli, gun: &str, target: &str) -> Result<String, devstack::Error> {
    let file = go.trust_dir().join(format!("{target}.bin"));
    std::fs::write(&file, format!("go target {target}")).unwrap();
    go.run(&["add", gun, target, file.to_str().unwrap(), "-p"])
}

/// What a fresh client of ours (empty trust dir) lists for `gun`, sorted.
async fn fresh_ours_list(notary: &ProductionNotary, gun: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let ours = client(notary, dir.path());
    let mut names: Vec<String> = ours
        .repository(gun)
        .unwrap()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|target| target.name)
        .collect();
    names.sort();
    names
}

/// What a fresh Go client lists for `gun`, sorted.
fn fresh_go_list(notary: &ProductionNotary, gun: &str) -> Vec<String> {
    let go = NotaryCli::new(notary).unwrap();
    let out = go.run(&["list", gun]).unwrap();
    let mut names: Vec<String> = out
        .lines()
        .skip(2)
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// Both fresh clients list every target of both collections.
async fn both_list(notary: &ProductionNotary, ours: &[&str], gos: &[&str], when: &str) {
    for (gun, expected) in [(OURS, ours), (GOS, gos)] {
        assert_eq!(
            fresh_ours_list(notary, gun).await,
            expected,
            "ours, {gun}, {when}"
        );
        assert_eq!(fresh_go_list(notary, gun), expected, "Go, {gun}, {when}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn collections_by_ours_and_by_go_survive_restarts_of_server_and_signer() {
    let began = Instant::now();
    let mut notary = ProductionNotary::start(NotaryOptions::default()).unwrap();
    eprintln!("production topology up in {:?}", began.elapsed());
    let ours_dir = tempfile::tempdir().unwrap();
    let ours = client(&notary, ours_dir.path());
    let repo = ours.repository(OURS).unwrap();
    repo.init(&InitOptions {
        snapshot: notary_client::repository::KeyHolder::Server,
        ..Default::default()
    })
    .await
    .unwrap();
    for tag in ["v1", "v2"] {
        repo.add_target(tag, FileMeta::of_bytes(tag.as_bytes()), &[])
            .unwrap();
    }
    repo.publish().await.unwrap();
    let go = NotaryCli::new(&notary).unwrap();
    go.run(&["init", GOS, "-p"]).unwrap();
    go_add(&go, GOS, "t1").unwrap();
    go_add(&go, GOS, "t2").unwrap();
    both_list(&notary, &["v1", "v2"], &["t1", "t2"], "before any restart").await;
    // Our collection's timestamp and snapshot keys are the signer's.
    let keys = notary
        .postgres()
        .query(
            notary.signer_database(),
            &format!("SELECT role FROM private_keys WHERE gun = '{OURS}' ORDER BY role"),
        )
        .unwrap();
    assert_eq!(keys.lines().collect::<Vec<_>>(), ["snapshot", "timestamp"]);

    notary.server_mut().restart().unwrap();
    both_list(
        &notary,
        &["v1", "v2"],
        &["t1", "t2"],
        "after a server restart",
    )
    .await;

    notary.signer_mut().restart().unwrap();
    both_list(
        &notary,
        &["v1", "v2"],
        &["t1", "t2"],
        "after a signer restart",
    )
    .await;
    // The restarted signer still signs with the keys it keeps in its database.
    repo.add_target("v3", FileMeta::of_bytes(b"v3"), &[])
        .unwrap();
    publish_until_the_signer_answers(&repo).await;
    let first = go_add(&go, GOS, "t3");
    go_until_the_signer_answers(&go, GOS, first);
    both_list(
        &notary,
        &["v1", "v2", "v3"],
        &["t1", "t2", "t3"],
        "after publishing on the restarted signer",
    )
    .await;
}

/// notary-server's gRPC connection to a restarted signer comes back after a reconnect
/// backoff (about a second, growing): a publish retried within that window may still fail.
const RECONNECT: Duration = Duration::from_secs(60);

async fn publish_until_the_signer_answers(repo: &notary_client::repository::Repository<'_>) {
    let deadline = Instant::now() + RECONNECT;
    loop {
        match repo.publish().await {
            Ok(()) => return,
            Err(error) if Instant::now() < deadline => {
                eprintln!("publish not yet through: {error}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => panic!("publish never went through: {error}"),
        }
    }
}

/// Retries `notary publish GUN` (the change stays staged) until it goes through.
fn go_until_the_signer_answers(go: &NotaryCli, gun: &str, first: Result<String, devstack::Error>) {
    let deadline = Instant::now() + RECONNECT;
    let mut outcome = first;
    while let Err(error) = &outcome {
        assert!(
            Instant::now() < deadline,
            "Go publish never went through: {error}"
        );
        eprintln!("Go publish not yet through: {error}");
        std::thread::sleep(Duration::from_millis(500));
        outcome = go.run(&["publish", gun]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_during_a_signer_outage_fails_cleanly_and_succeeds_on_retry() {
    let mut notary = ProductionNotary::start(NotaryOptions::default()).unwrap();
    let ours_dir = tempfile::tempdir().unwrap();
    let ours = client(&notary, ours_dir.path());
    let repo = ours.repository(OURS).unwrap();
    repo.init(&InitOptions {
        snapshot: notary_client::repository::KeyHolder::Server,
        ..Default::default()
    })
    .await
    .unwrap();
    repo.add_target("v1", FileMeta::of_bytes(b"v1"), &[])
        .unwrap();
    repo.publish().await.unwrap();
    let go = NotaryCli::new(&notary).unwrap();
    go.run(&["init", GOS, "-p"]).unwrap();
    go_add(&go, GOS, "t1").unwrap();

    notary.signer_mut().stop();
    repo.add_target("v2", FileMeta::of_bytes(b"v2"), &[])
        .unwrap();
    match repo.publish().await {
        // notary-server reports the signer's gRPC failure (Unavailable) as an invalid update.
        Err(notary_client::Error::Server {
            method,
            status,
            message,
            ..
        }) => {
            assert_eq!((method, status), ("POST", 400), "{message}");
            assert!(message.starts_with("INVALID_UPDATE"), "{message}");
        }
        other => panic!("a publish without a signer must fail, got {other:?}"),
    }
    let staged: Vec<String> = repo
        .status()
        .unwrap()
        .into_iter()
        .map(|change| change.path)
        .collect();
    assert_eq!(staged, ["v2"], "the staged change is kept");
    // The Go client fails the same way and keeps its change too.
    assert!(go_add(&go, GOS, "t2").is_err());
    let go_status = go.run(&["status", GOS]).unwrap();
    assert!(go_status.contains("t2"), "{go_status}");
    // Readers are not affected: the published state is in the database.
    assert_eq!(fresh_ours_list(&notary, OURS).await, ["v1"]);

    notary.signer_mut().restart().unwrap();
    publish_until_the_signer_answers(&repo).await;
    assert!(
        repo.status().unwrap().is_empty(),
        "published changes are cleared"
    );
    let first = go.run(&["publish", GOS]);
    go_until_the_signer_answers(&go, GOS, first);
    assert_eq!(fresh_ours_list(&notary, OURS).await, ["v1", "v2"]);
    assert_eq!(fresh_go_list(&notary, OURS), ["v1", "v2"]);
    assert_eq!(fresh_go_list(&notary, GOS), ["t1", "t2"]);
    assert_eq!(fresh_ours_list(&notary, GOS).await, ["t1", "t2"]);
}
