//! What the appliance tests share: a stack (notary-server with TLS, docker-registry), a
//! DCT-signed busybox image, and an API client over HTTPS.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use devstack::{ListenerSecurity, NotaryOptions, NotaryServer, Registry, RegistryOptions};
use hpvs_api::wire::ErrorCode;
use hpvs_sim::Appliance;
use keymgmt::mtls::{MtlsMaterial, SubjectAltName};
use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::metadata::FileMeta;
use notary_client::repository::{InitOptions, KeyHolder};
use notary_client::transport::ServerConfig;
use oci_push::{ImageRef, Layout, PushOptions};
use registry_http::Secret;
use serde_json::Value;
use ssc_register::RootKey;

pub const TOKEN: &str = "test-admin-token";

const START_SCRIPT: &str = "#!/bin/busybox sh
busybox mkdir -p /www
busybox env > /www/env.txt
busybox hostname > /www/hostname.txt
if [ -d /data ]; then
  echo boot >> /data/boots
  busybox cat /data/boots > /www/boots.txt
fi
echo workload up
exec busybox httpd -f -p 8080 -h /www
";

const DOCKERFILE: &str = "FROM scratch
COPY rootfs/ /
ENV PATH=/bin MODE=image
ENTRYPOINT [\"/bin/busybox\", \"sh\"]
CMD [\"/start.sh\"]
";

pub struct Stack {
    pub notary: NotaryServer,
    pub registry: Registry,
    pub notary_url: String,
    pub ca_pem: Vec<u8>,
    pub dir: tempfile::TempDir,
}

/// The appliance API over HTTPS, on a free port, with its own CA.
pub struct Api {
    base: String,
    http: reqwest::Client,
    token: String,
    _shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Api {
    pub async fn start(appliance: Arc<Appliance>, dir: &Path) -> Api {
        let material =
            MtlsMaterial::generate("hpvs-sim.test", &SubjectAltName::loopback()).unwrap();
        let paths = material.write_pem_files(&dir.join("api-tls")).unwrap();
        let tls = hpvs_sim::serve::tls_config(&paths.server_cert, &paths.server_key).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = hpvs_sim::api::router(appliance, Secret::new(TOKEN));
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(hpvs_sim::serve::serve(listener, tls, router, async move {
            let _ = stopped.await;
        }));
        Api {
            base: format!("https://{address}/api/v1"),
            http: client_trusting(&paths.ca_cert),
            token: TOKEN.to_owned(),
            _shutdown: Some(shutdown),
        }
    }

    /// `GET /virtual-servers/{name}/logs?follow=true`, its answer still streaming.
    pub async fn follow_logs(&self, name: &str) -> reqwest::Response {
        let answer = self
            .http
            .get(format!(
                "{}/virtual-servers/{name}/logs?follow=true",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        answer
    }

    /// The API's base URL, `https://ADDR/api/v1`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A client of a running hpvs-sim at `url` whose certificate `ca_cert` signed.
    pub fn connect(url: &str, token: &str, ca_cert: &Path) -> Api {
        Api {
            base: format!("{url}/api/v1"),
            http: client_trusting(ca_cert),
            token: token.to_owned(),
            _shutdown: None,
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(Some(&self.token), method, path, body).await
    }

    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method: reqwest::Method = method.parse().unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// Expects an error answer with `code`.
    pub async fn refused(&self, method: &str, path: &str, body: Value, code: ErrorCode) -> String {
        let (status, answer) = self.call(method, path, Some(body)).await;
        assert_eq!(status, code.status(), "{method} {path}: {answer}");
        assert_eq!(answer["code"], code.as_str(), "{method} {path}: {answer}");
        answer["message"].as_str().unwrap().to_owned()
    }

    pub async fn wait_settled(&self, name: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (status, server) = self
                .call("GET", &format!("/virtual-servers/{name}"), None)
                .await;
            assert_eq!(status, 200, "{server}");
            if server["state"] != "creating" {
                return server;
            }
            assert!(Instant::now() < deadline, "{name} still creating: {server}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

pub fn busybox() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .expect("busybox-static is installed (scripts/install-peers.sh)")
}

/// Builds the busybox image, pushes it as `app:latest`, signs the tag with DCT; returns the
/// GUN and the root key from the signed root.
pub async fn publish_signed_image(stack: &Stack) -> (String, RootKey) {
    let context = stack.dir.path().join("context");
    std::fs::create_dir_all(context.join("rootfs/bin")).unwrap();
    std::fs::copy(busybox(), context.join("rootfs/bin/busybox")).unwrap();
    std::fs::write(context.join("rootfs/start.sh"), START_SCRIPT).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        context.join("rootfs/start.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let layout = Layout::create(stack.dir.path().join("layout")).unwrap();
    oci_push::dockerfile::build(
        None,
        &context,
        DOCKERFILE,
        &layout,
        "latest",
        &Default::default(),
    )
    .await
    .unwrap();
    let gun = format!("{}/app", stack.registry.host());
    let registry = oci_push::Client::new(oci_push::ClientOptions {
        security: oci_push::Security::InsecureHttp,
        ..Default::default()
    })
    .unwrap();
    let pushed = registry
        .push_layout(
            &layout,
            Some("latest"),
            &ImageRef::parse(&format!("{gun}:latest")).unwrap(),
            &PushOptions::default(),
        )
        .await
        .unwrap();
    let trust_dir = stack.dir.path().join("vendor-trust");
    let config = ServerConfig {
        ca_pem: Some(stack.ca_pem.clone()),
        ..ServerConfig::from_url(&stack.notary_url).unwrap()
    };
    let signer = notary_client::repository::Client::new(
        &trust_dir,
        &config,
        Fixed(Passphrase::new("vendor-passphrase")),
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

pub fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_owned())
}

pub async fn wait_for(addr: SocketAddr, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(body) = tokio::task::spawn_blocking({
            let path = path.to_owned();
            move || http_get(addr, &path)
        })
        .await
        .unwrap()
        {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never answered on {addr}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client_trusting(ca_cert: &Path) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject as _;
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_file(ca_cert).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()
        .unwrap()
}

impl Stack {
    /// notary-server (TLS) and docker-registry on free ports, and a temporary directory.
    pub fn start() -> Stack {
        let notary =
            NotaryServer::start(NotaryOptions::with_security(ListenerSecurity::Tls)).unwrap();
        let registry = Registry::start(RegistryOptions::default()).unwrap();
        Stack {
            notary_url: notary.url().to_owned(),
            ca_pem: std::fs::read(&notary.tls().unwrap().ca_cert).unwrap(),
            notary,
            registry,
            dir: tempfile::tempdir().unwrap(),
        }
    }
}

/// Registers the stack's registry as `lab` (anonymous, plain HTTP).
pub async fn register_registry(api: &Api, stack: &Stack) {
    let (status, answer) = api
        .call(
            "POST",
            "/registries",
            Some(serde_json::json!({"name": "lab",
                "url": format!("http://{}", stack.registry.host()),
                "dct": stack.notary_url, "user": "", "password": ""})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
}

/// Registers the stack's registry (`lab`), the repository `app-repo` for `gun` pinned to
/// `root` (env `GREETING` whitelisted), and a quotagroup `qg` of `size` bytes.
pub async fn register(api: &Api, stack: &Stack, gun: &str, root: &RootKey, size: u64) {
    let (status, answer) = api
        .call(
            "POST",
            "/registries",
            Some(serde_json::json!({"name": "lab",
                "url": format!("http://{}", stack.registry.host()),
                "dct": stack.notary_url, "user": "", "password": ""})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let (_, key) = api.call("GET", "/appliance/key", None).await;
    let appliance_key =
        ssc_register::PublicKey::from_armored(key["public_key"].as_str().unwrap().as_bytes())
            .unwrap();
    let vendor = ssc_register::SecretKey::generate(
        ssc_register::KeyKind::Ed25519,
        "Vendor <v@example.com>",
        Secret::new("pw"),
    )
    .unwrap();
    let registration = ssc_register::Registration::builder(gun.to_owned(), root.clone())
        .env_whitelist(["GREETING"])
        .build(&vendor.public_key())
        .unwrap();
    let sealed = ssc_register::seal::seal(&registration, &vendor, &appliance_key).unwrap();
    let (status, answer) = api
        .call(
            "POST",
            "/repositories",
            Some(serde_json::json!({"id": "app-repo", "regfile": sealed})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = api
        .call(
            "POST",
            "/quotagroups",
            Some(serde_json::json!({"name": "qg", "size": size, "filesystem": "ext4"})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
}

/// gpg with a temporary home; its agent is stopped on drop.
pub struct Gpg(tempfile::TempDir);

impl Gpg {
    /// A gpg with a fresh home.
    pub fn new() -> Gpg {
        Gpg(tempfile::tempdir().unwrap())
    }

    /// Runs gpg, asserting success.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
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

    /// The fingerprint of `user`'s primary key.
    pub fn fingerprint(&self, user: &str) -> String {
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

impl Gpg {
    /// An Ed25519 signing key for `email` (passphrase `vendor pw`); its armored public key.
    pub fn vendor(&self, email: &str) -> String {
        self.run(
            &[
                "--passphrase",
                "vendor pw",
                "--quick-generate-key",
                &format!("Vendor <{email}>"),
                "ed25519",
                "sign",
                "never",
            ],
            b"",
        );
        String::from_utf8(self.run(&["--armor", "--export", email], b"").stdout).unwrap()
    }

    /// `gpg --encrypt --sign --armor` of `data` by `vendor` to the armored `recipient` key.
    pub fn seal(&self, data: &[u8], vendor: &str, recipient_armored: &str) -> String {
        self.run(&["--import"], recipient_armored.as_bytes());
        let listing = String::from_utf8(
            self.run(
                &["--with-colons", "--import-options", "show-only", "--import"],
                recipient_armored.as_bytes(),
            )
            .stdout,
        )
        .unwrap();
        let recipient = listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .unwrap()
            .to_owned();
        let out = self.run(
            &[
                "--passphrase",
                "vendor pw",
                "--armor",
                "--encrypt",
                "--sign",
                "--local-user",
                vendor,
                "-r",
                &recipient,
            ],
            data,
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

// The Secure Build Server tests' helpers (build_server.rs, build_server_faults.rs,
// build_server_state.rs).

/// An HTTPS client of a build server presenting the lab's client certificate of `material`.
pub fn sbs_client(material: &MtlsMaterial) -> reqwest::Client {
    let tls = registry_http::TlsOptions {
        roots: registry_http::TrustRoots::CustomCa(
            material.ca().certificate_pem().as_bytes().to_vec(),
        ),
        client_identity_pem: Some(Secret::new(format!(
            "{}{}",
            material.client().certificate_pem(),
            material.client().private_key_pem().as_str()
        ))),
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(tls.client_config().unwrap())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// One call as build.py makes it (JSON content type, `""` when there is no body); `None`
/// when the server cannot be reached.
pub async fn try_sbs(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    let answer = client
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .header("Content-Type", "application/json")
        .body(body.map_or_else(|| "\"\"".to_owned(), |b| b.to_string()))
        .send()
        .await
        .ok()?;
    let status = answer.status().as_u16();
    let text = answer.text().await.ok()?;
    Some((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// [`try_sbs`], failing the test when the server does not answer.
pub async fn sbs(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    try_sbs(client, base, method, path, body)
        .await
        .unwrap_or_else(|| panic!("{method} {base}{path}: the build server did not answer"))
}

/// The `POST /virtual-servers` body of the lab's build server `name` on host port `port`:
/// quotagroup `sb_user00` with the mounts `new` (reset) and `data` (reset when
/// `reset_root`), the mutual-TLS env of `material`.
pub fn build_server_body(
    name: &str,
    port: u16,
    material: &MtlsMaterial,
    reset_root: bool,
) -> Value {
    let env = material.lab_env();
    serde_json::json!({
        "name": name, "repo": "SecureDockerBuild", "tag": "1.2.7.5", "cpu": 2, "ram": 2048,
        "quotagroups": [
            {"quotagroup": "sb_user00", "mountid": "new", "mount": "/newroot", "filesystem": "ext4",
             "size": 32u64 << 20, "reset_root": true},
            {"quotagroup": "sb_user00", "mountid": "data", "mount": "/data", "filesystem": "ext4",
             "size": 64u64 << 20, "reset_root": reset_root}],
        "env": {"CLIENT_CA": env.client_ca, "CLIENT_CRT": env.client_crt,
                "SERVER_CRT": env.server_crt, "SERVER_KEY": env.server_key.as_str(),
                "EX_VOLUMES": "/docker,/data", "ROOTFS_LOCK": "y", "RUNQ_ROOTDISK": "new"},
        "ports": [{"containerport": 443, "protocol": "tcp", "hostport": port}],
    })
}

/// Starts a build and waits (up to 180 s) for its end; returns the final status and the
/// log.
pub async fn build_to_end(client: &reqwest::Client, base: &str) -> (Value, String) {
    let (status, answer) = sbs(client, base, "PUT", "/image", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "OK: async build started");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (_, answer) = sbs(client, base, "GET", "/image", None).await;
        let status = answer["status"].as_str().unwrap_or_default();
        if status == "success" || status.starts_with("exiting") {
            return (answer, build_log(client, base).await);
        }
        assert!(Instant::now() < deadline, "the build did not end: {answer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Builds and expects `success`; returns the final status.
pub async fn build_to_success(client: &reqwest::Client, base: &str) -> Value {
    let (answer, log) = build_to_end(client, base).await;
    assert_eq!(
        answer["status"], "success",
        "the build failed: {answer}\n{log}"
    );
    answer
}

/// `GET /log/build`.
pub async fn build_log(client: &reqwest::Client, base: &str) -> String {
    let (status, log) = sbs(client, base, "GET", "/log/build", None).await;
    assert_eq!(status, 200, "{log}");
    log["log"].as_str().unwrap().to_owned()
}
