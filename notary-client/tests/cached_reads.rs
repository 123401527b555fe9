//! A collection in the trust dir's cache that the server does not have (any more): `list` and
//! `lookup` read the cached, verified, unexpired metadata with a warning, as the Go `notary`
//! client does; against the real notary-server and the Go client in the same situation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use devstack::{DEFAULT_PASSPHRASE, NotaryCli, NotaryOptions, NotaryServer};
use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::Error;
use notary_client::metadata::FileMeta;
use notary_client::repository::{Client, InitOptions};
use notary_client::transport::{Security, ServerConfig};

fn client(url: &str, trust_dir: &Path) -> Client {
    let config = ServerConfig {
        url: url.to_owned(),
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

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collection_gone_from_the_server_is_read_from_the_cache_like_go() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let gun = "registry.example.com/cached/app";
    let ours_dir = tempfile::tempdir().unwrap();
    let ours = client(server.url(), ours_dir.path());
    let repo = ours.repository(gun).unwrap();
    repo.init(&InitOptions::default()).await.unwrap();
    repo.add_target("v1", FileMeta::of_bytes(b"v1 bytes"), &[])
        .unwrap();
    repo.publish().await.unwrap();
    assert_eq!(repo.list().await.unwrap().len(), 1);

    // A copy of the trust dir for the Go client (the same layout), then the collection is
    // deleted on the server by another trust dir.
    let go_dir = tempfile::tempdir().unwrap();
    copy_dir(ours_dir.path(), go_dir.path());
    let go = NotaryCli::with_trust_dir(&server, go_dir.path()).unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    client(server.url(), other_dir.path())
        .repository(gun)
        .unwrap()
        .delete_remote()
        .await
        .unwrap();
    assert!(matches!(
        client(server.url(), tempfile::tempdir().unwrap().path())
            .repository(gun)
            .unwrap()
            .list()
            .await,
        Err(Error::NotPublished { .. })
    ));

    // Ours: the cached targets, with a warning that they may not be the latest.
    let listed = repo.list().await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["v1"]
    );
    assert_eq!(repo.lookup("v1").await.unwrap().length, 8);
    let state = repo.read_state().await.unwrap();
    let warning = state.from_cache.expect("a warning");
    assert!(
        warning.contains("might not be the latest") && warning.contains(gun),
        "{warning}"
    );
    // Writes still see that the server has nothing: update() does not fall back.
    assert!(matches!(
        repo.update().await,
        Err(Error::NotPublished { .. })
    ));

    // Go in the same situation: the same target on stdout, a warning on stderr.
    let output = go.command(&["list", gun]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.lines().any(|l| l.starts_with("v1 ")), "{stdout}");
    assert!(stderr.contains("might not be the latest"), "{stderr}");

    // Every check still applies to the cache: a tampered cached targets file is refused.
    let targets = ours_dir
        .path()
        .join("tuf")
        .join(gun)
        .join("metadata/targets.json");
    let good = std::fs::read(&targets).unwrap();
    let mut bad = good.clone();
    let at = bad.len() / 2;
    bad[at] ^= 1;
    std::fs::write(&targets, &bad).unwrap();
    let err = repo.list().await.unwrap_err();
    assert!(
        matches!(err, Error::CorruptCache { ref role, .. } if role == "targets"),
        "{err}"
    );
    std::fs::write(&targets, &good).unwrap();

    // A server that never had it (or is down): the same cached answer.
    let fresh = NotaryServer::start(NotaryOptions::default()).unwrap();
    let on_fresh = client(fresh.url(), ours_dir.path());
    let state = on_fresh
        .repository(gun)
        .unwrap()
        .read_state()
        .await
        .unwrap();
    assert!(state.from_cache.is_some());
    assert!(
        state
            .role("targets")
            .unwrap()
            .file
            .signed
            .targets
            .contains_key("v1")
    );
    drop(fresh);
    let down = client("http://127.0.0.1:9", ours_dir.path());
    assert_eq!(down.repository(gun).unwrap().list().await.unwrap().len(), 1);
    // Without a cache, no fallback: the server's answer stands, its cause kept as source.
    let empty = tempfile::tempdir().unwrap();
    let err = client("http://127.0.0.1:9", empty.path())
        .repository(gun)
        .unwrap()
        .list()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    let mut cause: &dyn std::error::Error = std::error::Error::source(&err).expect("a cause");
    while let Some(next) = cause.source() {
        cause = next;
    }
    let cause = cause.to_string();
    // The cached read's warning names the cause, not just the URL.
    let warning = down
        .repository(gun)
        .unwrap()
        .read_state()
        .await
        .unwrap()
        .from_cache
        .expect("a warning");
    assert!(
        warning.contains("cannot reach") && warning.contains(&cause),
        "{warning} lacks {cause}"
    );
}
