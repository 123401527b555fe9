//! The lab program runs end to end against the real peers and leaves its outputs behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn lab_runs_the_key_setup_path_end_to_end() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "lab failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("lab: done"), "{stdout}");
    assert!(
        stdout.contains("v1"),
        "the fresh client lists the signed tag: {stdout}"
    );
    // The outputs a user inspects afterwards are there.
    for file in [
        "root.crt",
        "sbs-mtls/ca.pem",
        "sbs-mtls/server-key.pem",
        "sbs-mtls/client.pem",
    ] {
        assert!(out.path().join(file).is_file(), "{file} missing");
    }
    assert!(out.path().join("trust/private").is_dir());
    // The server key never reaches the terminal.
    assert!(!stdout.contains("PRIVATE KEY"), "{stdout}");
}

#[test]
fn lab_rejects_unknown_arguments() {
    let output = Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage: lab"));
}
