//! The lab's flow through the appliance API, with real peers: a `SecureDockerBuild` server
//! (mutual TLS from its env) clones the source from the git host over SSH, builds, pushes and
//! signs with keys it makes; its signed manifest verifies; its `config-json` becomes the
//! registration file; the appliance deploys the image pinned to the build server's root and
//! the workload answers. Deleted and created again on the same mounts, the build server keeps
//! its keys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use common::{
    Api, Stack, build_server_body, build_to_success, busybox, free_port, sbs, sbs_client, wait_for,
};
use hpvs_sim::{Appliance, ApplianceOptions};
use keymgmt::mtls::{MtlsMaterial, SubjectAltName};
use registry_http::Secret;
use serde_json::json;
use ssc_register::{KeyKind, Registration, RootKey, SecretKey};

const START_SCRIPT: &str = "#!/bin/busybox sh
busybox mkdir -p /www
echo built-by-the-sbs > /www/index.txt
exec busybox httpd -f -p 8080 -h /www
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_labs_build_server_builds_signs_and_its_image_deploys_pinned_to_its_root() {
    let stack = Stack::start();
    let git_host = devstack::GitHost::start().unwrap();
    let deploy_key = stack.dir.path().join("github_rsa");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&deploy_key)
        .status()
        .unwrap();
    assert!(status.success());
    git_host
        .authorize(&std::fs::read_to_string(deploy_key.with_extension("pub")).unwrap())
        .unwrap();
    let url = git_host.create_repository("wallet").unwrap();
    let source = stack.dir.path().join("source");
    std::fs::create_dir_all(source.join("rootfs/bin")).unwrap();
    std::fs::copy(busybox(), source.join("rootfs/bin/busybox")).unwrap();
    std::fs::write(source.join("rootfs/start.sh"), START_SCRIPT).unwrap();
    std::fs::write(
        source.join("Dockerfile"),
        "FROM scratch\nCOPY --chmod=755 rootfs/ /\nENTRYPOINT [\"/bin/busybox\", \"sh\"]\nCMD [\"/start.sh\"]\n",
    )
    .unwrap();
    git_host.push_tree("wallet", &source, "wallet").unwrap();

    let appliance = Appliance::open(ApplianceOptions {
        state_dir: stack.dir.path().join("appliance"),
        outbound_ca_pem: Some(stack.ca_pem.clone()),
    })
    .unwrap();
    let api = Api::start(Arc::clone(&appliance), stack.dir.path()).await;
    common::register_registry(&api, &stack).await;
    let (status, _) = api
        .call(
            "POST",
            "/quotagroups",
            Some(json!({"name": "sb_user00", "size": 128u64 << 20})),
        )
        .await;
    assert_eq!(status, 201);

    // 2: the build server, with the lab's mutual-TLS env.
    let material =
        MtlsMaterial::generate("sbs.hpvs-lab.example", &SubjectAltName::loopback()).unwrap();
    let port = free_port();
    let (status, answer) = api
        .call(
            "POST",
            "/virtual-servers",
            Some(build_server_body("sbserver", port, &material, true)),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(api.wait_settled("sbserver").await["state"], "running");
    let base = format!("https://127.0.0.1:{port}");
    let client = sbs_client(&material);
    let (_, fresh) = sbs(&client, &base, "GET", "/image", None).await;
    assert_eq!(fresh["status"], "");

    let params = json!({
        "GITHUB_URL": url, "GITHUB_BRANCH": "main",
        "GITHUB_KEY": std::fs::read_to_string(&deploy_key).unwrap(),
        "DOCKER_REPO": "lab/wallet", "DOCKER_USER": "", "DOCKER_PASSWORD": "",
        "DOCKER_PUSH_SERVER": format!("http://{}", stack.registry.host()),
        "DOCKER_CONTENT_TRUST_PUSH_SERVER": stack.notary_url,
        "IMAGE_TAG_PREFIX": "latest",
        "ENV_WHITELIST": ["GREETING"],
        "SECRET": base64::engine::general_purpose::STANDARD.encode([7u8; 128]),
        "BUILD_IMAGE_TAG": "1.2.7.5",
    });
    let (status, answer) = sbs(&client, &base, "POST", "/image", Some(params)).await;
    assert_eq!(status, 200, "{answer}");
    let built = build_to_success(&client, &base).await;
    let build_name = built["build_name"].as_str().unwrap().to_owned();
    // The Go notary client, from an empty trust dir, sees both tags signed.
    let gun = format!("{}/lab/wallet", stack.registry.host());
    let listed = devstack::NotaryCli::new(&stack.notary)
        .unwrap()
        .run(&["list", &gun])
        .unwrap();
    let image_tag = built["image_tag"].as_str().unwrap();
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().next() == Some("latest")),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.split_whitespace().next() == Some(image_tag)),
        "{listed}"
    );
    assert!(
        built["image_tag"].as_str().unwrap().starts_with("latest-"),
        "{built}"
    );

    // The manifest verifies with the build's public key.
    let (_, manifest) = sbs(&client, &base, "GET", "/manifest", None).await;
    assert_eq!(manifest["manifest_name"], format!("manifest.{build_name}"));
    let sig_tbz = base64::engine::general_purpose::STANDARD
        .decode(manifest["encoded_manifest"].as_str().unwrap())
        .unwrap();
    let (_, public) = sbs(&client, &base, "GET", "/publickey", None).await;
    let verified =
        hpvs_sim::sbs::manifest::verify(&sig_tbz, public["public_key_pem"].as_str().unwrap())
            .unwrap();
    assert!(
        verified.files.iter().any(|f| f == "data/build.log"),
        "{:?}",
        verified.files
    );
    // Its git/ is the commit that was built, and build.json names that commit and no secret.
    let head = Command::new("git")
        .arg("-C")
        .arg(&source)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap().trim().to_owned();
    assert_eq!(
        verified.build_json["git_commit"],
        json!(head),
        "{}",
        verified.build_json
    );
    assert!(built["image_tag"].as_str().unwrap().ends_with(&head[..7]));
    for file in ["git/Dockerfile", "git/rootfs/start.sh"] {
        assert!(
            verified.files.iter().any(|f| f == file),
            "{file} missing: {:?}",
            verified.files
        );
    }
    let recorded = verified.build_json.to_string();
    assert!(
        !recorded.contains("BEGIN OPENSSH PRIVATE KEY"),
        "{recorded}"
    );
    assert!(!recorded.contains("GITHUB_KEY"), "{recorded}");

    // 3: the registration data becomes the registration file.
    let (status, config) = sbs(&client, &base, "GET", "/config-json", None).await;
    assert_eq!(status, 201, "{config}");
    let root = RootKey::new(
        config["public_key_id"].as_str().unwrap(),
        config["public_key"].as_str().unwrap(),
    )
    .unwrap();
    let (_, key) = api.call("GET", "/appliance/key", None).await;
    let appliance_key =
        ssc_register::PublicKey::from_armored(key["public_key"].as_str().unwrap().as_bytes())
            .unwrap();
    let vendor = SecretKey::generate(
        KeyKind::Ed25519,
        "Vendor <v@example.com>",
        Secret::new("pw"),
    )
    .unwrap();
    let registration = Registration::builder(config["repository_name"].as_str().unwrap(), root)
        .env_whitelist(["GREETING"])
        .build(&vendor.public_key())
        .unwrap();
    let regfile = ssc_register::seal::seal(&registration, &vendor, &appliance_key).unwrap();
    let (status, answer) = api
        .call(
            "POST",
            "/repositories",
            Some(json!({"id": "wallet", "regfile": regfile})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");

    // 4 and 5: deployed pinned to the build server's root, and reached.
    let (status, _) = api
        .call(
            "POST",
            "/quotagroups",
            Some(json!({"name": "wallet", "size": 64u64 << 20})),
        )
        .await;
    assert_eq!(status, 201);
    let app_port = free_port();
    let (status, answer) = api
        .call(
            "POST",
            "/virtual-servers",
            Some(
                json!({"name": "wallet", "repo": "wallet", "tag": "latest", "cpu": 1, "ram": 256,
                "quotagroups": [{"quotagroup": "wallet", "mountid": "data", "mount": "/data",
                                 "filesystem": "ext4", "size": 32u64 << 20}],
                "ports": [{"containerport": 8080, "protocol": "tcp", "hostport": app_port}]}),
            ),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let wallet = api.wait_settled("wallet").await;
    assert_eq!(wallet["state"], "running", "{wallet}");
    let page = wait_for(SocketAddr::from(([127, 0, 0, 1], app_port)), "/index.txt").await;
    assert_eq!(page, "built-by-the-sbs\n");

    // Deleted and created again on the same mounts (data not reset), it keeps its keys: the
    // next build signs with the same root.
    let (status, _) = api.call("DELETE", "/virtual-servers/sbserver", None).await;
    assert_eq!(status, 204);
    let (status, answer) = api
        .call(
            "POST",
            "/virtual-servers",
            Some(build_server_body("sbserver", port, &material, false)),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(api.wait_settled("sbserver").await["state"], "running");
    std::fs::write(
        source.join("rootfs/start.sh"),
        START_SCRIPT.replace("built-by-the-sbs", "second"),
    )
    .unwrap();
    git_host.push_tree("wallet", &source, "second").unwrap();
    build_to_success(&client, &base).await;
    let (_, again) = sbs(&client, &base, "GET", "/config-json", None).await;
    assert_eq!(again["public_key_id"], config["public_key_id"]);

    // A client without the lab's certificate is refused in the handshake.
    let stranger = reqwest::Client::builder()
        .use_preconfigured_tls(
            registry_http::TlsOptions {
                roots: registry_http::TrustRoots::CustomCa(
                    material.ca().certificate_pem().as_bytes().to_vec(),
                ),
                client_identity_pem: None,
            }
            .client_config()
            .unwrap(),
        )
        .build()
        .unwrap();
    assert!(stranger.get(format!("{base}/image")).send().await.is_err());

    for name in ["wallet", "sbserver"] {
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
