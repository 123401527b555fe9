//! The `trust` CLI against the real notary-server, compared with the Go `notary` client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{failed, file_names as files_in, succeeded as ok};
use devstack::{DEFAULT_PASSPHRASE, NotaryCli, NotaryOptions, NotaryServer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "trust/staging.rs"]
mod staging;

fn trust(server: &NotaryServer, trust_dir: &Path, args: &[&str]) -> Output {
    trust_at(Some(server.url()), trust_dir, args, &[])
}

/// `trust [-s URL] -d DIR ARGS` with the devstack passphrases, then `env` on top.
fn trust_at(url: Option<&str>, trust_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    trust_command(url, trust_dir, args, env).output().unwrap()
}

fn trust_command(
    url: Option<&str>,
    trust_dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trust"));
    if let Some(url) = url {
        cmd.arg("-s").arg(url);
    }
    cmd.arg("-d").arg(trust_dir).args(args);
    for role in ["ROOT", "TARGETS", "SNAPSHOT", "DELEGATION"] {
        cmd.env(format!("NOTARY_{role}_PASSPHRASE"), DEFAULT_PASSPHRASE);
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

/// A loopback URL nothing listens on: any request to it fails.
const DEAD_SERVER: &str = "http://127.0.0.1:9";

/// What most tests start from: a notary-server, a temporary directory, and in it `trust`,
/// the trust dir of our CLI.
struct Fixture {
    server: NotaryServer,
    dir: tempfile::TempDir,
    ours: PathBuf,
}

impl Fixture {
    fn start() -> Fixture {
        let server = NotaryServer::start(NotaryOptions::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("trust");
        Fixture { server, dir, ours }
    }
}

/// Writes `bytes` to `dir/payload`, a file to publish as a target.
fn payload(dir: &tempfile::TempDir, bytes: &[u8]) -> PathBuf {
    let file = dir.path().join("payload");
    std::fs::write(&file, bytes).unwrap();
    file
}

#[test]
fn trust_cli_publishes_and_prints_like_notary() {
    let Fixture { server, dir, ours } = Fixture::start();
    let gun = "registry.example.com/cli/app";
    let file = payload(&dir, b"payload bytes");

    ok(trust(&server, &ours, &["init", gun]));
    ok(trust(
        &server,
        &ours,
        &["add", gun, "v1", file.to_str().unwrap()],
    ));
    let status = ok(trust(&server, &ours, &["status", gun]));
    assert!(
        status.contains("create    targets    target    v1"),
        "{status}"
    );
    ok(trust(&server, &ours, &["publish", gun]));
    let digest = "a".repeat(64);
    ok(trust(
        &server,
        &ours,
        &["add-hash", gun, "latest", "1234", "--sha256", &digest, "-p"],
    ));

    let rotated = ok(trust(&server, &ours, &["key", "rotate", gun, "root"]));
    assert!(rotated.contains("rotated root key"), "{rotated}");
    ok(trust(
        &server,
        &ours,
        &["key", "rotate", gun, "snapshot", "-r"],
    ));

    // Same collection, same output as the Go client, byte for byte.
    let go = NotaryCli::new(&server).unwrap();
    let go_list = go.run(&["list", gun]).unwrap();
    let fresh = dir.path().join("fresh");
    let our_list = ok(trust(&server, &fresh, &["list", gun]));
    assert_eq!(our_list.trim_end(), go_list.trim_end());
    assert!(our_list.contains("latest"), "{our_list}");
    assert_eq!(
        ok(trust(&server, &fresh, &["lookup", gun, "v1"])).trim_end(),
        go.run(&["lookup", gun, "v1"]).unwrap().trim_end()
    );

    // Errors: non-zero exit, message on stderr.
    let missing = failed(trust(&server, &fresh, &["lookup", gun, "nope"]));
    assert!(missing.contains("no target \"nope\""), "{missing}");
    let traversal = failed(trust(&server, &fresh, &["list", "../../etc"]));
    assert!(traversal.contains("invalid GUN"), "{traversal}");

    let keys = ok(trust(&server, &ours, &["key", "list"]));
    assert!(keys.starts_with("ROLE"), "{keys}");
    // The first root key and the one the rotation made; the old one is kept, as notary does.
    assert_eq!(
        keys.lines().filter(|l| l.starts_with("root ")).count(),
        2,
        "{keys}"
    );

    let deleted = ok(trust(&server, &ours, &["delete", gun, "--remote"]));
    assert!(
        deleted.contains("Successfully deleted local and remote trust data"),
        "{deleted}"
    );
    let after = NotaryCli::new(&server).unwrap();
    assert!(
        after.run(&["list", gun]).is_err(),
        "the collection is gone from the server"
    );
}

#[test]
fn trust_cli_delegations_with_a_key_imported_by_go() {
    let Fixture { server, dir, ours } = Fixture::start();
    let gun = "registry.example.com/cli/delegated";
    let (key, cert) = devstack::openssl::ec_key_and_certificate(dir.path(), "releases").unwrap();
    ok(trust(&server, &ours, &["init", gun, "-p"]));
    // The Go client imports the delegation key into our trust dir; we sign with it.
    NotaryCli::with_trust_dir(&server, &ours)
        .unwrap()
        .run(&[
            "key",
            "import",
            key.to_str().unwrap(),
            "--role",
            "targets/releases",
        ])
        .unwrap();
    ok(trust(
        &server,
        &ours,
        &[
            "delegation",
            "add",
            gun,
            "targets/releases",
            cert.to_str().unwrap(),
            "--all-paths",
            "-p",
        ],
    ));
    let file = payload(&dir, b"released");
    ok(trust(
        &server,
        &ours,
        &[
            "add",
            gun,
            "rel",
            file.to_str().unwrap(),
            "--roles",
            "targets/releases",
            "-p",
        ],
    ));

    let listing = ok(trust(&server, &ours, &["delegation", "list", gun]));
    assert!(listing.contains("targets/releases"), "{listing}");
    let go = NotaryCli::new(&server).unwrap();
    let go_list = go.run(&["list", gun]).unwrap();
    assert!(
        go_list.contains("rel") && go_list.contains("targets/releases"),
        "{go_list}"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(trust(&server, &ours, &["inspect", gun]))).unwrap();
    assert_eq!(inspect[0]["SignedTags"][0]["SignedTag"], "rel");
    assert_eq!(inspect[0]["AdministrativeKeys"][0]["Name"], "Root");
}

#[test]
fn trust_cli_init_with_a_root_key_file() {
    let Fixture { server, dir, ours } = Fixture::start();
    let gun = "registry.example.com/cli/rootkey";
    // A P-256 key made by openssl (its certificate is not used).
    let (key, _) = devstack::openssl::ec_key_and_certificate(dir.path(), "root").unwrap();
    ok(trust(
        &server,
        &ours,
        &["init", gun, "--rootkey", key.to_str().unwrap(), "-p"],
    ));
    let expected = keymgmt::keyfile::decode(&std::fs::read(&key).unwrap(), None, None)
        .unwrap()
        .key
        .key_id();
    assert!(
        ours.join("private")
            .join(format!("{expected}.key"))
            .is_file()
    );
    // The published root certificate wraps exactly that key.
    let go = NotaryCli::new(&server).unwrap();
    go.run(&["list", gun]).unwrap();
    let root: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            go.trust_dir()
                .join("tuf")
                .join(gun)
                .join("metadata/root.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let id = root["signed"]["roles"]["root"]["keyids"][0]
        .as_str()
        .unwrap();
    let key = &root["signed"]["keys"][id];
    let cert = keymgmt::PublicKey::from_json_fields(
        key["keytype"].as_str().unwrap(),
        key["keyval"]["public"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(cert.canonical_key_id(), expected);
    let bad = trust(
        &server,
        &ours,
        &["init", "registry.example.com/cli/x", "--rootkey", "nope"],
    );
    assert!(failed(bad).contains("neither a key file nor"));
}

#[test]
fn init_reuses_the_trust_dirs_root_key_as_go_does() {
    // The directory holds the trust dir: it lives to the end of the test.
    let Fixture {
        server,
        dir: _dir,
        ours,
    } = Fixture::start();
    let first = ok(trust(&server, &ours, &["init", "example.com/reuse/one"]));
    assert!(!first.contains("Root key found"), "{first}");
    let roots: Vec<String> = files_in(&ours.join("private"));
    let second = ok(trust(
        &server,
        &ours,
        &["init", "example.com/reuse/two", "-p"],
    ));
    // The Go client, on the same trust dir, names the same key with the same words.
    let go = NotaryCli::with_trust_dir(&server, &ours).unwrap();
    let go_says = go.run(&["init", "example.com/reuse/three"]).unwrap();
    let line = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("Root key found, using: "))
            .unwrap_or_else(|| panic!("no root key line in {text}"))
            .to_owned()
    };
    assert_eq!(line(&second), line(&go_says));
    let keys = ok(trust(&server, &ours, &["key", "list"]));
    assert_eq!(
        keys.lines().filter(|l| l.starts_with("root ")).count(),
        1,
        "{keys}"
    );
    assert!(
        roots
            .iter()
            .any(|f| line(&second).ends_with(f.trim_end_matches(".key")))
    );

    // A mistyped root passphrase must decrypt the existing key, so it fails, and changes nothing.
    let before = files_in(&ours.join("private"));
    let error = failed(trust_at(
        Some(server.url()),
        &ours,
        &["init", "example.com/reuse/typo"],
        &[("NOTARY_ROOT_PASSPHRASE", "not-the-passphrase")],
    ));
    assert!(error.contains("passphrase"), "{error}");
    assert_eq!(files_in(&ours.join("private")), before);
    assert!(
        !ours
            .join("tuf/example.com/reuse/typo/metadata/root.json")
            .exists()
    );
    // Go fails the same way on the same trust dir.
    let go_typo = NotaryCli::with_trust_dir(&server, &ours)
        .unwrap()
        .env("NOTARY_ROOT_PASSPHRASE", "not-the-passphrase");
    assert!(go_typo.run(&["init", "example.com/reuse/go-typo"]).is_err());
}

#[test]
fn a_failed_init_leaves_no_keys_behind() {
    // The directory holds the trust dir: it lives to the end of the test.
    let Fixture {
        server,
        dir: _dir,
        ours,
    } = Fixture::start();
    // Too short a passphrase for the targets key: the new root key must not stay either.
    let error = failed(trust_at(
        Some(server.url()),
        &ours,
        &["init", "example.com/failed/short"],
        &[("NOTARY_TARGETS_PASSPHRASE", "short")],
    ));
    assert!(error.contains("passphrase"), "{error}");
    assert_eq!(files_in(&ours.join("private")), Vec::<String>::new());
    // The server cannot be reached.
    let error = failed(trust_at(
        Some(DEAD_SERVER),
        &ours,
        &["init", "example.com/failed/offline"],
        &[],
    ));
    assert!(error.contains("127.0.0.1:9"), "{error}");
    // The cause is printed as a chain below the message, not lost.
    assert!(
        error.contains("caused by:") && error.contains("Connection refused"),
        "{error}"
    );
    assert_eq!(files_in(&ours.join("private")), Vec::<String>::new());
    // And the next init works with nothing left over from those.
    ok(trust(
        &server,
        &ours,
        &["init", "example.com/failed/short", "-p"],
    ));
    assert_eq!(files_in(&ours.join("private")).len(), 3);
}

#[test]
fn a_closed_stdout_ends_list_quietly() {
    use std::io::{BufRead as _, BufReader};
    // The directory holds the trust dir: it lives to the end of the test.
    let Fixture {
        server,
        dir: _dir,
        ours,
    } = Fixture::start();
    let gun = "example.com/pipe/app";
    ok(trust(&server, &ours, &["init", gun]));
    // More rows than a pipe buffer holds, so `list` is still writing when the reader leaves.
    let staged = {
        let config = notary_client::transport::ServerConfig {
            url: server.url().to_owned(),
            security: notary_client::transport::Security::InsecureHttp,
            ..Default::default()
        };
        let client = notary_client::repository::Client::new(
            &ours,
            &config,
            keymgmt::passphrase::Fixed(keymgmt::passphrase::Passphrase::new(DEFAULT_PASSPHRASE)),
        )
        .unwrap();
        let repo = client.repository(gun).unwrap();
        for i in 0..1500 {
            repo.add_target(
                &format!("tag-{i:05}"),
                notary_client::metadata::FileMeta::of_bytes(format!("{i}").as_bytes()),
                &[],
            )
            .unwrap();
        }
        repo.status().unwrap().len()
    };
    assert_eq!(staged, 1500);
    ok(trust(&server, &ours, &["publish", gun]));
    let mut child = trust_command(Some(server.url()), &ours, &["list", gun], &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: stdout is closed, as `trust list | head -1` does.
    assert!(first.starts_with("NAME"), "{first}");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Through a real shell pipe too.
    let piped = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{:?} -s {} -d {:?} list {gun} | head -1",
            env!("CARGO_BIN_EXE_trust"),
            server.url(),
            ours
        ))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("panicked"));
}

#[test]
fn rotating_the_timestamp_key_of_an_unpublished_collection_publishes_it_as_go_does() {
    let Fixture { server, dir, ours } = Fixture::start();
    let gun = "example.com/unpublished/rotate";
    let file = payload(&dir, b"rotated");
    ok(trust(&server, &ours, &["init", gun]));
    ok(trust(
        &server,
        &ours,
        &["add", gun, "t1", file.to_str().unwrap()],
    ));
    let rotated = ok(trust(
        &server,
        &ours,
        &["key", "rotate", gun, "timestamp", "-r"],
    ));
    assert!(rotated.contains("rotated timestamp key"), "{rotated}");
    // Published with the new root (version 2, as Go's rotation makes it), changes still staged.
    let fresh = NotaryCli::new(&server).unwrap();
    fresh.run(&["list", gun]).unwrap();
    let root: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            fresh
                .trust_dir()
                .join("tuf")
                .join(gun)
                .join("metadata/root.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(root["signed"]["version"], 2);
    assert!(ok(trust(&server, &ours, &["status", gun])).contains("t1"));
    ok(trust(&server, &ours, &["publish", gun]));
    assert!(
        NotaryCli::new(&server)
            .unwrap()
            .run(&["list", gun])
            .unwrap()
            .contains("t1")
    );
    let fresh_ours = dir.path().join("fresh");
    assert!(ok(trust(&server, &fresh_ours, &["list", gun])).contains("t1"));
}

#[test]
fn list_and_lookup_read_the_verified_cache_with_a_warning_when_the_server_is_gone() {
    let Fixture { server, dir, ours } = Fixture::start();
    let gun = "example.com/cached/app";
    let file = dir.path().join("v1.bin");
    std::fs::write(&file, b"v1 bytes").unwrap();
    ok(trust(&server, &ours, &["init", gun]));
    ok(trust(
        &server,
        &ours,
        &["add", gun, "v1", file.to_str().unwrap()],
    ));
    ok(trust(&server, &ours, &["publish", gun]));
    let online = ok(trust(&server, &ours, &["list", gun]));
    drop(server);

    // The server is gone: the cached, verified data is listed, and stderr says it may be old.
    for args in [vec!["list", gun], vec!["lookup", gun, "v1"]] {
        let output = trust_at(Some(DEAD_SERVER), &ours, &args, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let stdout = ok(output);
        assert!(stderr.contains("might not be the latest"), "{stderr}");
        // The warning names why the server did not answer.
        assert!(stderr.contains("Connection refused"), "{stderr}");
        if args[0] == "list" {
            assert_eq!(stdout, online);
        } else {
            assert!(stdout.starts_with("v1 sha256:"), "{stdout}");
        }
    }
    // Without a cache there is nothing to fall back to.
    let empty = dir.path().join("empty");
    let error = failed(trust_at(Some(DEAD_SERVER), &empty, &["list", gun], &[]));
    assert!(
        error.contains("cannot reach") && error.contains("caused by:"),
        "{error}"
    );
}
