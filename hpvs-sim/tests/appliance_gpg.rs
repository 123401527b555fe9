//! The appliance's key and registration files against real GnuPG: gpg imports the key
//! `GET /appliance/key` exports, encrypts to it and signs with a vendor key of its own
//! (`gpg --encrypt --sign --armor`, as the lab does), and the appliance registers the file
//! and binds that vendor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{Api, Gpg};
use hpvs_sim::{Appliance, ApplianceOptions};
use serde_json::json;
use ssc_register::{PublicKey, Registration, RootKey};

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

    let gpg = Gpg::new();
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
