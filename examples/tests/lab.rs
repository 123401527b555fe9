//! The lab program runs end to end against the real peers and leaves its outputs behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn lab_runs_steps_one_to_four_and_six_end_to_end() {
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
    assert!(stdout.contains("witness: Go `notary lookup`"), "{stdout}");
    assert!(
        stdout.contains("a root other than the registered one is refused"),
        "{stdout}"
    );
    // The default is the embedded in-memory stack.
    assert!(stdout.contains("embedded default stack"), "{stdout}");
    assert!(!stdout.contains("notary-signer"), "{stdout}");
    // The outputs a user inspects afterwards are there.
    for file in [
        "sbs-mtls/ca.pem",
        "sbs-mtls/server-key.pem",
        "sbs-mtls/client.pem",
        "yaml.hpvs-lab-bitcoin-wallet.enc",
        "rootfs/app/start.sh",
        "deployed-image/index.json",
    ] {
        assert!(out.path().join(file).is_file(), "{file} missing");
    }
    assert!(out.path().join("trust/private").is_dir());
    let sealed =
        std::fs::read_to_string(out.path().join("yaml.hpvs-lab-bitcoin-wallet.enc")).unwrap();
    assert!(sealed.starts_with("-----BEGIN PGP MESSAGE-----"));
    // No secret reaches the terminal.
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

#[test]
fn lab_runs_on_the_production_notary_topology() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("--production-notary")
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
    assert!(stdout.contains("production notary topology"), "{stdout}");
    assert!(stdout.contains("notary-signer 127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("PostgreSQL    127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("witness: Go `notary lookup`"), "{stdout}");
    assert!(
        stdout.contains("a root other than the registered one is refused"),
        "{stdout}"
    );
    assert!(stdout.contains("lab: done"), "{stdout}");
    assert!(out.path().join("rootfs/app/start.sh").is_file());
}
