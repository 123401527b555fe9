//! The `hpvs` CLI against a real hpvs-sim (in this process, over HTTPS), notary-server (TLS),
//! docker-registry and runc: the lab's commands with the lab's flag syntax, from
//! `registry add` to `repository delete --force`, and their tables, JSON and errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[expect(dead_code, reason = "file_names serves the trust and regfile tests")]
mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use common::{failed, succeeded};
use devstack::{ListenerSecurity, NotaryOptions, NotaryServer, Registry, RegistryOptions};
use hpvs_sim::{Appliance, ApplianceOptions};
use keymgmt::mtls::{MtlsMaterial, SubjectAltName};
use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::metadata::FileMeta;
use notary_client::repository::{InitOptions, KeyHolder};
use notary_client::transport::ServerConfig;
use oci_push::{ImageRef, Layout, PushOptions};
use ssc_register::{KeyKind, Registration, RootKey, Secret, SecretKey};

const TOKEN: &str = "cli-test-token";

const START_SCRIPT: &str = "#!/bin/busybox sh
busybox mkdir -p /www
busybox env > /www/env.txt
exec busybox httpd -f -p 8080 -h /www
";

/// The `hpvs` binary with the appliance's environment.
struct Cli {
    url: String,
    ca_cert: PathBuf,
}

impl Cli {
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hpvs"));
        command
            .args(args)
            .env("HPVS_URL", &self.url)
            .env("HPVS_TOKEN", TOKEN)
            .env("HPVS_CACERT", &self.ca_cert)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let input = stdin.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().unwrap();
            if let Some(input) = input {
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
            }
            drop(child.stdin.take());
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }
}

fn busybox() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .expect("busybox-static is installed (scripts/install-peers.sh)")
}

