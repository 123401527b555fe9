//! The `trust` CLI against the real notary-server, compared with the Go `notary` client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{failed, file_names as files_in, succeeded as ok};
use devstack::{DEFAULT_PASSPHRASE, NotaryCli, NotaryOptions, NotaryServer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
fn staging_runs_offline_reset_and_delete_work_like_go() {
    let Fixture { server, dir, ours } = Fixture::start();
    let gun = "example.com/offline/app";
    let file = payload(&dir, b"offline bytes");
    let path = file.to_str().unwrap();
    ok(trust(&server, &ours, &["init", gun, "-p"]));

    // Staging never talks to the server: a dead one, or none configured at all.
    let digest = "b".repeat(64);
    for (url, args) in [
        (Some(DEAD_SERVER), vec!["add", gun, "t0", path]),
        (None, vec!["add", gun, "t1", path]),
        (
            Some(DEAD_SERVER),
            vec!["add-hash", gun, "t2", "12", "--sha256", &digest],
        ),
        (None, vec!["remove", gun, "t3"]),
        (Some(DEAD_SERVER), vec!["add", gun, "t4", path]),
    ] {
        ok(trust_at(url, &ours, &args, &[]));
    }
    let status = ok(trust_at(None, &ours, &["status", gun], &[]));
    let go = NotaryCli::with_trust_dir(&server, &ours).unwrap();
    assert_eq!(status, go.run(&["status", gun]).unwrap());

    // reset -n as Go: numbers as status lists them, repeated or comma-separated.
    let reset = ok(trust_at(
        DEAD_SERVER.into(),
        &ours,
        &["reset", gun, "-n", "1", "-n", "3"],
        &[],
    ));
    assert_eq!(
        reset.trim_end(),
        format!("Successfully reset specified changes for repository {gun}")
    );
    let left: Vec<String> = ok(trust_at(None, &ours, &["status", gun], &[]))
        .lines()
        .skip(4)
        .map(|l| l.split_whitespace().last().unwrap().to_owned())
        .collect();
    assert_eq!(left, ["t0", "t2", "t4"]);
    let error = failed(trust_at(None, &ours, &["reset", gun, "-n", "0,7"], &[]));
    assert!(error.contains("no staged change number 7"), "{error}");
    assert_eq!(
        go.run(&["status", gun]).unwrap().lines().count(),
        7,
        "nothing was dropped"
    );
    let error = failed(trust_at(None, &ours, &["reset", gun], &[]));
    assert!(error.contains("-n or the --all flag"), "{error}");
    ok(trust_at(None, &ours, &["reset", gun, "-n", "1"], &[]));
    ok(trust(&server, &ours, &["publish", gun]));
    let names: Vec<String> = go
        .run(&["list", gun])
        .unwrap()
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["t0", "t4"]);
    ok(trust_at(None, &ours, &["add", gun, "t5", path], &[]));
    ok(trust_at(None, &ours, &["reset", gun, "--all"], &[]));
    assert_eq!(
        ok(trust_at(None, &ours, &["status", gun], &[])).trim_end(),
        format!("No unpublished changes for {gun}")
    );

    // delete without --remote: only the local trust data goes (offline), keys stay, the
    // server keeps the collection; the output is Go's.
    let keys = files_in(&ours.join("private"));
    ok(trust_at(None, &ours, &["add", gun, "t6", path], &[]));
    let deleted = ok(trust_at(Some(DEAD_SERVER), &ours, &["delete", gun], &[]));
    let go_dir = dir.path().join("go");
    let go_own = NotaryCli::with_trust_dir(&server, &go_dir).unwrap();
    go_own.run(&["list", gun]).unwrap();
    assert_eq!(deleted, go_own.run(&["delete", gun]).unwrap());
    assert!(!ours.join("tuf").join(gun).exists());
    assert!(!go_dir.join("tuf").join(gun).join("metadata").exists());
    assert_eq!(files_in(&ours.join("private")), keys);
    let listed = ok(trust(&server, &ours, &["list", gun]));
    assert!(listed.contains("t0") && listed.contains("t4"), "{listed}");
}

