//! Headless Chromium through chromedriver against small servers of the test's own: a form
//! submitted over plain HTTP, and a page behind a self-signed certificate opened by a host
//! name mapped to loopback. Needs `chromium` and `chromedriver` (`./scripts/install-peers.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use devstack::browser::PNG_SIGNATURE;
use devstack::{Browser, Error, SessionOptions, WebDriverError};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const FORM: &str = "<!doctype html><html><head><title>Form page</title></head><body>\
    <form action=\"/result\" method=\"get\">\
    <input id=\"name\" name=\"name\" type=\"text\">\
    <button id=\"send\" type=\"submit\">Send</button>\
    </form></body></html>";

/// The status line and body the test servers answer `target` (`/path?query`) with.
fn page(target: &str) -> (&'static str, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/" => ("200 OK", FORM.to_owned()),
        "/result" => {
            let name = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("name="))
                .map(form_decode)
                .unwrap_or_default();
            let body = format!(
                "<!doctype html><html><head><title>Result</title></head><body>\
                 <p id=\"greeting\">{}</p></body></html>",
                html_escape(&name)
            );
            ("200 OK", body)
        }
        _ => ("404 Not Found", "not found".to_owned()),
    }
}

/// Decodes `application/x-www-form-urlencoded` text (`+` and `%XX`).
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The HTTP response for a request head (`GET /target HTTP/1.1...`).
fn respond(head: &str) -> Vec<u8> {
    let target = head.split(' ').nth(1).unwrap_or("/");
    let (status, body) = page(target);
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves [`page`] over plain HTTP on a free loopback port; returns the port.
async fn serve_http() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let response = respond(&String::from_utf8_lossy(&head));
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    port
}

/// Serves [`page`] over HTTPS with a certificate for `host` from a CA nobody trusts, on a
/// free loopback port; returns the port.
fn serve_https(host: &str) -> u16 {
    use keymgmt::mtls::{MtlsMaterial, SubjectAltName};
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{Read as _, Write as _};

    let material = MtlsMaterial::generate(host, &[SubjectAltName::Dns(host.to_owned())]).unwrap();
    let chain = CertificateDer::pem_slice_iter(material.server().certificate_pem().as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key =
        PrivateKeyDer::from_pem_slice(material.server().private_key_pem().as_bytes()).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(socket) = socket else { return };
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
                let connection = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, socket);
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                    match tls.read(&mut buffer) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = tls.write_all(&respond(&String::from_utf8_lossy(&head)));
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    port
}

