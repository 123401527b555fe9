//! Faults around a `SecureDockerBuild` server, with real peers (git over SSH, docker-registry,
//! notary-server): the registry down during the push fails the build at the `push` step with
//! the reason in the log, and a rebuild after it returns succeeds; hpvs-sim killed while a
//! build uploads its layer comes back with the build server running and the build marked
//! failed, no tag signed for a half-pushed image, and a rebuild succeeds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{
    Api, Stack, build_log, build_server_body, build_to_end, busybox, free_port, sbs, sbs_client,
    try_sbs,
};
use devstack::{GitHost, HpvsSim, HpvsSimOptions};
use hpvs_sim::{Appliance, ApplianceOptions};
use keymgmt::mtls::{MtlsMaterial, SubjectAltName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The git host with the repository `wallet` (busybox, a start script and `payload`:
/// `payload_bytes` random bytes, so that the image's layer is as large as wanted), its SSH
/// URL, and the deploy key's private half.
struct Source {
    /// Kept so that sshd runs as long as the source is used.
    _git_host: GitHost,
    url: String,
    deploy_key: String,
}

fn source_repository(dir: &Path, payload_bytes: u64) -> Source {
    let git_host = GitHost::start().unwrap();
    let key_path = dir.join("github_ed25519");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key_path)
        .status()
        .unwrap();
    assert!(status.success());
    git_host
        .authorize(&std::fs::read_to_string(key_path.with_extension("pub")).unwrap())
        .unwrap();
    let url = git_host.create_repository("wallet").unwrap();
    let source = dir.join("source");
    std::fs::create_dir_all(source.join("rootfs/bin")).unwrap();
    std::fs::copy(busybox(), source.join("rootfs/bin/busybox")).unwrap();
    std::fs::write(
        source.join("rootfs/start.sh"),
        "#!/bin/busybox sh\nexec busybox sleep 1000000\n",
    )
    .unwrap();
    let mut payload = Vec::new();
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .take(payload_bytes)
        .read_to_end(&mut payload)
        .unwrap();
    std::fs::write(source.join("rootfs/payload"), payload).unwrap();
    std::fs::write(
        source.join("Dockerfile"),
        "FROM scratch\nCOPY --chmod=755 rootfs/ /\nENTRYPOINT [\"/bin/busybox\", \"sh\"]\nCMD [\"/start.sh\"]\n",
    )
    .unwrap();
    git_host.push_tree("wallet", &source, "wallet").unwrap();
    Source {
        _git_host: git_host,
        url,
        deploy_key: std::fs::read_to_string(&key_path).unwrap(),
    }
}

/// The quotagroup and the build server `sbserver` on a free port, created through `api`;
/// returns its base URL and the lab's mutual-TLS client.
async fn create_build_server(api: &Api) -> (String, reqwest::Client) {
    let (status, answer) = api
        .call(
            "POST",
            "/quotagroups",
            Some(json!({"name": "sb_user00", "size": 128u64 << 20})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
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
    (format!("https://127.0.0.1:{port}"), sbs_client(&material))
}

/// build.py's init parameters, pushing to `push_host` (`HOST:PORT`, plain HTTP).
fn init_params(source: &Source, push_host: &str, stack: &Stack) -> Value {
    json!({
        "GITHUB_URL": source.url, "GITHUB_BRANCH": "main",
        "GITHUB_KEY": source.deploy_key,
        "DOCKER_REPO": "lab/wallet", "DOCKER_USER": "", "DOCKER_PASSWORD": "",
        "DOCKER_PUSH_SERVER": format!("http://{push_host}"),
        "DOCKER_CONTENT_TRUST_PUSH_SERVER": stack.notary_url,
        "IMAGE_TAG_PREFIX": "latest",
        "SECRET": base64::engine::general_purpose::STANDARD.encode([7u8; 128]),
        "BUILD_IMAGE_TAG": "1.2.7.5",
    })
}

/// The tags of `gun` and their digests (hex sha256 of the manifest) as the Go notary client
/// lists them from an empty trust dir; empty when the collection has no trust data.
fn signed_tags(stack: &Stack, gun: &str) -> Vec<(String, String)> {
    match devstack::NotaryCli::new(&stack.notary)
        .unwrap()
        .run(&["list", gun])
    {
        Ok(listed) => listed
            .lines()
            .filter_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                (words.len() >= 3
                    && words[1].len() == 64
                    && words[1].bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| (words[0].to_owned(), words[1].to_owned()))
            })
            .collect(),
        Err(error) => {
            let message = error.to_string();
            assert!(
                message.contains("trust data"),
                "notary list {gun}: {message}"
            );
            Vec::new()
        }
    }
}

/// A client for the registry's plain HTTP (reqwest wants a TLS set-up all the same).
fn plain_http() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap()
}

