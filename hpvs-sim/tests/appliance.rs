//! The appliance API end to end, against real notary-server (TLS), docker-registry and runc
//! (root): an image built and pushed by oci-push, signed with DCT, registered with a sealed
//! registration file, deployed by `POST /virtual-servers`, reached on its host port, stopped,
//! restarted and deleted; the refusals each with their own code and nothing left behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Api, Gpg, Stack, free_port, http_get, publish_signed_image, wait_for};
use hpvs_api::wire::{self, ErrorCode};
use hpvs_sim::{Appliance, ApplianceOptions};
use registry_http::Secret;
use serde_json::{Value, json};
use ssc_register::{KeyKind, Registration, SecretKey};

fn server_body(name: &str, hostport: u16, env: Value, size: u64) -> Value {
    json!({
        "name": name, "repo": "app-repo", "tag": "latest", "cpu": 1, "ram": 256,
        "quotagroups": [{"quotagroup": "qg", "mountid": "data", "mount": "/data",
                         "filesystem": "ext4", "size": size, "reset_root": true}],
        "env": env,
        "ports": [{"containerport": 8080, "protocol": "tcp", "hostport": hostport}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_registered_image_runs_is_reached_and_leaves_nothing_when_deleted() {
    let stack = Stack::start();
    let (gun, root) = publish_signed_image(&stack).await;

    let state_dir = stack.dir.path().join("appliance");
    let appliance = Appliance::open(ApplianceOptions {
        state_dir: state_dir.clone(),
        outbound_ca_pem: Some(stack.ca_pem.clone()),
    })
    .unwrap();
    let api = Api::start(Arc::clone(&appliance), stack.dir.path()).await;

    // Auth: no token or a wrong one is refused on every path, the OpenAPI document included.
    for path in [
        "/openapi.json",
        "/registries",
        "/virtual-servers/x",
        "/nope",
    ] {
        for token in [None, Some("wrong")] {
            let (status, answer) = api.call_as(token, "GET", path, None).await;
            assert_eq!(status, 401, "{path} with {token:?}: {answer}");
            assert_eq!(answer["code"], "UNAUTHORIZED");
        }
    }
    let (status, document) = api.call("GET", "/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(document["paths"]["/virtual-servers"]["post"].is_object());
    assert!(document["components"]["schemas"]["NewVirtualServer"].is_object());

    // Set up: the registry with a password that no answer ever shows.
    let (status, added) = api
        .call(
            "POST",
            "/registries",
            Some(
                json!({"name": "lab", "url": format!("http://{}", stack.registry.host()),
                        "dct": stack.notary_url, "user": "puller", "password": "registry-pw-77"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["has_password"], true);

    // Register: a registration file made by gpg (encrypted to the key the appliance exports,
    // signed by a vendor key of gpg's), as the lab makes it.
    let (status, key) = api.call("GET", "/appliance/key", None).await;
    assert_eq!(status, 200);
    let appliance_armored = key["public_key"].as_str().unwrap();
    let appliance_key =
        ssc_register::PublicKey::from_armored(appliance_armored.as_bytes()).unwrap();
    let gpg = Gpg::new();
    let vendor_armored = gpg.vendor("v@example.com");
    let vendor_public = ssc_register::PublicKey::from_armored(vendor_armored.as_bytes()).unwrap();
    let registration = Registration::builder(gun.clone(), root.clone())
        .env_whitelist(["GREETING"])
        .build(&vendor_public)
        .unwrap();
    let sealed = gpg.seal(
        &registration.to_json().unwrap(),
        "v@example.com",
        appliance_armored,
    );
    let (status, repository) = api
        .call(
            "POST",
            "/repositories",
            Some(json!({"id": "app-repo", "regfile": sealed})),
        )
        .await;
    assert_eq!(status, 201, "{repository}");
    assert_eq!(repository["root_key_id"], root.key_id());
    assert_eq!(
        repository["vendor_fingerprint"],
        gpg.fingerprint("v@example.com")
    );
    // A file sealed to another appliance is refused.
    let stranger = SecretKey::generate(KeyKind::Ed25519, "Other", Secret::default()).unwrap();
    let misaddressed = gpg.seal(
        &registration.to_json().unwrap(),
        "v@example.com",
        &stranger.public_key().to_armored().unwrap(),
    );
    api.refused(
        "POST",
        "/repositories",
        json!({"id": "other", "regfile": misaddressed}),
        ErrorCode::RegfileRejected,
    )
    .await;
    // An update must come from the same vendor: another vendor's file is refused and the
    // registration stays; the vendor's own update (a wider whitelist) is taken.
    let impostor = SecretKey::generate(
        KeyKind::Ed25519,
        "Impostor <i@example.com>",
        Secret::new("pw"),
    )
    .unwrap();
    let hijack = Registration::builder(gun.clone(), root.clone())
        .env_whitelist(["GREETING", "EVIL"])
        .build(&impostor.public_key())
        .unwrap();
    let hijack = ssc_register::seal::seal(&hijack, &impostor, &appliance_key).unwrap();
    api.refused(
        "PUT",
        "/repositories/app-repo",
        json!({"id": "app-repo", "regfile": hijack}),
        ErrorCode::VendorMismatch,
    )
    .await;
    let (_, kept) = api.call("GET", "/repositories/app-repo", None).await;
    assert_eq!(kept["vendor_fingerprint"], gpg.fingerprint("v@example.com"));
    let wider = Registration::builder(gun.clone(), root.clone())
        .env_whitelist(["GREETING", "LOG_LEVEL"])
        .build(&vendor_public)
        .unwrap();
    let wider = gpg.seal(
        &wider.to_json().unwrap(),
        "v@example.com",
        appliance_armored,
    );
    let (status, updated) = api
        .call(
            "PUT",
            "/repositories/app-repo",
            Some(json!({"id": "app-repo", "regfile": wider})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert!(
        updated["envs_whitelist"]
            .as_array()
            .unwrap()
            .contains(&json!("LOG_LEVEL")),
        "{updated}"
    );

    let (status, _) = api
        .call(
            "POST",
            "/quotagroups",
            Some(json!({"name": "qg", "size": 96u64 << 20, "filesystem": "ext4"})),
        )
        .await;
    assert_eq!(status, 201);

    // Refusals, each before anything is recorded or run.
    let port = free_port();
    let mut unregistered = server_body("bad", port, json!({}), 32 << 20);
    unregistered["repo"] = json!("never-registered");
    let message = api
        .refused(
            "POST",
            "/virtual-servers",
            unregistered,
            ErrorCode::NotFound,
        )
        .await;
    assert!(message.contains("never-registered"), "{message}");
    api.refused(
        "POST",
        "/virtual-servers",
        server_body("bad", port, json!({"NOT_LISTED": "1"}), 32 << 20),
        ErrorCode::EnvNotWhitelisted,
    )
    .await;
    api.refused(
        "POST",
        "/virtual-servers",
        server_body("bad", port, json!({"RUNQ_ROOTDISK": "new"}), 32 << 20),
        ErrorCode::EnvReserved,
    )
    .await;
    let message = api
        .refused(
            "POST",
            "/virtual-servers",
            server_body("bad", port, json!({}), 200 << 20),
            ErrorCode::QuotaExceeded,
        )
        .await;
    assert!(message.contains("\"qg\""), "{message}");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    api.refused(
        "POST",
        "/virtual-servers",
        server_body(
            "bad",
            holder.local_addr().unwrap().port(),
            json!({}),
            32 << 20,
        ),
        ErrorCode::PortTaken,
    )
    .await;
    drop(holder);
    let (_, servers) = api.call("GET", "/virtual-servers", None).await;
    assert_eq!(servers, json!([]), "a refused server was recorded");

    // Deploy: resolved pinned, pulled, verified, run; reached on its host port.
    let (status, created) = api
        .call(
            "POST",
            "/virtual-servers",
            Some(server_body(
                "web",
                port,
                json!({"GREETING": "hello"}),
                64 << 20,
            )),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["state"], "creating");
    let server = api.wait_settled("web").await;
    assert_eq!(server["state"], "running", "{server}");
    assert!(server["digest"].as_str().unwrap().starts_with("sha256:"));
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let env = wait_for(address, "/env.txt").await;
    assert!(env.contains("GREETING=hello"), "{env}");
    assert!(env.contains("MODE=image"), "{env}");
    assert_eq!(wait_for(address, "/hostname.txt").await.trim(), "web");
    assert_eq!(wait_for(address, "/boots.txt").await, "boot\n");
    // The same host port for a second server names the first.
    let message = api
        .refused(
            "POST",
            "/virtual-servers",
            server_body("web2", port, json!({}), 16 << 20),
            ErrorCode::PortTaken,
        )
        .await;
    assert!(message.contains("web"), "{message}");

    // The data mount survives a restart, and a followed log shows the restarted workload;
    // stop closes the port.
    let mut followed = api.follow_logs("web").await;
    let (status, restarted) = api.call("POST", "/virtual-servers/web/restart", None).await;
    assert_eq!(status, 200, "{restarted}");
    let mut seen = String::new();
    while seen.matches("workload up").count() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(15), followed.chunk())
            .await
            .expect("the followed log sent nothing new after the restart")
            .unwrap()
            .expect("the followed log ended while the server exists");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(followed);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if http_get(address, "/boots.txt").as_deref() == Some("boot\nboot\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the data did not survive the restart"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let (status, logs) = api
        .call("GET", "/virtual-servers/web/logs?tail=5", None)
        .await;
    assert_eq!(status, 200);
    assert!(logs.as_str().unwrap().contains("workload up"), "{logs}");
    let (status, stopped) = api.call("POST", "/virtual-servers/web/stop", None).await;
    assert_eq!(status, 200);
    assert_eq!(stopped["state"], "stopped");
    assert!(
        http_get(address, "/env.txt").is_none(),
        "a stopped server answers"
    );

    // Everything in use says by whom.
    api.refused(
        "DELETE",
        "/quotagroups/qg",
        json!(null),
        ErrorCode::Conflict,
    )
    .await;
    api.refused(
        "DELETE",
        "/registries/lab",
        json!(null),
        ErrorCode::Conflict,
    )
    .await;
    api.refused(
        "DELETE",
        "/repositories/app-repo",
        json!(null),
        ErrorCode::Conflict,
    )
    .await;

    // No answer of any call carries the registry password or a secret key.
    for path in [
        "/registries",
        "/registries/lab",
        "/repositories",
        "/virtual-servers",
        "/images",
    ] {
        let (_, answer) = api.call("GET", path, None).await;
        let text = answer.to_string();
        assert!(
            !text.contains("registry-pw-77"),
            "{path} leaks the password"
        );
        assert!(!text.contains("PRIVATE KEY"), "{path} leaks a key");
    }

    // Clean up: force deletes the server (and its image); nothing is left on the host.
    let (status, deleted) = api
        .call("DELETE", "/repositories/app-repo?force=true", None)
        .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["servers"], json!(["web"]));
    assert_eq!(deleted["images"].as_array().unwrap().len(), 1);
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains(state_dir.to_str().unwrap()),
        "a mount of the appliance is left"
    );
    let orphans = appliance
        .runtime_orphans()
        .expect("the runtime lists what it made");
    assert!(orphans.is_empty(), "left behind: {orphans:?}");
    let (status, _) = api.call("DELETE", "/quotagroups/qg", None).await;
    assert_eq!(status, 204);
    let (status, _) = api.call("DELETE", "/registries/lab", None).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_error_code() {
    let document = serde_json::to_value(hpvs_sim::api::openapi_document()).unwrap();
    for path in [
        "/appliance/key",
        "/registries",
        "/registries/{name}",
        "/repositories",
        "/repositories/{id}",
        "/quotagroups",
        "/quotagroups/{name}",
        "/virtual-servers",
        "/virtual-servers/{name}",
        "/virtual-servers/{name}/start",
        "/virtual-servers/{name}/stop",
        "/virtual-servers/{name}/restart",
        "/virtual-servers/{name}/logs",
        "/images",
        "/images/{digest}",
    ] {
        assert!(document["paths"][path].is_object(), "{path} missing");
    }
    let codes = document["components"]["schemas"]["ErrorCode"].to_string();
    assert!(codes.contains("PINNED_ROOT_MISMATCH"), "{codes}");
    let _ = wire::API_BASE;
}
