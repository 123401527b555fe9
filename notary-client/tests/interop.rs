//! notary-client against the real notary-server and the Go `notary` client, both directions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use devstack::{DEFAULT_PASSPHRASE, NotaryCli, NotaryOptions, NotaryServer};
use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::metadata::FileMeta;
use notary_client::repository::{Client, InitOptions, KeyHolder, KeyRotation, Repository};
use notary_client::transport::{Security, ServerConfig};
use sha2::Digest as _;
use std::path::Path;

#[path = "interop/transport.rs"]
mod transport;

fn config(server: &NotaryServer) -> ServerConfig {
    ServerConfig {
        url: server.url().to_owned(),
        security: Security::InsecureHttp,
        ..Default::default()
    }
}

fn client(server: &NotaryServer, trust_dir: &Path) -> Client {
    Client::new(
        trust_dir,
        &config(server),
        Fixed(Passphrase::new(DEFAULT_PASSPHRASE)),
    )
    .unwrap()
}

/// A new collection `gun` (initialised, keys in the client's trust dir) with target `v1`
/// staged, not yet published.
async fn created_with_v1<'a>(client: &'a Client, gun: &str) -> Repository<'a> {
    let repo = client.repository(gun).unwrap();
    repo.init(&InitOptions::default()).await.unwrap();
    repo.add_target("v1", FileMeta::of_bytes(b"v1"), &[])
        .unwrap();
    repo
}

