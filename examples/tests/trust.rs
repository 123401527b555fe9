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
    assert_eq!(
        keys.lines().filter(|l| l.starts_with("root ")).count(),
        1,
        "{keys}"
    );

    ok(trust(&server, &ours, &["delete", gun, "--remote"]));
    let after = NotaryCli::new(&server).unwrap();
    assert!(
        after.run(&["list", gun]).is_err(),
        "the collection is gone from the server"
    );
}