/// Whether the registry serves the manifest `sha256:<hex>` of `lab/wallet`.
async fn registry_has_manifest(registry_host: &str, hex: &str) -> bool {
    let answer = plain_http()
        .head(format!(
            "http://{registry_host}/v2/lab/wallet/manifests/sha256:{hex}"
        ))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .unwrap();
    answer.status() == 200
}

/// Both tags of a successful build are signed, and every signed digest is in the registry.
async fn assert_signed_and_present(stack: &Stack, gun: &str, built: &Value) {
    let tags = signed_tags(stack, gun);
    let image_tag = built["image_tag"].as_str().unwrap();
    for wanted in ["latest", image_tag] {
        assert!(
            tags.iter().any(|(tag, _)| tag == wanted),
            "{wanted}: {tags:?}"
        );
    }
    for (tag, digest) in &tags {
        assert!(
            registry_has_manifest(&stack.registry.host(), digest).await,
            "the signed tag {tag} points at sha256:{digest}, which the registry does not have"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_down_during_the_push_fails_the_push_and_a_rebuild_after_it_succeeds() {
    let mut stack = Stack::start();
    let source = source_repository(stack.dir.path(), 64 << 10);
    let appliance = Appliance::open(ApplianceOptions {
        state_dir: stack.dir.path().join("appliance"),
        outbound_ca_pem: Some(stack.ca_pem.clone()),
    })
    .unwrap();
    let api = Api::start(Arc::clone(&appliance), stack.dir.path()).await;
    let (base, client) = create_build_server(&api).await;
    let params = init_params(&source, &stack.registry.host(), &stack);
    let (status, answer) = sbs(&client, &base, "POST", "/image", Some(params)).await;
    assert_eq!(status, 200, "{answer}");
    let gun = format!("{}/lab/wallet", stack.registry.host());

    stack.registry.stop();
    let (failed, log) = build_to_end(&client, &base).await;
    assert_eq!(
        failed["status"], "exiting due to a non-zero return value: 1, cmd: push",
        "{failed}\n{log}"
    );
    // It got as far as the build, and the log says why the push failed: the registry at
    // its address could not be reached.
    assert!(log.contains("image built"), "{log}");
    let reason = log
        .lines()
        .find(|line| line.contains("ERROR") && line.contains("push: "))
        .unwrap_or_else(|| panic!("no push error in the log:\n{log}"));
    assert!(
        reason.contains(&stack.registry.host()) || reason.to_lowercase().contains("connect"),
        "the reason does not say the registry was unreachable: {reason}"
    );
    assert!(
        failed.get("image_tag").is_none_or(Value::is_null),
        "{failed}"
    );
    // Nothing was signed.
    assert_eq!(signed_tags(&stack, &gun), Vec::new());

    stack.registry.restart().unwrap();
    let (built, log) = build_to_end(&client, &base).await;
    assert_eq!(built["status"], "success", "{built}\n{log}");
    assert_signed_and_present(&stack, &gun, &built).await;

    let (status, _) = api.call("DELETE", "/virtual-servers/sbserver", None).await;
    assert_eq!(status, 204);
    appliance.delete_all_servers().await.unwrap();
}

/// A TCP relay to `target` that passes what clients send at about 512 KiB/s (what comes back
/// is not slowed) and counts it: a registry whose uploads take a while.
async fn slow_relay(target: SocketAddr) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let Ok(upstream) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut upstream_read, mut upstream_write) = upstream.into_split();
                let up = async move {
                    let mut buffer = vec![0u8; 8 << 10];
                    loop {
                        match client_read.read(&mut buffer).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if upstream_write.write_all(&buffer[..n]).await.is_err() {
                                    break;
                                }
                                counter.fetch_add(n as u64, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(16)).await;
                            }
                        }
                    }
                    let _ = upstream_write.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut upstream_read, &mut client_write).await;
                    let _ = client_write.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (address, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpvs_sim_killed_during_the_push_marks_the_build_failed_signs_nothing_half_pushed_and_rebuilds()
 {
    let stack = Stack::start();
    // 6 MiB of random bytes: at 512 KiB/s the layer's upload takes about 12 s.
    const PAYLOAD: u64 = 6 << 20;
    let source = source_repository(stack.dir.path(), PAYLOAD);
    let registry_address: SocketAddr = stack.registry.host().parse().unwrap();
    let (relay, uploaded) = slow_relay(registry_address).await;
    let mut hpvs = HpvsSim::start(HpvsSimOptions {
        binary: Some(env!("CARGO_BIN_EXE_hpvs-sim").into()),
        outbound_ca_pem: Some(stack.ca_pem.clone()),
    })
    .unwrap();
    let api = Api::connect(hpvs.url(), hpvs.token(), hpvs.ca_cert());
    let (base, client) = create_build_server(&api).await;
    // The build server pushes through the slow relay; the collection is named after it.
    let push_host = relay.to_string();
    let gun = format!("{push_host}/lab/wallet");
    let (status, answer) = sbs(
        &client,
        &base,
        "POST",
        "/image",
        Some(init_params(&source, &push_host, &stack)),
    )
    .await;
    assert_eq!(status, 200, "{answer}");

    let (status, answer) = sbs(&client, &base, "PUT", "/image", None).await;
    assert_eq!(status, 200, "{answer}");
    // Killed once a quarter of the layer went up: the push is under way.
    let deadline = Instant::now() + Duration::from_secs(120);
    while uploaded.load(Ordering::SeqCst) < PAYLOAD / 4 {
        let (_, answer) = sbs(&client, &base, "GET", "/image", None).await;
        let status = answer["status"].as_str().unwrap_or_default().to_owned();
        assert!(
            status != "success" && !status.starts_with("exiting"),
            "the build ended before the kill: {answer}\n{}",
            build_log(&client, &base).await
        );
        assert!(
            Instant::now() < deadline,
            "the push never started: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, at_kill) = sbs(&client, &base, "GET", "/image", None).await;
    assert_eq!(at_kill["status"], "image built", "{at_kill}");
    hpvs.kill();
    let sent_at_kill = uploaded.load(Ordering::SeqCst);
    assert!(
        sent_at_kill < PAYLOAD,
        "the whole layer went up before the kill"
    );
    assert!(
        try_sbs(&client, &base, "GET", "/image", None)
            .await
            .is_none(),
        "the build server outlived hpvs-sim"
    );

    hpvs.restart().unwrap();
    // Reconciled: the build server runs again, and the build it was running is failed.
    assert_eq!(api.wait_settled("sbserver").await["state"], "running");
    let deadline = Instant::now() + Duration::from_secs(30);
    while try_sbs(&client, &base, "GET", "/image", None)
        .await
        .is_none()
    {
        assert!(Instant::now() < deadline, "the build server is not back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, interrupted) = sbs(&client, &base, "GET", "/image", None).await;
    assert_eq!(
        interrupted["status"],
        "exiting due to a non-zero return value: 1, cmd: interrupted after \"image built\"",
        "{interrupted}"
    );
    assert!(
        interrupted.get("image_tag").is_none_or(Value::is_null),
        "{interrupted}"
    );
    let log = build_log(&client, &base).await;
    assert!(
        log.contains("the server stopped while the build was at \"image built\""),
        "{log}"
    );
    // Nothing was tagged in the registry, and no tag is signed: nothing points at the
    // half-pushed image.
    let tags = plain_http()
        .get(format!(
            "http://{}/v2/lab/wallet/tags/list",
            stack.registry.host()
        ))
        .send()
        .await
        .unwrap();
    if tags.status() == 200 {
        let listed: Value = tags.json().await.unwrap();
        assert!(
            listed["tags"].as_array().is_none_or(Vec::is_empty),
            "a tag was pushed for an interrupted build: {listed}"
        );
    } else {
        assert_eq!(tags.status(), 404);
    }
    assert_eq!(signed_tags(&stack, &gun), Vec::new());

    // The next build succeeds, with the init parameters kept on the server's mounts (no new
    // POST /image): both tags signed, each at a manifest the registry serves.
    let (built, log) = build_to_end(&client, &base).await;
    assert_eq!(built["status"], "success", "{built}\n{log}");
    assert_signed_and_present(&stack, &gun, &built).await;

    let (status, answer) = api.call("DELETE", "/virtual-servers/sbserver", None).await;
    assert_eq!(status, 204, "{answer}");
}
