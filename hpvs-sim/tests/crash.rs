//! hpvs-sim as a process, killed with SIGKILL at the worst moments and started again on the
//! same state: the database is consistent, a server that ran runs again, one caught being
//! created ends `failed` with the reason, and nothing is left orphaned.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Api, Stack, free_port, http_get, publish_signed_image, register, wait_for};
use devstack::{HpvsSim, HpvsSimOptions};
use serde_json::{Value, json};

fn server_body(name: &str, hostport: u16) -> Value {
    json!({
        "name": name, "repo": "app-repo", "tag": "latest", "cpu": 1, "ram": 256,
        "quotagroups": [{"quotagroup": "qg", "mountid": "data", "mount": "/data",
                         "filesystem": "ext4", "size": 32u64 << 20, "reset_root": true}],
        "env": {"GREETING": "hi"},
        "ports": [{"containerport": 8080, "protocol": "tcp", "hostport": hostport}],
    })
}

fn start(stack: &Stack) -> HpvsSim {
    HpvsSim::start(HpvsSimOptions {
        binary: Some(env!("CARGO_BIN_EXE_hpvs-sim").into()),
        outbound_ca_pem: Some(stack.ca_pem.clone()),
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_appliance_restarts_consistent_and_reconciles_its_servers() {
    let stack = Stack::start();
    let (gun, root) = publish_signed_image(&stack).await;
    let mut hpvs = start(&stack);
    let api = Api::connect(hpvs.url(), hpvs.token(), hpvs.ca_cert());
    register(&api, &stack, &gun, &root, 128 << 20).await;

    let port = free_port();
    let (status, answer) = api
        .call("POST", "/virtual-servers", Some(server_body("web", port)))
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(api.wait_settled("web").await["state"], "running");
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(wait_for(address, "/boots.txt").await, "boot\n");

    // Killed while a second server is being created: its Notary answers nothing (a
    // listener that never accepts), so the deploy is still resolving when the kill lands.
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stalled = format!("https://{}", black_hole.local_addr().unwrap());
    let (status, answer) = api
        .call("PUT", "/registries/lab", Some(json!({"dct": stalled})))
        .await;
    assert_eq!(status, 200, "{answer}");
    let second_port = free_port();
    let (status, answer) = api
        .call(
            "POST",
            "/virtual-servers",
            Some(server_body("half", second_port)),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, half) = api.call("GET", "/virtual-servers/half", None).await;
    assert_eq!(half["state"], "creating", "{half}");
    hpvs.kill();
    assert!(
        http_get(address, "/boots.txt").is_none(),
        "the forwarder outlived hpvs-sim"
    );

    hpvs.restart().unwrap();
    let web = api.wait_settled("web").await;
    assert_eq!(web["state"], "running", "{web}");
    // The workload ran on (runc keeps it); its port is relayed again and its data is there.
    let boots = wait_for(address, "/boots.txt").await;
    assert!(boots.starts_with("boot\n"), "{boots}");
    let half = api.wait_settled("half").await;
    assert_eq!(half["state"], "failed", "{half}");
    let reason = half["reason"].as_str().unwrap();
    assert!(reason.contains("hpvs-sim stopped"), "{reason}");
    drop(black_hole);
    let (status, _) = api
        .call(
            "PUT",
            "/registries/lab",
            Some(json!({"dct": stack.notary_url})),
        )
        .await;
    assert_eq!(status, 200);

    // Killed while a server runs: it comes back running after the restart.
    hpvs.kill();
    hpvs.restart().unwrap();
    assert_eq!(api.wait_settled("web").await["state"], "running");
    wait_for(address, "/env.txt").await;

    // Everything deleted through the API leaves nothing on the host.
    for name in ["web", "half"] {
        let (status, answer) = api
            .call("DELETE", &format!("/virtual-servers/{name}"), None)
            .await;
        assert_eq!(status, 204, "{name}: {answer}");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while http_get(address, "/env.txt").is_some() {
        assert!(Instant::now() < deadline, "a deleted server still answers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains(hpvs.state_dir().to_str().unwrap()),
        "a mount of the appliance is left"
    );
}
