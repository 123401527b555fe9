//! The state image of a `SecureDockerBuild` server, through the appliance API with real peers
//! (git over SSH, docker-registry, notary-server, the Go `notary` client): a build makes the
//! DCT root; the state is exported; the server is deleted and created again with its mounts
//! emptied (`reset_root`); a wrong `SECRET` and a tampered state are refused with their own
//! errors; the import with the same `SECRET`, an update and a build sign the new tags with
//! the same root, verified by Go from an empty trust dir. A second build server that never
//! got the state cannot sign the repository, and says why.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use common::{
    Api, Stack, build_server_body, build_to_end, build_to_success, busybox, free_port, sbs,
    sbs_client,
};
use hpvs_sim::{Appliance, ApplianceOptions};
use keymgmt::mtls::{MtlsMaterial, SubjectAltName};
use serde_json::{Value, json};

/// The git host with the repository `wallet` (a RUN-less Dockerfile), its SSH URL and the
/// deploy key's private half.
struct Source {
    host: devstack::GitHost,
    dir: std::path::PathBuf,
    url: String,
    deploy_key: String,
}

impl Source {
    fn create(dir: &Path) -> Source {
        let host = devstack::GitHost::start().unwrap();
        let key_path = dir.join("github_ed25519");
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key_path)
            .status()
            .unwrap();
        assert!(status.success());
        host.authorize(&std::fs::read_to_string(key_path.with_extension("pub")).unwrap())
            .unwrap();
        let url = host.create_repository("wallet").unwrap();
        let source = dir.join("source");
        std::fs::create_dir_all(source.join("rootfs/bin")).unwrap();
        std::fs::copy(busybox(), source.join("rootfs/bin/busybox")).unwrap();
        std::fs::write(source.join("rootfs/version"), "1\n").unwrap();
        std::fs::write(
            source.join("Dockerfile"),
            "FROM scratch\nCOPY rootfs/ /\nENTRYPOINT [\"/bin/busybox\", \"sh\"]\n",
        )
        .unwrap();
        let source = Source {
            host,
            dir: source,
            url,
            deploy_key: std::fs::read_to_string(&key_path).unwrap(),
        };
        source.push("wallet");
        source
    }

    /// Commits the source with `message` and pushes it.
    fn push(&self, message: &str) {
        self.host.push_tree("wallet", &self.dir, message).unwrap();
    }

    /// A new commit, pushed.
    fn change(&self, version: &str) {
        std::fs::write(self.dir.join("rootfs/version"), version).unwrap();
        self.push(version);
    }
}

const SECRET: [u8; 128] = [7; 128];

fn init_params(source: &Source, stack: &Stack) -> Value {
    json!({
        "GITHUB_URL": source.url, "GITHUB_BRANCH": "main", "GITHUB_KEY": source.deploy_key,
        "DOCKER_REPO": "lab/wallet", "DOCKER_USER": "", "DOCKER_PASSWORD": "",
        "DOCKER_PUSH_SERVER": format!("http://{}", stack.registry.host()),
        "DOCKER_CONTENT_TRUST_PUSH_SERVER": stack.notary_url,
        "IMAGE_TAG_PREFIX": "latest", "REPO_ID": "wallet",
        "SECRET": base64::engine::general_purpose::STANDARD.encode(SECRET),
        "BUILD_IMAGE_TAG": "1.2.7.5",
    })
}

