//! The `devstack` binary: prints working `export` lines and stops everything on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn exported(lines: &[String], name: &str) -> String {
    let prefix = format!("export {name}=");
    let line = lines
        .iter()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} in {lines:#?}"));
    line[prefix.len()..].trim_matches('\'').to_owned()
}

#[test]
fn help_exits_zero() {
    let output = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("usage: devstack"));
    let bad = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn prints_exports_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .arg("--tls")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert_ne!(
            stdout.read_line(&mut line).unwrap(),
            0,
            "devstack exited early: {lines:#?}"
        );
        let line = line.trim_end().to_owned();
        let done = line.starts_with("# running");
        lines.push(line);
        if done {
            break;
        }
    }
    let notary_url = exported(&lines, "NOTARY_URL");
    let registry_url = exported(&lines, "REGISTRY_URL");
    let ca = exported(&lines, "NOTARY_CA");
    assert!(notary_url.starts_with("https://127.0.0.1:"), "{notary_url}");
    assert_eq!(
        registry_url,
        format!("http://{}", exported(&lines, "REGISTRY"))
    );

    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap()])
        .build()
        .unwrap();
    let health = client
        .get(format!("{notary_url}/_notary_server/health"))
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        client
            .get(format!("{registry_url}/v2/"))
            .send()
            .unwrap()
            .status(),
        200
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        client.get(format!("{registry_url}/v2/")).send().is_err(),
        "registry stopped"
    );
    assert!(
        !std::path::Path::new(&ca).exists(),
        "temporary files removed"
    );
}

/// Reads stdout lines until `# running` (panics if the program exits first).
fn lines_until_running(child: &mut std::process::Child) -> Vec<String> {
    let mut lines = Vec::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert_ne!(
            stdout.read_line(&mut line).unwrap(),
            0,
            "devstack exited early: {lines:#?}"
        );
        let line = line.trim_end().to_owned();
        let done = line.starts_with("# running");
        lines.push(line);
        if done {
            return lines;
        }
    }
}

#[test]
fn production_notary_flag_keeps_the_topology_up_until_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .arg("--production-notary")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_until_running(&mut child);
    let signer = lines
        .iter()
        .find(|line| line.starts_with("# notary-signer 127.0.0.1:"))
        .unwrap_or_else(|| panic!("no notary-signer line in {lines:#?}"));
    let signer_log = signer
        .split("(log ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap()
        .to_owned();
    assert!(std::path::Path::new(&signer_log).is_file(), "{signer_log}");
    let notary_url = exported(&lines, "NOTARY_URL");
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let health = client
        .get(format!("{notary_url}/_notary_server/health"))
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    assert!(
        !std::path::Path::new(&signer_log).exists(),
        "the signer's directory is removed"
    );
    assert!(
        client
            .get(format!("{notary_url}/_notary_server/health"))
            .send()
            .is_err()
    );
}

#[test]
fn production_notary_without_notary_signer_names_the_test_script() {
    // A PATH with only what devstack itself runs: no notary-signer.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["id", "kill"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|dir| std::path::Path::new(dir).join(tool))
            .find(|path| path.exists())
            .unwrap();
        std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
    }
    let output = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .arg("--production-notary")
        .env("PATH", bin.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("notary-signer not found"), "{stderr}");
    assert!(stderr.contains("./scripts/test.sh"), "{stderr}");
}