#[test]
fn control_characters_in_target_names_are_refused_at_add() {
    let Fixture { server, dir, ours } = Fixture::start();
    let gun = "example.com/control/app";
    let file = payload(&dir, b"bytes");
    let path = file.to_str().unwrap();
    ok(trust(&server, &ours, &["init", gun, "-p"]));
    for name in ["a\nb", "t\tx", "x\u{1}y"] {
        let error = failed(trust(&server, &ours, &["add", gun, name, path]));
        assert!(error.contains("control character"), "{error}");
        let error = failed(trust(&server, &ours, &["remove", gun, name]));
        assert!(error.contains("control character"), "{error}");
    }
    assert!(ok(trust(&server, &ours, &["status", gun])).contains("No unpublished changes"));

    // Go stages such a name, but cannot publish it: its canonical JSON writes it raw.
    let go = NotaryCli::with_trust_dir(&server, &ours).unwrap();
    go.run(&["add", gun, "a\nb", path]).unwrap();
    let go_error = go.run(&["publish", gun]).unwrap_err().to_string();
    assert!(go_error.contains("invalid character"), "{go_error}");
    // Ours refuses the change Go staged before sending anything, and says why.
    let error = failed(trust(&server, &ours, &["publish", gun]));
    assert!(
        error.contains("control character") && !error.contains("MALFORMED"),
        "{error}"
    );
    ok(trust(&server, &ours, &["reset", gun, "--all"]));
    ok(trust(&server, &ours, &["add", gun, "h<&>é", path, "-p"]));
    let listed = NotaryCli::new(&server)
        .unwrap()
        .run(&["list", gun])
        .unwrap();
    assert!(listed.contains("h<&>é"), "{listed}");
}

#[test]
fn a_nested_delegation_needs_its_parent_at_staging_time() {
    let Fixture { server, dir, ours } = Fixture::start();
    let gun = "example.com/nested/app";
    let (_, cert) = devstack::openssl::ec_key_and_certificate(dir.path(), "nested").unwrap();
    let cert = cert.to_str().unwrap();
    ok(trust(&server, &ours, &["init", gun, "-p"]));
    let error = failed(trust(
        &server,
        &ours,
        &["delegation", "add", gun, "targets/a/b", cert, "--all-paths"],
    ));
    assert!(
        error.contains("parent role targets/a does not exist"),
        "{error}"
    );
    assert!(ok(trust(&server, &ours, &["status", gun])).contains("No unpublished changes"));
    // Staged parent first, then the child: both accepted, and published.
    ok(trust(
        &server,
        &ours,
        &["delegation", "add", gun, "targets/a", cert, "--all-paths"],
    ));
    ok(trust(
        &server,
        &ours,
        &["delegation", "add", gun, "targets/a/b", cert, "--all-paths"],
    ));
    ok(trust(&server, &ours, &["reset", gun, "--all"]));
    // A parent published earlier (in the cache) counts too.
    ok(trust(
        &server,
        &ours,
        &[
            "delegation",
            "add",
            gun,
            "targets/a",
            cert,
            "--all-paths",
            "-p",
        ],
    ));
    ok(trust(
        &server,
        &ours,
        &["delegation", "add", gun, "targets/a/b", cert, "--all-paths"],
    ));
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
fn init_of_a_gun_another_root_owns_says_so() {
    // The directory holds the trust dir: it lives to the end of the test.
    let Fixture {
        server,
        dir: _dir,
        ours,
    } = Fixture::start();
    let gun = "example.com/owned/app";
    NotaryCli::new(&server)
        .unwrap()
        .run(&["init", gun, "-p"])
        .unwrap();
    let error = failed(trust(&server, &ours, &["init", gun, "-p"]));
    assert!(
        error.contains("already exists on") && error.contains("under another root"),
        "{error}"
    );
    assert!(
        !error.contains("older than") && !error.contains("--remote"),
        "{error}"
    );
}

#[test]
fn guns_that_urls_would_rewrite_are_refused() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scratch = payload(&dir, b"kill switch");
    let go = NotaryCli::new(&server).unwrap();
    go.run(&["init", "example.com/kill", "-p"]).unwrap();
    go.run(&[
        "add",
        "example.com/kill",
        "secret",
        scratch.to_str().unwrap(),
        "-p",
    ])
    .unwrap();
    let ours = dir.path().join("trust");
    for gun in [
        "example.com/x/%2e%2e/kill",
        "example.com/x/../kill",
        "example.com/kill?x",
        "example.com/kill#x",
        "example.com/Kill",
    ] {
        let output = trust(&server, &ours, &["list", gun]);
        assert!(!String::from_utf8_lossy(&output.stdout).contains("secret"));
        let error = failed(output);
        assert!(error.contains("invalid GUN"), "{gun}: {error}");
        assert!(!ours.join("tuf").join("example.com").join("kill").exists());
    }
    let error = failed(trust(
        &server,
        &ours,
        &["list", "example.com/x/%2e%2e/kill"],
    ));
    assert!(error.contains("expected a repository name"), "{error}");
    // The collection itself is readable by its own name.
    assert!(ok(trust(&server, &ours, &["list", "example.com/kill"])).contains("secret"));
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
        if args[0] == "list" {
            assert_eq!(stdout, online);
        } else {
            assert!(stdout.starts_with("v1 sha256:"), "{stdout}");
        }
    }
    // Without a cache there is nothing to fall back to.
    let empty = dir.path().join("empty");
    failed(trust_at(Some(DEAD_SERVER), &empty, &["list", gun], &[]));
}
