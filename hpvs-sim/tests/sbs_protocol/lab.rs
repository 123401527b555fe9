//! The lab of the SBS protocol tests: certificates made by `openssl` as the lab makes them,
//! reqwest and `curl` clients, a server on a free port, and a test pipeline.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use hpvs_sim::sbs::identity::env_value;
use hpvs_sim::sbs::{
    BuildFailure, BuildFuture, BuildJob, BuildOutcome, BuildPipeline, BuildServer, BuildStep,
    SbsIdentity, serve_build_server,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde_json::{Value, json};
use sha2::Digest as _;
use tokio::sync::Semaphore;

pub const PUSH_PASSWORD: &str = "push-password-4f9a";
pub const GITHUB_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----\n";
pub const SECRET: &str = "c2VjcmV0LW9mLXRoZS1jbGllbnQtMTI4LWJ5dGVz";
pub const BASE_PASSWORD: &str = "base-password-77c1";

/// Runs openssl in `dir`; panics with its stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lab's certificates: a CA, the server's (SAN IP:127.0.0.1), the client's (v1), and a
/// second CA with its own client; plus v3 client certificates for the extension checks.
pub struct Lab {
    pub dir: tempfile::TempDir,
}

impl Lab {
    pub fn make() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().unwrap(),
        };
        let d = lab.dir.path();
        for ca in ["ca", "other-ca"] {
            openssl(d, &["genrsa", "-out", &format!("{ca}.key"), "2048"]);
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-new",
                    "-key",
                    &format!("{ca}.key"),
                    "-subj",
                    &format!("/CN=SBS {ca}"),
                    "-days",
                    "365",
                    "-out",
                    &format!("{ca}.crt"),
                ],
            );
        }
        std::fs::write(d.join("server.ext"), "subjectAltName = IP:127.0.0.1\n").unwrap();
        std::fs::write(d.join("client-v3.ext"), "extendedKeyUsage = clientAuth\n").unwrap();
        std::fs::write(d.join("server-only.ext"), "extendedKeyUsage = serverAuth\n").unwrap();
        for (name, ca, ext) in [
            ("server", "ca", Some("server.ext")),
            ("client", "ca", None),
            ("rogue", "other-ca", None),
            ("client-v3", "ca", Some("client-v3.ext")),
            ("server-only", "ca", Some("server-only.ext")),
        ] {
            openssl(d, &["genrsa", "-out", &format!("{name}.key"), "2048"]);
            openssl(
                d,
                &[
                    "req",
                    "-new",
                    "-key",
                    &format!("{name}.key"),
                    "-subj",
                    &format!("/CN={name}"),
                    "-out",
                    &format!("{name}.csr"),
                ],
            );
            let (csr, crt) = (format!("{name}.csr"), format!("{name}.crt"));
            let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
            let mut args = vec![
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_crt,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                "365",
                "-out",
                &crt,
            ];
            if let Some(ext) = ext {
                args.extend(["-extfile", ext]);
            }
            openssl(d, &args);
        }
        lab
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn pem(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// The server's env as the lab sets it: base64 of each PEM, one line.
    pub fn env(&self) -> BTreeMap<String, String> {
        [
            ("SERVER_CRT", "server.crt"),
            ("SERVER_KEY", "server.key"),
            ("CLIENT_CA", "ca.crt"),
            ("CLIENT_CRT", "client.crt"),
        ]
        .into_iter()
        .map(|(k, f)| (k.to_owned(), env_value(&self.pem(f))))
        .collect()
    }

    pub fn der(&self, name: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(self.path(name)).unwrap()
    }

    /// A reqwest client trusting the lab's CA, with the identity `who` (or none).
    pub fn reqwest(&self, who: Option<&str>) -> reqwest::Client {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der("ca.crt")).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        // `with_client_auth_cert` parses the certificate with WebPKI, which refuses v1: a
        // resolver hands rustls the lab's certificate as it is.
        let config = match who {
            None => builder.with_no_client_auth(),
            Some(who) => {
                let key = PrivateKeyDer::from_pem_file(self.path(&format!("{who}.key"))).unwrap();
                let signing = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
                let certified = CertifiedKey::new(vec![self.der(&format!("{who}.crt"))], signing);
                builder.with_client_cert_resolver(Arc::new(ClientIdentity(Arc::new(certified))))
            }
        };
        reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .build()
            .unwrap()
    }
}