/// Builds a busybox image, pushes it as `GUN:latest` and signs the tag; the root key it pins.
async fn signed_image(dir: &Path, registry: &Registry, notary: &NotaryServer) -> (String, RootKey) {
    let context = dir.join("context");
    std::fs::create_dir_all(context.join("rootfs/bin")).unwrap();
    std::fs::copy(busybox(), context.join("rootfs/bin/busybox")).unwrap();
    std::fs::write(context.join("rootfs/start.sh"), START_SCRIPT).unwrap();
    let dockerfile = "FROM scratch\nCOPY --chmod=755 rootfs/ /\nENTRYPOINT [\"/bin/busybox\", \"sh\"]\nCMD [\"/start.sh\"]\n";
    let layout = Layout::create(dir.join("layout")).unwrap();
    oci_push::dockerfile::build(
        None,
        &context,
        dockerfile,
        &layout,
        "latest",
        &Default::default(),
    )
    .await
    .unwrap();
    let gun = format!("{}/cli-app", registry.host());
    let pushed = oci_push::Client::new(oci_push::ClientOptions {
        security: oci_push::Security::InsecureHttp,
        ..Default::default()
    })
    .unwrap()
    .push_layout(
        &layout,
        Some("latest"),
        &ImageRef::parse(&format!("{gun}:latest")).unwrap(),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    let trust_dir = dir.join("trust");
    let config = ServerConfig {
        ca_pem: Some(std::fs::read(&notary.tls().unwrap().ca_cert).unwrap()),
        ..ServerConfig::from_url(notary.url()).unwrap()
    };
    let signer = notary_client::repository::Client::new(
        &trust_dir,
        &config,
        Fixed(Passphrase::new("passphrase")),
    )
    .unwrap();
    let repo = signer.repository(&gun).unwrap();
    repo.init(&InitOptions {
        root_key: None,
        snapshot: KeyHolder::Server,
    })
    .await
    .unwrap();
    repo.add_target("latest", FileMeta::from(&pushed), &[])
        .unwrap();
    repo.publish().await.unwrap();
    let root_json =
        std::fs::read(trust_dir.join("tuf").join(&gun).join("metadata/root.json")).unwrap();
    (gun, RootKey::from_root_json(&root_json).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_labs_hpvs_commands_register_deploy_show_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let notary = NotaryServer::start(NotaryOptions::with_security(ListenerSecurity::Tls)).unwrap();
    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let (gun, root) = signed_image(dir.path(), &registry, &notary).await;

    let appliance = Appliance::open(ApplianceOptions {
        state_dir: dir.path().join("appliance"),
        outbound_ca_pem: Some(std::fs::read(&notary.tls().unwrap().ca_cert).unwrap()),
    })
    .unwrap();
    let material = MtlsMaterial::generate("hpvs-sim.test", &SubjectAltName::loopback()).unwrap();
    let paths = material
        .write_pem_files(&dir.path().join("api-tls"))
        .unwrap();
    let tls = hpvs_sim::serve::tls_config(&paths.server_cert, &paths.server_key).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let router = hpvs_sim::api::router(Arc::clone(&appliance), Secret::new(TOKEN));
    tokio::spawn(hpvs_sim::serve::serve(
        listener,
        tls,
        router,
        std::future::pending(),
    ));
    let cli = Cli {
        url,
        ca_cert: paths.ca_cert.clone(),
    };

    // 1: the registry, its password on stdin and never shown.
    let registry_url = format!("http://{}", registry.host());
    let shown = succeeded(
        cli.run(
            &[
                "registry",
                "add",
                "--name",
                "lab",
                "--dct",
                notary.url(),
                "--url",
                &registry_url,
                "--user",
                "puller",
            ],
            Some("registry-pw-42\n"),
        )
        .await,
    );
    assert!(shown.contains("lab"), "{shown}");
    let shown = succeeded(cli.run(&["registry", "show", "--name", "lab"], None).await);
    assert!(!shown.contains("registry-pw-42"), "{shown}");

    // 3: the registration file, sealed to the key `hpvs appliance key` prints.
    let key = succeeded(cli.run(&["appliance", "key", "--json"], None).await);
    let key: serde_json::Value = serde_json::from_str(&key).unwrap();
    let appliance_key =
        ssc_register::PublicKey::from_armored(key["public_key"].as_str().unwrap().as_bytes())
            .unwrap();
    let vendor = SecretKey::generate(
        KeyKind::Ed25519,
        "Vendor <v@example.com>",
        Secret::new("pw"),
    )
    .unwrap();
    let registration = Registration::builder(gun.clone(), root.clone())
        .env_whitelist(["GREETING"])
        .build(&vendor.public_key())
        .unwrap();
    let regfile = dir.path().join("yaml.cli-app.enc");
    std::fs::write(
        &regfile,
        ssc_register::seal::seal(&registration, &vendor, &appliance_key).unwrap(),
    )
    .unwrap();
    let shown = succeeded(
        cli.run(
            &[
                "repository",
                "register",
                "--pgp",
                regfile.to_str().unwrap(),
                "--id",
                "cli-app",
            ],
            None,
        )
        .await,
    );
    assert!(shown.contains(&gun), "{shown}");

    // 4: a quotagroup and the server, in the lab's syntax.
    let shown = succeeded(
        cli.run(
            &["quotagroup", "create", "--name", "qg", "--size", "128MB"],
            None,
        )
        .await,
    );
    assert!(shown.contains("PROPERTIES"), "{shown}");
    assert!(shown.contains("+-"), "{shown}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ports = format!("{{containerport = 8080, protocol = tcp, hostport = {port}}}");
    let mount = "{quotagroup = qg, mountid = data, mount = /data, filesystem = ext4, size = 32MB}";
    let refused = failed(
        cli.run(
            &[
                "vs",
                "create",
                "--name",
                "bad",
                "--repo",
                "cli-app",
                "--tag",
                "latest",
                "--cpu",
                "1",
                "--ram",
                "256",
                "--quotagroup",
                mount,
                "--env={NOT_LISTED=1}",
                "--ports",
                &ports,
            ],
            None,
        )
        .await,
    );
    assert!(
        refused.starts_with("ERROR: ENV_NOT_WHITELISTED"),
        "{refused}"
    );
    let created = succeeded(
        cli.run(
            &[
                "vs",
                "create",
                "--name",
                "web",
                "--repo",
                "cli-app",
                "--tag",
                "latest",
                "--cpu",
                "1",
                "--ram",
                "256",
                "--quotagroup",
                mount,
                "--env={GREETING=\"hello, lab\"}",
                "--ports",
                &ports,
            ],
            None,
        )
        .await,
    );
    assert!(created.contains("running"), "{created}");
    assert!(created.contains(&format!("{port}->8080/tcp")), "{created}");
    let env = workload_page(port, "/env.txt").await;
    assert!(env.contains("GREETING=hello, lab"), "{env}");

    let listed = succeeded(cli.run(&["vs", "list"], None).await);
    assert!(listed.lines().any(|line| line.contains("NAME")), "{listed}");
    let json = succeeded(
        cli.run(&["--json", "vs", "show", "--name", "web"], None)
            .await,
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["state"], "running");

    // In use: a conflict with its code; then 6: clean up with --force.
    let refused = failed(
        cli.run(&["quotagroup", "delete", "--name", "qg"], None)
            .await,
    );
    assert!(refused.starts_with("ERROR: CONFLICT"), "{refused}");
    let deleted = succeeded(
        cli.run(
            &["repository", "delete", "--id", "cli-app", "--force"],
            None,
        )
        .await,
    );
    assert!(deleted.contains("web"), "{deleted}");
    succeeded(
        cli.run(&["quotagroup", "delete", "--name", "qg"], None)
            .await,
    );
    succeeded(
        cli.run(&["registry", "delete", "--name", "lab"], None)
            .await,
    );
    let refused = failed(cli.run(&["vs", "show", "--name", "web"], None).await);
    assert!(refused.starts_with("ERROR: NOT_FOUND"), "{refused}");
    assert!(appliance.runtime_orphans().unwrap().is_empty());
}

/// The workload's page over plain TCP (no HTTP client crate needed for busybox httpd).
async fn workload_page(port: u16, path: &str) -> String {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = write!(stream, "GET {path} HTTP/1.0\r\n\r\n");
                let mut answer = String::new();
                if stream.read_to_string(&mut answer).is_ok()
                    && let Some((_, body)) = answer.split_once("\r\n\r\n")
                {
                    return body.to_owned();
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path} never answered"
            );
            std::thread::sleep(std::time::Duration::from_millis(150));
        }
    })
    .await
    .unwrap()
}