fn write_file(dir: &Path, name: &str, contents: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Parses `notary list` output into (name, hex digest, size, role) rows.
fn go_list(cli: &NotaryCli, gun: &str) -> Vec<(String, String, u64, String)> {
    let out = cli.run(&["list", gun]).unwrap();
    out.lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (
                cols[0].to_owned(),
                cols[1].to_owned(),
                cols[2].parse().unwrap(),
                cols[3].to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn go_publishes_and_we_verify_list_and_lookup() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let go = NotaryCli::new(&server).unwrap();
    let gun = "registry.example.com/go/app";
    let scratch = tempfile::tempdir().unwrap();
    go.run(&["init", gun, "-p"]).unwrap();
    for (tag, body) in [("v1", &b"first"[..]), ("v2", b"second release")] {
        let f = write_file(scratch.path(), tag, body);
        go.run(&["add", gun, tag, &f, "-p"]).unwrap();
    }

    let ours_dir = tempfile::tempdir().unwrap();
    let ours = client(&server, ours_dir.path());
    let repo = ours.repository(gun).unwrap();
    let listed = repo.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    let v2 = repo.lookup("v2").await.unwrap();
    assert_eq!(
        v2.sha256.unwrap().as_slice(),
        sha2::Sha256::digest(b"second release").as_slice()
    );
    assert_eq!((v2.length, v2.role.as_str()), (14, "targets"));
    assert!(matches!(
        repo.lookup("v3").await,
        Err(notary_client::Error::TargetNotFound { .. })
    ));
    // The verified files are cached where the Go client keeps them.
    assert!(
        ours_dir
            .path()
            .join("tuf")
            .join(gun)
            .join("metadata/timestamp.json")
            .is_file()
    );
}

async fn ours_publish_go_verifies(snapshot: KeyHolder) {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let gun = match snapshot {
        KeyHolder::Server => "registry.example.com/ours/server-snap",
        KeyHolder::Local => "registry.example.com/ours/local-snap",
    };
    let ours_dir = tempfile::tempdir().unwrap();
    let ours = client(&server, ours_dir.path());
    let repo = ours.repository(gun).unwrap();
    repo.init(&InitOptions {
        snapshot,
        ..Default::default()
    })
    .await
    .unwrap();
    repo.add_target("v1", FileMeta::of_bytes(b"hello v1"), &[])
        .unwrap();
    // A docker-style target: sha256 and length only.
    let digest: [u8; 32] = sha2::Sha256::digest(b"{\"manifest\":1}").into();
    repo.add_target("latest", FileMeta::from_sha256(digest, 14), &[])
        .unwrap();
    repo.publish().await.unwrap();
    assert!(
        repo.status().unwrap().is_empty(),
        "published changes are cleared"
    );

    // Second publish on top of the first (versions move on; the snapshot is re-signed).
    repo.add_target("v2", FileMeta::of_bytes(b"hello v2"), &[])
        .unwrap();
    repo.remove_target("v1", &[]).unwrap();
    repo.publish().await.unwrap();

    let go = NotaryCli::new(&server).unwrap();
    let rows = go_list(&go, gun);
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["latest", "v2"], "{rows:?}");
    let latest = rows.iter().find(|r| r.0 == "latest").unwrap();
    assert_eq!(latest.1, hex::encode(digest));
    assert_eq!(latest.2, 14);
    let lookup = go.run(&["lookup", gun, "v2"]).unwrap();
    assert!(
        lookup.contains(&hex::encode(sha2::Sha256::digest(b"hello v2"))),
        "{lookup}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn we_publish_with_local_snapshot_and_go_verifies() {
    ours_publish_go_verifies(KeyHolder::Local).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn we_publish_with_server_managed_snapshot_and_go_verifies() {
    ours_publish_go_verifies(KeyHolder::Server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn go_and_we_take_turns_on_one_collection() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let gun = "registry.example.com/mixed/app";
    let scratch = tempfile::tempdir().unwrap();

    // Ours creates; the Go client, sharing the trust dir (and so our key files), adds to it.
    let shared = tempfile::tempdir().unwrap();
    let ours = client(&server, shared.path());
    let repo = ours.repository(gun).unwrap();
    repo.init(&InitOptions::default()).await.unwrap();
    repo.add_target("ours-1", FileMeta::of_bytes(b"ours one"), &[])
        .unwrap();
    repo.publish().await.unwrap();
    let go = NotaryCli::with_trust_dir(&server, shared.path()).unwrap();
    let f = write_file(scratch.path(), "go-1", b"go one");
    go.run(&["add", gun, "go-1", &f, "-p"]).unwrap();

    // Ours follows and adds again; Go stages a change in our changelist format and we publish it.
    repo.add_target("ours-2", FileMeta::of_bytes(b"ours two"), &[])
        .unwrap();
    repo.publish().await.unwrap();
    let f = write_file(scratch.path(), "go-2", b"go two");
    go.run(&["add", gun, "go-2", &f]).unwrap();
    assert_eq!(
        repo.status().unwrap().len(),
        1,
        "Go's staged change is read by us"
    );
    repo.publish().await.unwrap();

    let fresh = NotaryCli::new(&server).unwrap();
    let names: Vec<String> = go_list(&fresh, gun).into_iter().map(|r| r.0).collect();
    assert_eq!(names, ["go-1", "go-2", "ours-1", "ours-2"]);
    let fresh_ours = tempfile::tempdir().unwrap();
    let listed = client(&server, fresh_ours.path())
        .repository(gun)
        .unwrap()
        .list()
        .await
        .unwrap();
    assert_eq!(listed.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn staged_changes_survive_a_dead_server_and_publish_once() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let gun = "registry.example.com/outage/app";
    let dir = tempfile::tempdir().unwrap();
    let repo_client = client(&server, dir.path());
    let repo = created_with_v1(&repo_client, gun).await;

    // The same trust dir pointed at a port where nothing listens.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = ServerConfig {
        url: format!("http://127.0.0.1:{dead_port}"),
        security: Security::InsecureHttp,
        ..Default::default()
    };
    let offline = Client::new(
        dir.path(),
        &dead,
        Fixed(Passphrase::new(DEFAULT_PASSPHRASE)),
    )
    .unwrap();
    let err = offline
        .repository(gun)
        .unwrap()
        .publish()
        .await
        .unwrap_err();
    assert!(
        matches!(err, notary_client::Error::Unreachable { .. }),
        "{err}"
    );
    assert_eq!(repo.status().unwrap().len(), 1, "the staged change is kept");

    repo.publish().await.unwrap();
    assert!(repo.status().unwrap().is_empty());
    let go = NotaryCli::new(&server).unwrap();
    assert_eq!(go_list(&go, gun).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn go_made_releases_delegation_is_followed_in_dockers_order() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let go = NotaryCli::new(&server).unwrap();
    let gun = "registry.example.com/go/delegated";
    let scratch = tempfile::tempdir().unwrap();
    let (key, cert) =
        devstack::openssl::ec_key_and_certificate(scratch.path(), "releases").unwrap();
    go.run(&["init", gun, "-p"]).unwrap();
    go.run(&[
        "key",
        "import",
        key.to_str().unwrap(),
        "--role",
        "targets/releases",
    ])
    .unwrap();
    go.run(&[
        "delegation",
        "add",
        gun,
        "targets/releases",
        cert.to_str().unwrap(),
        "--all-paths",
        "-p",
    ])
    .unwrap();
    let same = write_file(scratch.path(), "same", b"in targets");
    go.run(&["add", gun, "both", &same, "-p"]).unwrap();
    let released = write_file(scratch.path(), "released", b"in releases");
    go.run(&[
        "add",
        gun,
        "both",
        &released,
        "--roles",
        "targets/releases",
        "-p",
    ])
    .unwrap();
    go.run(&[
        "add",
        gun,
        "only-releases",
        &released,
        "--roles",
        "targets/releases",
        "-p",
    ])
    .unwrap();

    let ours_dir = tempfile::tempdir().unwrap();
    let repo_client = client(&server, ours_dir.path());
    let repo = repo_client.repository(gun).unwrap();
    let both = repo.lookup("both").await.unwrap();
    assert_eq!(
        both.role, "targets/releases",
        "targets/releases wins, as in docker"
    );
    assert_eq!(
        both.sha256.unwrap().as_slice(),
        sha2::Sha256::digest(b"in releases").as_slice()
    );
    let listed = repo.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|t| t.role == "targets/releases"));
}

#[tokio::test(flavor = "multi_thread")]
async fn our_delegations_are_verified_by_go_and_inspected_like_docker() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let gun = "registry.example.com/ours/delegated";
    let dir = tempfile::tempdir().unwrap();
    let ours = client(&server, dir.path());
    let repo = ours.repository(gun).unwrap();
    repo.init(&InitOptions {
        snapshot: KeyHolder::Server,
        ..Default::default()
    })
    .await
    .unwrap();
    repo.publish().await.unwrap();

    // What `docker trust signer add alice` sets up, and a docker-style signature into both roles.
    let alice = keymgmt::PrivateKey::generate_ecdsa();
    let pass = Fixed(Passphrase::new(DEFAULT_PASSPHRASE));
    ours.keystore().add(&alice, "alice", None, &pass).unwrap();
    for role in ["targets/releases", "targets/alice"] {
        repo.add_delegation(role, &[alice.public_key()], &[String::new()])
            .unwrap();
    }
    let digest: [u8; 32] = sha2::Sha256::digest(b"manifest v1").into();
    let roles = vec!["targets/releases".to_owned(), "targets/alice".to_owned()];
    repo.add_target("v1", FileMeta::from_sha256(digest, 11), &roles)
        .unwrap();
    repo.publish().await.unwrap();

    let go = NotaryCli::new(&server).unwrap();
    let rows = go_list(&go, gun);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].3.as_str()),
        ("v1", "targets/releases")
    );
    assert_eq!(rows[0].1, hex::encode(digest));

    let fresh = tempfile::tempdir().unwrap();
    let view = client(&server, fresh.path())
        .repository(gun)
        .unwrap()
        .inspect()
        .await
        .unwrap();
    let json = serde_json::to_value(vec![view]).unwrap();
    assert_eq!(json[0]["Name"], gun);
    assert_eq!(json[0]["SignedTags"][0]["SignedTag"], "v1");
    assert_eq!(json[0]["SignedTags"][0]["Digest"], hex::encode(digest));
    assert_eq!(
        json[0]["SignedTags"][0]["Signers"],
        serde_json::json!(["alice"])
    );
    assert_eq!(json[0]["Signers"][0]["Name"], "alice");
    assert_eq!(
        json[0]["Signers"][0]["Keys"][0]["ID"],
        alice.key_id().to_string()
    );
    assert_eq!(json[0]["AdministrativeKeys"][0]["Name"], "Root");
    assert_eq!(json[0]["AdministrativeKeys"][1]["Name"], "Repository");

    // Narrowing a delegation's paths: Go and we still verify what it signs within them.
    repo.update_delegation(
        "targets/releases",
        notary_client::changelist::DelegationChange {
            add_paths: vec!["v".into()],
            remove_paths: vec![String::new()],
            ..Default::default()
        },
    )
    .unwrap();
    repo.publish().await.unwrap();
    let go = NotaryCli::new(&server).unwrap();
    assert_eq!(go_list(&go, gun)[0].3, "targets/releases");
    let state = repo.update().await.unwrap();
    let releases = &state.role("targets").unwrap().file.signed.delegations.roles;
    assert_eq!(
        releases
            .iter()
            .find(|r| r.name == "targets/releases")
            .unwrap()
            .paths,
        ["v"]
    );

    // Removing a delegation removes its file from the snapshot too; Go still verifies.
    repo.remove_delegation("targets/alice").unwrap();
    repo.publish().await.unwrap();
    let go = NotaryCli::new(&server).unwrap();
    let rows = go_list(&go, gun);
    assert_eq!(rows.len(), 1);
    let view = client(&server, tempfile::tempdir().unwrap().path())
        .repository(gun)
        .unwrap()
        .inspect()
        .await
        .unwrap();
    assert!(view.signers.is_empty(), "{view:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn our_key_rotations_are_followed_by_go_clients_holding_the_old_root() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let gun = "registry.example.com/ours/rotating";
    let dir = tempfile::tempdir().unwrap();
    let ours = client(&server, dir.path());
    let repo = created_with_v1(&ours, gun).await;
    repo.publish().await.unwrap();

    // A Go client that trusts the first root.
    let go = NotaryCli::new(&server).unwrap();
    assert_eq!(go_list(&go, gun).len(), 1);
    let first_root = std::fs::read(
        go.trust_dir()
            .join("tuf")
            .join(gun)
            .join("metadata/root.json"),
    )
    .unwrap();

    let targets = repo.rotate_key(KeyRotation::Targets).await.unwrap();
    let snapshot = repo
        .rotate_key(KeyRotation::Snapshot(KeyHolder::Server))
        .await
        .unwrap();
    let root = repo.rotate_key(KeyRotation::Root).await.unwrap();
    repo.add_target("v2", FileMeta::of_bytes(b"v2"), &[])
        .unwrap();
    repo.publish().await.unwrap();

    // The Go client still holding the first root follows all three rotations.
    let rows = go_list(&go, gun);
    assert_eq!(
        rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["v1", "v2"]
    );
    let now_root = std::fs::read_to_string(
        go.trust_dir()
            .join("tuf")
            .join(gun)
            .join("metadata/root.json"),
    )
    .unwrap();
    assert_ne!(first_root, now_root.as_bytes());
    for key in [&targets, &snapshot, &root] {
        assert!(
            now_root.contains(key.key_id().as_str()),
            "Go's root lists {}",
            key.key_id()
        );
    }
    // And a fresh client of ours.
    let fresh = tempfile::tempdir().unwrap();
    assert_eq!(
        client(&server, fresh.path())
            .repository(gun)
            .unwrap()
            .list()
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn go_key_rotations_are_followed_by_us_holding_the_old_root() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let gun = "registry.example.com/go/rotating";
    let go = NotaryCli::new(&server).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    go.run(&["init", gun, "-p"]).unwrap();
    let f = write_file(scratch.path(), "v1", b"v1");
    go.run(&["add", gun, "v1", &f, "-p"]).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let ours = client(&server, dir.path());
    let repo = ours.repository(gun).unwrap();
    let first = repo.update().await.unwrap().root.file.signed.version;

    go.run(&["key", "rotate", gun, "targets"]).unwrap();
    go.run(&["key", "rotate", gun, "snapshot", "-r"]).unwrap();
    go.run(&["key", "rotate", gun, "root"]).unwrap();
    let f = write_file(scratch.path(), "v2", b"v2");
    go.run(&["add", gun, "v2", &f, "-p"]).unwrap();

    let state = repo.update().await.unwrap();
    assert!(
        state.root.file.signed.version > first + 1,
        "walked several root versions"
    );
    assert_eq!(repo.list().await.unwrap().len(), 2);
}
