//! The appliance's key and registration files against real GnuPG: gpg imports the key
//! `GET /appliance/key` exports, encrypts to it and signs with a vendor key of its own
//! (`gpg --encrypt --sign --armor`, as the lab does), and the appliance registers the file
//! and binds that vendor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use common::Api;
use hpvs_sim::{Appliance, ApplianceOptions};
use serde_json::json;
use ssc_register::{PublicKey, Registration, RootKey};

/// gpg with a temporary home; its agent is stopped on drop.
struct Gpg(tempfile::TempDir);

impl Gpg {
    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new("gpg")
            .env("GNUPGHOME", self.0.path())
            .args([
                "--batch",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--trust-model",
                "always",
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gpg runs (scripts/install-peers.sh installs gnupg)");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn fingerprint(&self, user: &str) -> String {
        let out = self.run(&["--with-colons", "--fingerprint", user], b"");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .unwrap()
            .to_owned()
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.0.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_file_made_by_gpg_registers_and_binds_the_gpg_vendor() {
    let dir = tempfile::tempdir().unwrap();
    let appliance = Appliance::open(ApplianceOptions {
        state_dir: dir.path().join("appliance"),
        outbound_ca_pem: None,
    })
    .unwrap();
    let api = Api::start(Arc::clone(&appliance), dir.path()).await;
    let (status, _) = api
        .call(
            "POST",
            "/registries",
            Some(json!({"name": "hub", "url": "registry.example.com", "dct": "https://notary.example.com"})),
        )
        .await;
    assert_eq!(status, 201);

    let gpg = Gpg(tempfile::tempdir().unwrap());
    gpg.run(
        &[
            "--passphrase",
            "vendor pw",
            "--quick-generate-key",
            "Vendor <vendor@example.com>",
            "ed25519",
            "sign",
            "never",
        ],
        b"",
    );
    let vendor_armored = String::from_utf8(
        gpg.run(&["--armor", "--export", "vendor@example.com"], b"")
            .stdout,
    )
    .unwrap();
    let (_, key) = api.call("GET", "/appliance/key", None).await;
    gpg.run(
        &["--import"],
        key["public_key"].as_str().unwrap().as_bytes(),
    );
    let appliance_fingerprint = gpg.fingerprint("appliance@hpvs-sim.invalid");
    assert_eq!(appliance_fingerprint, key["fingerprint"].as_str().unwrap());

    let vendor = PublicKey::from_armored(vendor_armored.as_bytes()).unwrap();
    let registration = Registration::builder(
        "registry.example.com/vendor/wallet",
        RootKey::new("0f".repeat(32), "cm9vdCBrZXk=").unwrap(),
    )
    .env_whitelist(["WALLET_MODE"])
    .build(&vendor)
    .unwrap();
    let regfile = gpg.run(
        &[
            "--passphrase",
            "vendor pw",
            "--armor",
            "--encrypt",
            "--sign",
            "--local-user",
            "vendor@example.com",
            "-r",
            &appliance_fingerprint,
        ],
        &registration.to_json().unwrap(),
    );
    let (status, repository) = api
        .call(
            "POST",
            "/repositories",
            Some(json!({"id": "wallet", "regfile": String::from_utf8(regfile.stdout).unwrap()})),
        )
        .await;
    assert_eq!(status, 201, "{repository}");
    assert_eq!(
        repository["vendor_fingerprint"],
        gpg.fingerprint("vendor@example.com")
    );
    assert_eq!(
        repository["repository_name"],
        "registry.example.com/vendor/wallet"
    );
    assert!(
        repository["envs_whitelist"]
            .as_array()
            .unwrap()
            .contains(&json!("WALLET_MODE"))
    );
}