/// A build server `name` on a free port (its `data` mount reset when `reset_root`); its base
/// URL and the lab's client.
async fn create_build_server(api: &Api, name: &str, reset_root: bool) -> (String, reqwest::Client) {
    let material =
        MtlsMaterial::generate("sbs.hpvs-lab.example", &SubjectAltName::loopback()).unwrap();
    let port = free_port();
    let (status, answer) = api
        .call(
            "POST",
            "/virtual-servers",
            Some(build_server_body(name, port, &material, reset_root)),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(api.wait_settled(name).await["state"], "running");
    (format!("https://127.0.0.1:{port}"), sbs_client(&material))
}

/// The tags of `gun` the Go notary client lists from an empty trust dir.
fn go_listed_tags(stack: &Stack, gun: &str) -> Vec<String> {
    devstack::NotaryCli::new(&stack.notary)
        .unwrap()
        .run(&["list", gun])
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_image_moves_the_root_to_a_new_build_server_and_nothing_else_can_sign() {
    let stack = Stack::start();
    let source = Source::create(stack.dir.path());
    let appliance = Appliance::open(ApplianceOptions {
        state_dir: stack.dir.path().join("appliance"),
        outbound_ca_pem: Some(stack.ca_pem.clone()),
    })
    .unwrap();
    let api = Api::start(Arc::clone(&appliance), stack.dir.path()).await;
    for group in ["sb_user00", "sb_user01"] {
        let (status, answer) = api
            .call(
                "POST",
                "/quotagroups",
                Some(json!({"name": group, "size": 128u64 << 20})),
            )
            .await;
        assert_eq!(status, 201, "{answer}");
    }
    let gun = format!("{}/lab/wallet", stack.registry.host());

    // The first build server makes the DCT root on its first build.
    let (base, client) = create_build_server(&api, "sbserver", true).await;
    let params = init_params(&source, &stack);
    let (status, answer) = sbs(&client, &base, "POST", "/image", Some(params.clone())).await;
    assert_eq!(status, 200, "{answer}");
    build_to_success(&client, &base).await;
    let (status, first) = sbs(&client, &base, "GET", "/config-json", None).await;
    assert_eq!(status, 201, "{first}");
    let root_key_id = first["public_key_id"].as_str().unwrap().to_owned();
    assert_eq!(root_key_id.len(), 64, "{first}");

    let (status, image) = sbs(&client, &base, "GET", "/state-image", None).await;
    assert_eq!(status, 200, "{image}");
    assert!(
        image["name"].as_str().unwrap().starts_with("sbs-state."),
        "{image}"
    );
    assert!(!image["export_tag"].as_str().unwrap().is_empty(), "{image}");
    let state = image["state"].as_str().unwrap().to_owned();

    // The server deleted, and created again with its mounts emptied: a fresh server.
    let (status, _) = api.call("DELETE", "/virtual-servers/sbserver", None).await;
    assert_eq!(status, 204);
    let (base, client) = create_build_server(&api, "sbserver", true).await;
    let (_, fresh) = sbs(&client, &base, "GET", "/image", None).await;
    assert_eq!(fresh["status"], "", "{fresh}");
    let (status, _) = sbs(&client, &base, "GET", "/config-json", None).await;
    assert_eq!(status, 404, "the new server still has a build");

    // A wrong SECRET and a tampered state: refused, each with its own error, nothing
    // installed.
    let wrong = base64::engine::general_purpose::STANDARD.encode([8u8; 128]);
    let (status, answer) = sbs(
        &client,
        &base,
        "POST",
        "/state-image",
        Some(json!({"secret": wrong, "state": state})),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("another SECRET"),
        "{answer}"
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bytes = b64.decode(&state).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 0x40;
    let secret = b64.encode(SECRET);
    let (status, answer) = sbs(
        &client,
        &base,
        "POST",
        "/state-image",
        Some(json!({"secret": secret, "state": b64.encode(&bytes)})),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("altered after export"),
        "{answer}"
    );
    let (_, still_fresh) = sbs(&client, &base, "GET", "/image", None).await;
    assert_eq!(still_fresh["status"], "", "{still_fresh}");
    let (status, _) = sbs(&client, &base, "PUT", "/image", None).await;
    assert_eq!(status, 409, "a refused import left parameters behind");

    // The import with the same SECRET, the update the spec asks for, a new commit, a build:
    // the same root signs, and Go verifies the new tag from an empty trust dir.
    let (status, answer) = sbs(
        &client,
        &base,
        "POST",
        "/state-image",
        Some(json!({"secret": secret, "state": state})),
    )
    .await;
    assert_eq!((status, &answer["status"]), (200, &json!("OK")), "{answer}");
    let (status, answer) = sbs(&client, &base, "PATCH", "/image", Some(params.clone())).await;
    assert_eq!(status, 200, "{answer}");
    source.change("2\n");
    let rebuilt = build_to_success(&client, &base).await;
    let (_, again) = sbs(&client, &base, "GET", "/config-json", None).await;
    assert_eq!(again["public_key_id"], json!(root_key_id), "{again}");
    assert_eq!(again["public_key"], first["public_key"]);
    let image_tag = rebuilt["image_tag"].as_str().unwrap();
    let listed = go_listed_tags(&stack, &gun);
    assert!(
        listed.iter().any(|t| t == image_tag),
        "{image_tag}: {listed:?}"
    );
    let log = common::build_log(&client, &base).await;
    assert!(log.contains(&format!("keyid={root_key_id}")), "{log}");

    // A second, fresh build server without the state cannot sign the repository: the
    // collection is owned by the first root. Its build fails at the signing step, saying why.
    let material =
        MtlsMaterial::generate("sbs.hpvs-lab.example", &SubjectAltName::loopback()).unwrap();
    let port = free_port();
    let mut body = build_server_body("stranger", port, &material, true);
    for mount in body["quotagroups"].as_array_mut().unwrap() {
        mount["quotagroup"] = json!("sb_user01");
    }
    let (status, answer) = api.call("POST", "/virtual-servers", Some(body)).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(api.wait_settled("stranger").await["state"], "running");
    let (stranger_base, stranger) = (format!("https://127.0.0.1:{port}"), sbs_client(&material));
    let (status, answer) = sbs(&stranger, &stranger_base, "POST", "/image", Some(params)).await;
    assert_eq!(status, 200, "{answer}");
    source.change("3\n");
    let (failed, log) = build_to_end(&stranger, &stranger_base).await;
    let status = failed["status"].as_str().unwrap();
    assert!(
        status.starts_with("exiting due to a non-zero return value: ")
            && status.ends_with("cmd: sign"),
        "{failed}"
    );
    assert!(log.contains("another root"), "{log}");
    // The repository's tags still verify under the first root.
    let listed = go_listed_tags(&stack, &gun);
    assert!(listed.iter().any(|t| t == image_tag), "{listed:?}");

    for name in ["sbserver", "stranger"] {
        let (status, _) = api
            .call("DELETE", &format!("/virtual-servers/{name}"), None)
            .await;
        assert_eq!(status, 204);
    }
    appliance.delete_all_servers().await.unwrap();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains(stack.dir.path().to_str().unwrap()),
        "a mount is left"
    );
}
