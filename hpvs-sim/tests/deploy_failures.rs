//! Deploys that must fail, each ending the server `failed` with the step and the cause, and
//! leaving nothing running or mounted: a tag re-signed by another root, a layer tampered with
//! in the registry's storage, the registry or Notary unreachable (and a retry after they
//! return succeeds).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{Api, Stack, free_port, publish_signed_image, register};
use hpvs_sim::{Appliance, ApplianceOptions};
use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::repository::{InitOptions, KeyHolder};
use notary_client::transport::ServerConfig;
use serde_json::{Value, json};

fn server_body(name: &str) -> Value {
    json!({
        "name": name, "repo": "app-repo", "tag": "latest", "cpu": 1, "ram": 256,
        "quotagroups": [{"quotagroup": "qg", "mountid": "data", "mount": "/data",
                         "filesystem": "ext4", "size": 16u64 << 20}],
        "ports": [{"containerport": 8080, "protocol": "tcp", "hostport": free_port()}],
    })
}

struct Fixture {
    stack: Stack,
    gun: String,
    appliance: Arc<Appliance>,
    api: Api,
}

impl Fixture {
    async fn new() -> Fixture {
        let stack = Stack::start();
        let (gun, root) = publish_signed_image(&stack).await;
        let appliance = Appliance::open(ApplianceOptions {
            state_dir: stack.dir.path().join("appliance"),
            outbound_ca_pem: Some(stack.ca_pem.clone()),
        })
        .unwrap();
        let api = Api::start(Arc::clone(&appliance), stack.dir.path()).await;
        register(&api, &stack, &gun, &root, 256 << 20).await;
        Fixture {
            stack,
            gun,
            appliance,
            api,
        }
    }

    /// Creates `name` and waits; returns its state and reason.
    async fn deploy(&self, name: &str) -> (String, String) {
        let (status, answer) = self
            .api
            .call("POST", "/virtual-servers", Some(server_body(name)))
            .await;
        assert_eq!(status, 202, "{answer}");
        let server = self.api.wait_settled(name).await;
        (
            server["state"].as_str().unwrap().to_owned(),
            server["reason"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// A failed server holds nothing on the host; deleting it removes its record.
    async fn assert_nothing_left(&self, name: &str) {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
        assert!(
            !mounts.contains(self.stack.dir.path().to_str().unwrap()),
            "a mount is left after {name} failed"
        );
        assert!(self.appliance.runtime_orphans().unwrap().is_empty());
        let (status, answer) = self
            .api
            .call("DELETE", &format!("/virtual-servers/{name}"), None)
            .await;
        assert_eq!(status, 204, "{answer}");
    }

    fn notary_config(&self) -> ServerConfig {
        ServerConfig {
            ca_pem: Some(self.stack.ca_pem.clone()),
            ..ServerConfig::from_url(&self.stack.notary_url).unwrap()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_resigned_by_another_root_is_refused() {
    let fixture = Fixture::new().await;
    // The collection is deleted and made again under a new root, signing the same image.
    let vendor = notary_client::repository::Client::new(
        fixture.stack.dir.path().join("vendor-trust"),
        &fixture.notary_config(),
        Fixed(Passphrase::new("vendor-passphrase")),
    )
    .unwrap();
    let original = vendor.repository(&fixture.gun).unwrap();
    let meta = original
        .lookup("latest")
        .await
        .unwrap()
        .file_meta()
        .unwrap();
    original.delete_remote().await.unwrap();
    let attacker = notary_client::repository::Client::new(
        fixture.stack.dir.path().join("attacker-trust"),
        &fixture.notary_config(),
        Fixed(Passphrase::new("attacker-passphrase")),
    )
    .unwrap();
    let hijacked = attacker.repository(&fixture.gun).unwrap();
    hijacked
        .init(&InitOptions {
            root_key: None,
            snapshot: KeyHolder::Server,
        })
        .await
        .unwrap();
    hijacked.add_target("latest", meta, &[]).unwrap();
    hijacked.publish().await.unwrap();

    let (state, reason) = fixture.deploy("hijacked").await;
    assert_eq!(state, "failed");
    assert!(reason.starts_with("resolve latest"), "{reason}");
    assert!(reason.contains("not pinned"), "{reason}");
    fixture.assert_nothing_left("hijacked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_tampered_with_in_the_registry_is_refused_before_it_runs() {
    let fixture = Fixture::new().await;
    // Every layer blob in the registry's storage gets 8 bytes changed, keeping its size.
    let blobs = fixture
        .stack
        .registry
        .storage_dir()
        .join("docker/registry/v2/blobs/sha256");
    let mut tampered = 0;
    for prefix in std::fs::read_dir(&blobs).unwrap() {
        for blob in std::fs::read_dir(prefix.unwrap().path()).unwrap() {
            let data = blob.unwrap().path().join("data");
            let mut bytes = std::fs::read(&data).unwrap();
            // Layers are the large blobs; manifests and configs are small JSON.
            if bytes.len() > 4096 {
                let middle = bytes.len() / 2;
                for byte in &mut bytes[middle..middle + 8] {
                    *byte ^= 0x5a;
                }
                std::fs::write(&data, &bytes).unwrap();
                tampered += 1;
            }
        }
    }
    assert!(tampered > 0, "no layer blob found to tamper with");

    let (state, reason) = fixture.deploy("tampered").await;
    assert_eq!(state, "failed");
    assert!(reason.starts_with("pull "), "{reason}");
    assert!(reason.contains("digest"), "{reason}");
    fixture.assert_nothing_left("tampered").await;
    assert!(
        !fixture
            .stack
            .dir
            .path()
            .join("appliance/rootfs/tampered")
            .exists(),
        "the tampered image was unpacked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_registry_or_notary_fails_the_deploy_and_a_retry_succeeds() {
    let mut fixture = Fixture::new().await;

    fixture.stack.registry.stop();
    let (state, reason) = fixture.deploy("retry").await;
    assert_eq!(state, "failed");
    assert!(reason.starts_with("pull "), "{reason}");
    fixture.assert_nothing_left("retry").await;
    fixture.stack.registry.restart().unwrap();
    assert_eq!(fixture.deploy("retry").await.0, "running");
    let (status, _) = fixture
        .api
        .call("DELETE", "/virtual-servers/retry", None)
        .await;
    assert_eq!(status, 204);

    // Notary on a dead address (an in-memory notary-server loses its data on restart, so the
    // outage is the registry's Notary URL pointing where nothing answers).
    let dead = format!("https://127.0.0.1:{}", free_port());
    let (status, answer) = fixture
        .api
        .call("PUT", "/registries/lab", Some(json!({"dct": dead})))
        .await;
    assert_eq!(status, 200, "{answer}");
    let (state, reason) = fixture.deploy("retry").await;
    assert_eq!(state, "failed");
    assert!(reason.starts_with("resolve latest"), "{reason}");
    fixture.assert_nothing_left("retry").await;
    let (status, _) = fixture
        .api
        .call(
            "PUT",
            "/registries/lab",
            Some(json!({"dct": fixture.stack.notary_url})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(fixture.deploy("retry").await.0, "running");
    let (status, answer) = fixture
        .api
        .call("DELETE", "/virtual-servers/retry", None)
        .await;
    assert_eq!(status, 204, "{answer}");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains(fixture.stack.dir.path().to_str().unwrap()),
        "a mount is left after the deletes"
    );
    assert!(fixture.appliance.runtime_orphans().unwrap().is_empty());
}