/// Always presents the one client certificate.
#[derive(Debug)]
pub struct ClientIdentity(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientIdentity {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The test pipeline: each step and the end wait for a permit of `gate` (if any).
#[derive(Clone, Default)]
pub struct FakePipeline {
    pub gate: Option<Arc<Semaphore>>,
    pub fail: bool,
}

impl BuildPipeline for FakePipeline {
    fn build(&self, job: BuildJob) -> BuildFuture<'_> {
        Box::pin(async move {
            let wait = || async {
                if let Some(gate) = &self.gate {
                    gate.acquire().await.unwrap().forget();
                }
            };
            let p = &job.params;
            job.log.info(format!(
                "logging in as {} with {}",
                p.docker_user,
                p.docker_password.expose()
            ));
            for step in [
                BuildStep::GithubCloned,
                BuildStep::ImageBuilt,
                BuildStep::ImagePushed,
            ] {
                wait().await;
                if self.fail && step == BuildStep::ImageBuilt {
                    return Err(BuildFailure {
                        return_code: 2,
                        step: "buildah bud".to_owned(),
                        reason: format!(
                            "no FROM in the Dockerfile (pulled with {})",
                            PUSH_PASSWORD
                        ),
                    });
                }
                job.status.report(step).unwrap();
            }
            wait().await;
            let key_path = job.keys_dir.join("root.key");
            if !key_path.exists() {
                let mut key = [0u8; 32];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).unwrap();
                std::fs::write(&key_path, key).unwrap();
            }
            let key_id = hex::encode(sha2::Sha256::digest(std::fs::read(&key_path).unwrap()));
            let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
            let build_name = format!("registry.example.user.app.latest-abc1234.{stamp}");
            Ok(BuildOutcome {
                manifest_name: format!("manifest.{build_name}"),
                manifest_sig_tbz: format!("fake manifest of {build_name}").into_bytes(),
                manifest_public_key_pem:
                    "-----BEGIN PUBLIC KEY-----\nfake\n-----END PUBLIC KEY-----\n".into(),
                image_tag: "latest-abc1234".into(),
                image_digest: format!("registry.example/user/app@sha256:{}", "ab".repeat(32)),
                config_json: json!({
                    "repository_name": "registry.example/user/app",
                    "docker_username": p.docker_ro_user.clone().unwrap_or_default(),
                    "docker_password": p.docker_ro_password.as_ref().map(|s| s.expose().to_owned()).unwrap_or_default(),
                    "envs_whitelist": p.env_whitelist, "public_key_id": key_id,
                    "public_key": "fake", "cap_add": [],
                }),
                build_name,
            })
        })
    }
}

pub fn init_body() -> Value {
    json!({
        "GITHUB_URL": "git@github.com:user/app.git", "GITHUB_KEY": GITHUB_KEY,
        "DOCKER_REPO": "user/app", "DOCKER_USER": "pusher", "DOCKER_PASSWORD": PUSH_PASSWORD,
        "SECRET": SECRET, "BUILD_IMAGE_TAG": "1.3.0.9", "DOCKER_BASE_PASSWORD": BASE_PASSWORD,
        "DOCKER_BASE_USER": "puller", "ENV_WHITELIST": ["GREETING"], "REPO_ID": "app-repo",
        "DOCKER_CONTENT_TRUST_BASE": "False", "ARG": {"VERSION": "1"}
    })
}

/// A running server: its address, the server, and its shutdown.
pub struct Running {
    pub addr: SocketAddr,
    pub server: BuildServer,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn start(lab: &Lab, state: &Path, pipeline: FakePipeline) -> Running {
    let identity = SbsIdentity::from_env(&lab.env()).unwrap();
    let server = BuildServer::open(
        state,
        Arc::new(pipeline),
        hpvs_sim::sbs::ApplianceSecret::new([9; 32]),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = server.clone();
    tokio::spawn(async move {
        serve_build_server(listener, &identity, serving, async {
            stopped.await.ok();
        })
        .await
        .unwrap();
    });
    Running {
        addr,
        server,
        _stop: stop,
    }
}

/// `curl` as `build.py` calls: JSON content type, `-d '""'` unless a body is given. The
/// status code and body, or curl's exit code and stderr when no HTTP answer came.
pub async fn curl(
    lab: &Lab,
    addr: SocketAddr,
    who: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), (i32, String)> {
    let mut args: Vec<String> = vec![
        "-sS".into(),
        "--cacert".into(),
        lab.path("ca.crt").display().to_string(),
    ];
    if let Some(who) = who {
        args.extend([
            "--cert".into(),
            lab.path(&format!("{who}.crt")).display().to_string(),
            "--key".into(),
            lab.path(&format!("{who}.key")).display().to_string(),
        ]);
    }
    let data = match body {
        Some(body) => body.to_string(),
        None => "\"\"".to_owned(),
    };
    args.extend([
        "-X".into(),
        method.into(),
        "-H".into(),
        "Content-Type: application/json".into(),
        "-d".into(),
        data,
        "-w".into(),
        "\n%{http_code}".into(),
        format!("https://127.0.0.1:{}{path}", addr.port()),
    ]);
    let out =
        tokio::task::spawn_blocking(move || Command::new("curl").args(&args).output().unwrap())
            .await
            .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (text, code) = stdout.rsplit_once('\n').unwrap_or(("", stdout.as_str()));
    if !out.status.success() {
        assert_eq!(code, "000", "an HTTP answer came: {stdout}");
        return Err((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    Ok((code.parse().unwrap(), value))
}

/// `curl` with the lab's v1 client certificate, which must get an HTTP answer.
pub async fn call(
    lab: &Lab,
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    curl(lab, addr, Some("client"), method, path, body)
        .await
        .unwrap()
}

pub async fn wait_status(lab: &Lab, addr: SocketAddr, expected: &str) -> Value {
    for _ in 0..200 {
        let (code, status) = call(lab, addr, "GET", "/image", None).await;
        assert_eq!(code, 200);
        if status["status"] == expected {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("status never became {expected:?}");
}

/// Runs a whole build on a server without a gate; returns the final status.
pub async fn build_to_the_end(lab: &Lab, addr: SocketAddr) -> Value {
    let (code, answer) = call(lab, addr, "PUT", "/image", None).await;
    assert_eq!(
        (code, answer),
        (200, json!({"status": "OK: async build started"}))
    );
    wait_status(lab, addr, "success").await
}
