//! The lab's sample application (`examples/lab-app/`) and its base image: the Python unit
//! tests, the app over HTTPS with host python3 (register, wallet, restart, login), and the
//! base image made by `lab::base_image`, pushed to docker-registry and built upon with
//! buildah from the app's Dockerfile.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use devstack::{Registry, RegistryOptions};
use examples::lab::base_image::{self, BaseImageOptions};
use oci_push::{ImageRef, Layout, PushOptions};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lab-app")
}

#[test]
fn python_unit_tests_pass() {
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-v", "-s"])
        .arg(app_dir().join("tests"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python unit tests failed:\n{stderr}");
    assert!(stderr.contains("test_key_one"), "{stderr}");
    assert!(stderr.contains("\nOK"), "{stderr}");
}

/// The wallet server run by host python3; killed (and reaped) when dropped.
struct App {
    child: Child,
    client: reqwest::Client,
    base: String,
}

impl App {
    /// Makes a certificate as the container's start script does (make-cert.sh with the
    /// host's name) and starts the app on a free loopback port with `data` as its data.
    async fn start(work: &Path, data: &Path) -> App {
        let tls = work.join("tls");
        let made = Command::new("sh")
            .arg(app_dir().join("make-cert.sh"))
            .arg(&tls)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let host = String::from_utf8(Command::new("hostname").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned();
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(work.join("app.log")).unwrap();
        let child = Command::new("python3")
            .arg(app_dir().join("app/wallet.py"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("WALLET_PORT", port.to_string())
            .env("WALLET_BIND", "127.0.0.1")
            .env("WALLET_DATA_DIR", data)
            .env("WALLET_CERT", tls.join("cert.pem"))
            .env("WALLET_KEY", tls.join("key.pem"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut app = App {
            child,
            client: client(&tls.join("cert.pem"), &host, port),
            base: format!("https://{host}:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(
                app.child.try_wait().unwrap().is_none(),
                "the app exited: {}",
                std::fs::read_to_string(work.join("app.log")).unwrap_or_default()
            );
            assert!(Instant::now() < deadline, "the app did not listen in 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        app
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str, session: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = session {
            request = request.header(COOKIE, format!("session={token}"));
        }
        request.send().await.unwrap()
    }

    async fn post(
        &self,
        path: &str,
        session: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).form(form);
        if let Some(token) = session {
            request = request.header(COOKIE, format!("session={token}"));
        }
        request.send().await.unwrap()
    }

    fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client that trusts only the app's self-signed certificate, reaches `host` on
/// loopback, and does not follow redirects (the test looks at them).
fn client(cert: &Path, host: &str, port: u16) -> reqwest::Client {
    registry_http::TlsOptions {
        roots: registry_http::TrustRoots::CustomCa(std::fs::read(cert).unwrap()),
        client_identity_pem: None,
    }
    .reqwest_builder()
    .unwrap()
    .resolve(host, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    .redirect(reqwest::redirect::Policy::none())
    .build()
    .unwrap()
}

fn location(response: &reqwest::Response) -> &str {
    response.headers()[LOCATION].to_str().unwrap()
}

/// The session token of a successful register or login, after checking the cookie's
/// attributes and the redirect.
fn session_of(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(response), "/electrum");
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(
            cookie.split("; ").any(|a| a == attribute),
            "{attribute} in {cookie}"
        );
    }
    let token = cookie
        .strip_prefix("session=")
        .and_then(|c| c.split(';').next())
        .unwrap();
    assert!(token.len() >= 32, "{token}");
    token.to_owned()
}

/// The text of the element that `open` (its whole opening tag) starts.
fn element(html: &str, open: &str) -> String {
    let start = html
        .find(open)
        .unwrap_or_else(|| panic!("{open} in {html}"))
        + open.len();
    let end = html[start..].find("</").unwrap() + start;
    html[start..end].to_owned()
}

/// Decodes a bech32 segwit v0 address under `hrp` (BIP 173), independently of the app's
/// Python decoder: the checksum, the witness version and the program length.
fn bech32_program(hrp: &str, address: &str) -> Vec<u8> {
    const CHARSET: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    const GENERATOR: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let (prefix, data) = address.rsplit_once('1').unwrap();
    assert_eq!(prefix, hrp);
    let values: Vec<u32> = data
        .chars()
        .map(|c| CHARSET.find(c).unwrap() as u32)
        .collect();
    let mut checksum = 1u32;
    let expanded = hrp
        .bytes()
        .map(|b| u32::from(b) >> 5)
        .chain([0])
        .chain(hrp.bytes().map(|b| u32::from(b) & 31));
    for value in expanded.chain(values.iter().copied()) {
        let top = checksum >> 25;
        checksum = ((checksum & 0x1ff_ffff) << 5) ^ value;
        for (i, generator) in GENERATOR.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                checksum ^= generator;
            }
        }
    }
    assert_eq!(checksum, 1, "bech32 checksum of {address}");
    assert_eq!(values[0], 0, "witness version 0");
    let (mut acc, mut bits, mut program) = (0u32, 0u32, Vec::new());
    for value in &values[1..values.len() - 6] {
        acc = (acc << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            program.push((acc >> bits) as u8);
        }
    }
    program
}

#[tokio::test]
async fn the_wallet_over_https_registers_creates_a_wallet_and_keeps_it_across_restarts() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let app = App::start(work.path(), &data).await;

    let anonymous = app.get("/electrum", None).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&anonymous), "/electrum/login");
    let login_page = app.get("/electrum/login", None).await.text().await.unwrap();
    for id in [
        r#"<form id="login-form" method="post" action="/electrum/login">"#,
        r#"<input id="username" name="username""#,
        r#"<input id="password" name="password" type="password""#,
        r#"<button id="login-submit" type="submit">"#,
        r#"href="/electrum/register""#,
    ] {
        assert!(login_page.contains(id), "{id} in {login_page}");
    }
    let register_page = app
        .get("/electrum/register", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        register_page
            .contains(r#"<form id="register-form" method="post" action="/electrum/register">"#)
    );
    assert!(register_page.contains(r#"<button id="register-submit" type="submit">"#));

    let empty = app
        .post(
            "/electrum/register",
            None,
            &[("username", ""), ("password", "")],
        )
        .await;
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    assert!(empty.text().await.unwrap().contains(r#"<p id="error">"#));
    let hostile = app
        .post(
            "/electrum/register",
            None,
            &[("username", "<script>x</script>"), ("password", "pw")],
        )
        .await;
    assert_eq!(hostile.status(), StatusCode::BAD_REQUEST);
    let hostile = hostile.text().await.unwrap();
    assert!(!hostile.contains("<script>x"), "{hostile}");
    assert!(hostile.contains("&lt;script&gt;x"), "{hostile}");

    let registered = app
        .post(
            "/electrum/register",
            None,
            &[("username", "alice"), ("password", "correct horse")],
        )
        .await;
    let session = session_of(&registered);
    let page = app.get("/electrum", Some(&session)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    let arch = String::from_utf8(Command::new("uname").arg("-m").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(
        element(&page, r#"<h1 id="title">"#),
        format!("Bitcoin Wallet on {arch} Linux")
    );
    assert_eq!(element(&page, r#"<span id="user">"#), "alice");
    for tab in ["history", "requests", "receive", "send", "sign", "wallet"] {
        let link = format!(r#"<a id="tab-{tab}" href="/electrum?tab={tab}""#);
        assert!(page.contains(&link), "{link}");
    }
    assert!(
        page.contains(r#"<form id="create-wallet-form" method="post" action="/electrum/wallet">"#)
    );

    let created = app.post("/electrum/wallet", Some(&session), &[]).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&created), "/electrum?tab=receive");
    let receive = app
        .get("/electrum?tab=receive", Some(&session))
        .await
        .text()
        .await
        .unwrap();
    let address = element(&receive, r#"<code id="receive-address">"#);
    assert!(address.starts_with("tb1q"), "{address}");
    assert_eq!(bech32_program("tb", &address).len(), 20, "a P2WPKH program");
    assert!(receive.contains(r#"<p id="offline-note">"#));
    let wallet_tab = app
        .get("/electrum?tab=wallet", Some(&session))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        element(&wallet_tab, r#"<code id="wallet-file">"#),
        "alice.json"
    );
    let wallet_file = data.join("wallets/alice.json");
    let wallet: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&wallet_file).unwrap()).unwrap();
    assert_eq!(wallet["address"], address.as_str());
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&wallet_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A second create keeps the key.
    app.post("/electrum/wallet", Some(&session), &[]).await;
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&wallet_file).unwrap()).unwrap();
    assert_eq!(again, wallet);
    app.stop();

    // A restart: a fresh certificate, the same data.
    let app = App::start(work.path(), &data).await;
    let kept = app.get("/electrum", Some(&session)).await;
    assert_eq!(kept.status(), StatusCode::OK, "sessions persist");
    let wrong = app
        .post(
            "/electrum/login",
            None,
            &[("username", "alice"), ("password", "wrong")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains(r#"<p id="error">"#));
    let taken = app
        .post(
            "/electrum/register",
            None,
            &[("username", "alice"), ("password", "other")],
        )
        .await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    assert!(taken.text().await.unwrap().contains(r#"<p id="error">"#));
    let login = app
        .post(
            "/electrum/login",
            None,
            &[("username", "alice"), ("password", "correct horse")],
        )
        .await;
    let second = session_of(&login);
    assert_ne!(second, session);
    let receive = app
        .get("/electrum?tab=receive", Some(&second))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(element(&receive, r#"<code id="receive-address">"#), address);

    let logout = app.post("/electrum/logout", Some(&second), &[]).await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    let after = app.get("/electrum", Some(&second)).await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "the session ended");
    assert_eq!(location(&after), "/electrum/login");
    let forged = app.get("/electrum", Some("forged-token")).await;
    assert_eq!(forged.status(), StatusCode::SEE_OTHER);
    app.stop();
}

/// Runs `buildah` with storage of its own under `work` (vfs, as the Secure Build Server
/// does); returns stdout, panicking with stderr on failure.
fn buildah(work: &Path, args: &[&str]) -> String {
    let out = Command::new("buildah")
        .arg("--root")
        .arg(work.join("storage"))
        .arg("--runroot")
        .arg(work.join("run"))
        .args(["--storage-driver", "vfs"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "buildah {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Kills a process group (buildah run and what it started) when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// Runs the image's own start script (`/app/start.sh`: certificate for the container's host
/// name, then the wallet) in `container` on a loopback port, and reaches it over HTTPS by
/// the name in that certificate.
async fn start_script_serves_in_the_container(work: &Path, container: &str) {
    use std::os::unix::process::CommandExt as _;
    let tls = work.join("container-tls");
    std::fs::create_dir_all(&tls).unwrap();
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(work.join("container.log")).unwrap();
    let group = Group(
        Command::new("buildah")
            .arg("--root")
            .arg(work.join("storage"))
            .arg("--runroot")
            .arg(work.join("run"))
            .args(["--storage-driver", "vfs", "run", "--isolation", "chroot"])
            .args(["--env", "WALLET_BIND=127.0.0.1"])
            .arg("--env")
            .arg(format!("WALLET_PORT={port}"))
            .arg("--volume")
            .arg(format!("{}:/run/wallet", tls.display()))
            .args([container, "--", "/app/start.sh"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the container's app did not listen in 60 s: {}",
            std::fs::read_to_string(work.join("container.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(tls.join("cert.pem"))
        .output()
        .unwrap();
    let names = String::from_utf8(names.stdout).unwrap();
    let host = names
        .split("DNS:")
        .nth(1)
        .unwrap_or_else(|| panic!("a DNS name in {names}"))
        .trim()
        .to_owned();
    let client = client(&tls.join("cert.pem"), &host, port);
    let base = format!("https://{host}:{port}");
    let anonymous = client.get(format!("{base}/electrum")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&anonymous), "/electrum/login");
    let registered = client
        .post(format!("{base}/electrum/register"))
        .form(&[("username", "bob"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    let session = session_of(&registered);
    let page = client
        .get(format!("{base}/electrum"))
        .header(COOKIE, format!("session={session}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        element(&page, r#"<h1 id="title">"#).starts_with("Bitcoin Wallet on "),
        "{page}"
    );
    // The wallet in the chroot can still answer for a moment after the group is killed:
    // wait for its port to close (no process may outlive the test).
    drop(group);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the container's app still listens 10 s after buildah was killed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_base_image_is_cached_pushes_and_the_app_builds_on_it() {
    let options = BaseImageOptions::default();
    let started = Instant::now();
    let image = base_image::prepare(&options).await.unwrap();
    eprintln!(
        "base image {} ({} bytes of blobs, made now: {}) in {:?}",
        image.digest,
        image.blob_bytes,
        image.made_now,
        started.elapsed()
    );
    assert_eq!(image.tag, "bookworm");
    assert!(image.layout_dir.starts_with(&options.cache_dir));
    let warm = Instant::now();
    let again = base_image::prepare(&options).await.unwrap();
    eprintln!("warm: {:?}", warm.elapsed());
    assert!(!again.made_now, "the second call uses the cache");
    assert_eq!(again.digest, image.digest);

    let registry = Registry::start(RegistryOptions::default()).unwrap();
    let reference = format!(
        "{}/{}:{}",
        registry.host(),
        base_image::REPOSITORY,
        image.tag
    );
    let layout = Layout::open(&image.layout_dir).unwrap();
    let pushed = oci_push::Client::new(oci_push::ClientOptions {
        security: oci_push::Security::InsecureHttp,
        ..Default::default()
    })
    .unwrap()
    .push_layout(
        &layout,
        Some(&image.tag),
        &ImageRef::parse(&reference).unwrap(),
        &PushOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(pushed.digest, image.digest);

    // The app's Dockerfile, FROM rewritten to this registry, builds with buildah as the
    // Secure Build Server runs it, and the result has what the app needs.
    let work = tempfile::tempdir().unwrap();
    let context = work.path().join("context");
    copy_tree(&app_dir(), &context);
    let dockerfile = std::fs::read_to_string(context.join("Dockerfile")).unwrap();
    let from = format!(
        "FROM {}/{}:bookworm",
        registry.host(),
        base_image::REPOSITORY
    );
    assert!(dockerfile.contains("\nFROM hpvs-lab/debian-python:bookworm\n"));
    std::fs::write(
        context.join("Dockerfile"),
        dockerfile.replace("FROM hpvs-lab/debian-python:bookworm", &from),
    )
    .unwrap();
    let context_arg = context.display().to_string();
    buildah(
        work.path(),
        &[
            "bud",
            "--isolation",
            "chroot",
            "--layers=false",
            "--tls-verify=false",
            "-t",
            "localhost/lab-app:test",
            &context_arg,
        ],
    );
    let container = buildah(work.path(), &["from", "localhost/lab-app:test"])
        .trim()
        .to_owned();
    let check = r#"
import sys
sys.path.insert(0, "/app")
import hashlib, http.server, ssl
import keys, store, pages, wallet
assert keys.testnet_address(1) == "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
assert keys.ripemd160_python(b"abc") == keys.ripemd160(b"abc")
print("ok", ssl.OPENSSL_VERSION)
"#;
    let output = buildah(
        work.path(),
        &[
            "run",
            "--isolation",
            "chroot",
            &container,
            "--",
            "python3",
            "-c",
            check,
        ],
    );
    assert!(output.starts_with("ok OpenSSL 3."), "{output}");
    let cert = buildah(
        work.path(),
        &[
            "run",
            "--isolation",
            "chroot",
            &container,
            "--",
            "sh",
            "-c",
            "/app/make-cert.sh /run/wallet && openssl x509 -in /run/wallet/cert.pem -noout -subject -ext basicConstraints,subjectAltName && ls -d /data",
        ],
    );
    assert!(cert.contains("CA:FALSE"), "{cert}");
    assert!(cert.contains("DNS:"), "{cert}");
    assert!(cert.contains("/data"), "{cert}");
    let config = buildah(
        work.path(),
        &["inspect", "--type", "image", "localhost/lab-app:test"],
    );
    assert!(config.contains("/app/start.sh"), "entrypoint in {config}");
    assert!(config.contains("443/tcp"), "exposed port in {config}");
    start_script_serves_in_the_container(work.path(), &container).await;
    buildah(work.path(), &["rm", &container]);
    buildah(work.path(), &["rmi", "--all", "--force"]);
}
