//! The lab, end to end on a fresh stack: every step's outcome is checked through the
//! appliance API, the build server's API and the Go notary client, not through what the lab
//! printed; the wallet is driven in headless Chromium; its data survives `vs restart` and a
//! server created again with `reset_root` starts empty. The lab binary runs to the end too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use examples::lab::access::{WalletClient, wait_for_certificate};
use examples::lab::screenshot::{BrowserVisit, wallet_in_browser};
use examples::lab::{
    APP_SERVER, BUILD_SERVER, Lab, LabOptions, REGISTRY_NAME, REPOSITORY_ID, WALLET_USER,
};
use hpvs_api::wire::ServerState;

fn options(out: &Path) -> LabOptions {
    LabOptions::new(out, env!("CARGO_BIN_EXE_hpvs"))
}

/// A PNG kept for people to look at, under the cargo target's scratch directory.
fn artifact(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lab-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn assert_png(path: &Path) {
    let png = std::fs::read(path).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", path.display());
    assert!(png.len() > 10_000, "a blank page? {} bytes", png.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_walks_all_six_steps_and_each_outcome_shows_in_the_apis() {
    let out = tempfile::tempdir().unwrap();
    let mut lab = Lab::set_up(options(out.path())).await.unwrap();

    // 1: the registry entry is on the appliance.
    let registry = lab.api().registry(REGISTRY_NAME).await.unwrap();
    assert!(
        lab.app_gun()
            .starts_with(registry.url.trim_start_matches("http://"))
    );

    // 2: the build server ran the build; both tags are signed, as Go sees them from an
    // empty trust dir; the registration data names the root it signed with.
    lab.secure_build().await.unwrap();
    let sbs = lab.sbs_client().unwrap();
    let status = sbs.status().await.unwrap();
    assert_eq!(status.status, "success");
    let image_tag = status.image_tag.clone().unwrap();
    assert!(image_tag.starts_with("latest-"), "{image_tag}");
    let build_server = lab.api().virtual_server(BUILD_SERVER).await.unwrap();
    assert_eq!(build_server.state, ServerState::Running);
    let go = lab.go_notary().unwrap();
    let listed = go.run(&["list", &lab.app_gun()]).unwrap();
    for tag in ["latest", image_tag.as_str()] {
        assert!(
            listed
                .lines()
                .any(|l| l.split_whitespace().next() == Some(tag)),
            "{tag} not signed: {listed}"
        );
    }
    let data = sbs.config_json().await.unwrap();
    assert_eq!(data.public_key_id, lab.root_key_id());
    assert!(
        out.path()
            .join(format!("yaml.{REPOSITORY_ID}.enc"))
            .is_file()
    );

    // 3: the appliance pins the build server's root.
    lab.register().await.unwrap();
    let repository = lab.api().repository(REPOSITORY_ID).await.unwrap();
    assert_eq!(repository.root_key_id, data.public_key_id);
    assert_eq!(repository.repository_name, lab.app_gun());

    // 4: the application runs the digest `latest` is signed to.
    lab.deploy().await.unwrap();
    let app = lab.api().virtual_server(APP_SERVER).await.unwrap();
    assert_eq!(app.state, ServerState::Running, "{:?}", app.reason);
    let lookup = go.run(&["lookup", &lab.app_gun(), "latest"]).unwrap();
    let digest = app.digest.clone().unwrap();
    assert!(
        lookup.contains(digest.trim_start_matches("sha256:")),
        "{lookup} vs {digest}"
    );

    // 5: the wallet, over HTTPS; the same wallet after a restart.
    let visit = lab.access().await.unwrap();
    assert!(visit.address.starts_with("tb1q"), "{}", visit.address);
    assert_eq!(visit.address_after_restart, visit.address);
    assert_eq!(visit.certificate_cn, APP_SERVER);
    assert!(
        visit.title.starts_with("Bitcoin Wallet on "),
        "{}",
        visit.title
    );

    // In a real browser: a new user registers, creates a wallet, reads its address.
    let screenshot = artifact("wallet-receive-tab.png");
    let shown = wallet_in_browser(
        &lab.app_url(),
        BrowserVisit::RegisterAndCreate {
            user: "alice",
            password: "alice-password-1",
        },
        &screenshot,
    )
    .await
    .unwrap();
    assert!(shown.starts_with("tb1q"), "{shown}");
    assert_ne!(shown, visit.address, "two users, two wallets");
    assert_png(&screenshot);
    // The lab's own screenshot: the lab user's page shows the address step 5 read.
    let own = artifact("lab-screenshot.png");
    lab.screenshot(&own, &visit.address).await.unwrap();
    assert_png(&own);

    // Created again on the same quotagroup with reset_root, the server starts empty.
    lab.hpvs()
        .run(
            examples::lab::Step::Deploy,
            &["vs", "delete", "--name", APP_SERVER],
            None,
            &[],
        )
        .unwrap();
    lab.create_app_server(true).unwrap();
    let (pem, _) = wait_for_certificate(lab.app_port()).await.unwrap();
    let mut fresh = WalletClient::new(APP_SERVER, lab.app_port(), &pem).unwrap();
    let refused = fresh
        .sign_in(WALLET_USER, "correct-horse-battery-staple", false)
        .await
        .unwrap_err();
    assert!(refused.contains("401"), "{refused}");

    // 6: everything goes, nothing stays mounted.
    lab.clean_up().await.unwrap();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains(out.path().to_str().unwrap()),
        "a mount is left"
    );
}

#[test]
fn the_lab_binary_runs_to_the_end_on_the_production_notary_topology() {
    let out = tempfile::tempdir().unwrap();
    let screenshot = artifact("lab-binary-screenshot.png");
    let output = Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("--production-notary")
        .arg("--out")
        .arg(out.path())
        .arg("--screenshot")
        .arg(&screenshot)
        .env("HPVS_BIN", env!("CARGO_BIN_EXE_hpvs"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "lab failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("lab: done, all six steps"), "{stdout}");
    assert!(stdout.contains("production notary topology"), "{stdout}");
    for file in [
        "sb_config.yaml",
        "github_key",
        "sbs-mtls/ca.pem",
        "sbs-mtls/client.pem",
        "vendor/vendor.pub",
        "build.log",
        "yaml.bitcoin-wallet.enc",
    ] {
        assert!(out.path().join(file).is_file(), "{file} missing");
    }
    let manifests = std::fs::read_dir(out.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".sig.tbz")
        })
        .count();
    assert_eq!(manifests, 1);
    assert_png(&screenshot);
    // No secret reaches the terminal.
    assert!(!stdout.contains("PRIVATE KEY"), "{stdout}");
    assert!(!stdout.contains("hpvs-lab-vendor-passphrase"), "{stdout}");
}

#[test]
fn the_lab_refuses_unknown_arguments() {
    let output = Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage: lab"));
}
