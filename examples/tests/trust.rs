//! The `trust` CLI against the real notary-server, compared with the Go `notary` client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use devstack::{DEFAULT_PASSPHRASE, NotaryCli, NotaryOptions, NotaryServer};
use std::path::Path;
use std::process::{Command, Output};

fn trust(server: &NotaryServer, trust_dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trust"));
    cmd.arg("-s")
        .arg(server.url())
        .arg("-d")
        .arg(trust_dir)
        .args(args);
    for role in ["ROOT", "TARGETS", "SNAPSHOT", "DELEGATION"] {
        cmd.env(format!("NOTARY_{role}_PASSPHRASE"), DEFAULT_PASSPHRASE);
    }
    cmd.output().unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn trust_cli_publishes_and_prints_like_notary() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("trust");
    let gun = "registry.example.com/cli/app";
    let file = dir.path().join("payload");
    std::fs::write(&file, b"payload bytes").unwrap();

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
    let missing = trust(&server, &fresh, &["lookup", gun, "nope"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no target \"nope\""));
    let traversal = trust(&server, &fresh, &["list", "../../etc"]);
    assert!(!traversal.status.success());
    assert!(String::from_utf8_lossy(&traversal.stderr).contains("invalid GUN"));

    let keys = ok(trust(&server, &ours, &["key", "list"]));
    assert!(keys.starts_with("ROLE"), "{keys}");
    // The first root key and the one the rotation made; the old one is kept, as notary does.
    assert_eq!(
        keys.lines().filter(|l| l.starts_with("root ")).count(),
        2,
        "{keys}"
    );

    ok(trust(&server, &ours, &["delete", gun, "--remote"]));
    let after = NotaryCli::new(&server).unwrap();
    assert!(
        after.run(&["list", gun]).is_err(),
        "the collection is gone from the server"
    );
}

#[test]
fn trust_cli_delegations_with_a_key_imported_by_go() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("trust");
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
    let file = dir.path().join("payload");
    std::fs::write(&file, b"released").unwrap();
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
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("trust");
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
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("neither a key file nor"));
}
