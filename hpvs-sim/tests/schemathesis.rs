//! schemathesis (PyPI) against the served OpenAPI document: generated requests for every
//! operation, bounded in examples and time; no answer may be a 5xx or break its schema.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{Api, TOKEN};
use hpvs_sim::{Appliance, ApplianceOptions};

/// Requests per operation.
const EXAMPLES: &str = "25";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_get_no_server_error_and_answers_that_match_the_schema() {
    let schemathesis = devstack::require_binary("st", "schemathesis (PyPI)").unwrap_or_else(|_| {
        panic!("schemathesis is missing: run scripts/install-peers.sh (pip install schemathesis)")
    });
    let dir = tempfile::tempdir().unwrap();
    let appliance = Appliance::open(ApplianceOptions {
        state_dir: dir.path().join("appliance"),
        outbound_ca_pem: None,
    })
    .unwrap();
    let api = Api::start(Arc::clone(&appliance), dir.path()).await;
    let base = api.base().to_owned();
    let ca = dir.path().join("api-tls/ca.pem");
    let mut command = Command::new(schemathesis);
    command
        .args(["run", &format!("{base}/openapi.json"), "--url", &base])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .arg("--tls-verify")
        .arg(&ca)
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", EXAMPLES, "--workers", "1", "--seed", "1"])
        .args(["--request-timeout", "10"])
        .env("SCHEMATHESIS_HOOKS", "")
        // Its cache (.schemathesis/) goes to the test's directory, not the source tree.
        .current_dir(dir.path())
        .env("NO_COLOR", "1");
    let output = tokio::task::spawn_blocking(move || {
        let child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        // A bound on the whole run: schemathesis is killed if it has not ended by then.
        let guard = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(240));
            let _ = Command::new("kill").arg(pid.to_string()).status();
        });
        let output = child.wait_with_output().unwrap();
        drop(guard);
        output
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // It really tested the operations (a run over an empty schema would also pass).
    assert!(stdout.contains("virtual-servers"), "{stdout}");
    assert!(appliance.runtime_orphans().unwrap().is_empty());
}