/// The PIDs of live (not zombie) processes with `dir` on their command line.
fn processes_naming(dir: &Path) -> Vec<u32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let names = cmdline.windows(needle.len()).any(|w| w == needle);
            (names && state != "Z").then_some(pid)
        })
        .collect()
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_owned();
            Some(state != "Z")
        })
        .unwrap_or(false)
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    (width, height)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_round_trip_screenshot_errors_and_cleanup() {
    let test = Instant::now();
    let port = serve_http().await;
    let started = Instant::now();
    let browser = Browser::start().unwrap();
    let driver_up = started.elapsed();
    let session = browser.session().await.unwrap();
    eprintln!(
        "chromedriver ready in {driver_up:?}, chromium session in {:?}",
        started.elapsed() - driver_up
    );

    let base = format!("http://127.0.0.1:{port}/");
    session.goto(&base).await.unwrap();
    assert_eq!(session.title().await.unwrap(), "Form page");
    assert_eq!(session.current_url().await.unwrap(), base);

    let typed = "Ada Lovelace & <42>";
    let input = session.find("input#name").await.unwrap();
    assert_eq!(
        input.attribute("name").await.unwrap().as_deref(),
        Some("name")
    );
    assert_eq!(input.attribute("data-absent").await.unwrap(), None);
    input.send_keys(typed).await.unwrap();
    // W3C attributes are the markup's: typing changes the property, not the attribute.
    assert_eq!(input.attribute("value").await.unwrap(), None);
    session.find("#send").await.unwrap().click().await.unwrap();

    let greeting = session
        .wait_for("p#greeting", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(greeting.text().await.unwrap(), typed);
    assert_eq!(session.title().await.unwrap(), "Result");
    let result_url = session.current_url().await.unwrap();
    assert_eq!(
        result_url,
        format!("http://127.0.0.1:{port}/result?name=Ada+Lovelace+%26+%3C42%3E")
    );

    let png = session.screenshot_png().await.unwrap();
    assert!(png.starts_with(&PNG_SIGNATURE));
    assert!(
        png.len() > 1024,
        "a 1280x900 page is more than {} bytes",
        png.len()
    );
    // The window is 1280x900; the screenshot is its viewport, without the browser's bar.
    let (width, height) = png_size(&png);
    assert_eq!(width, devstack::browser::WINDOW_SIZE.0);
    assert!(
        (600..=devstack::browser::WINDOW_SIZE.1).contains(&height),
        "{height}"
    );
    let shots = tempfile::tempdir().unwrap();
    let file = shots.path().join("result.png");
    std::fs::write(&file, &png).unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), png);

    match session.find("#does-not-exist").await {
        Err(Error::WebDriver(WebDriverError::NoSuchElement { selector, url })) => {
            assert_eq!(selector, "#does-not-exist");
            assert_eq!(url, result_url);
        }
        Err(other) => panic!("expected NoSuchElement, got {other}"),
        Ok(_) => panic!("#does-not-exist must not match"),
    }
    let waited = Instant::now();
    match session.wait_for(".never", Duration::from_millis(300)).await {
        Err(error @ Error::WebDriver(WebDriverError::WaitTimedOut { .. })) => {
            let text = error.to_string();
            assert!(
                text.contains("\".never\"") && text.contains(&result_url),
                "{text}"
            );
            assert!(waited.elapsed() >= Duration::from_millis(300));
        }
        Err(other) => panic!("expected WaitTimedOut, got {other}"),
        Ok(_) => panic!(".never must not match"),
    }
    // A bad selector is chromedriver's own W3C error, passed on with its code.
    match session.find("input[").await {
        Err(Error::WebDriver(WebDriverError::Rejected { error, command, .. })) => {
            assert_eq!(error, "invalid selector");
            assert!(command.ends_with("/element"), "{command}");
        }
        Err(other) => panic!("expected Rejected, got {other}"),
        Ok(_) => panic!("input[ is not a selector"),
    }

    // Every process of this browser goes with it.
    let dir = browser.data_dir().to_owned();
    let driver = browser.pid();
    let chromium = processes_naming(&dir);
    assert!(
        !chromium.is_empty(),
        "chromium runs with its profile in {}",
        dir.display()
    );
    assert!(alive(driver));
    drop(session);
    let dropping = Instant::now();
    drop(browser);
    eprintln!("browser stopped in {:?}", dropping.elapsed());
    assert_eq!(processes_naming(&dir), Vec::<u32>::new());
    assert!(!alive(driver), "chromedriver {driver} was killed");
    for pid in chromium {
        assert!(!alive(pid), "chromium {pid} was killed");
    }
    assert!(!dir.exists(), "{} was removed", dir.display());
    eprintln!("whole test in {:?}", test.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_page_opens_by_mapped_host_name() {
    let host = "workload.example";
    let port = serve_https(host);
    let browser = Browser::start().unwrap();
    let session = browser
        .session_with(SessionOptions {
            host_rules: vec![(host.to_owned(), "127.0.0.1".to_owned())],
        })
        .await
        .unwrap();
    let url = format!("https://{host}:{port}/");
    session.goto(&url).await.unwrap();
    assert_eq!(session.current_url().await.unwrap(), url);
    assert_eq!(session.title().await.unwrap(), "Form page");
    session.find("input#name").await.unwrap();

    // Each session has a profile of its own.
    let profiles = browser.data_dir().to_owned();
    session.close().await.unwrap();
    let second = browser.session().await.unwrap();
    second.close().await.unwrap();
    assert!(profiles.join("profile-0").is_dir() && profiles.join("profile-1").is_dir());
}
