//! Headless Chromium driven through W3C WebDriver: `chromedriver` (Debian `chromium-driver`)
//! on a free loopback port, and a small WebDriver client over plain HTTP with only the
//! commands the lab's tests need (navigate, find, type, click, read, screenshot).
//!
//! ```text
//! test ──HTTP (W3C WebDriver)──▶ chromedriver ──DevTools──▶ chromium --headless
//!                                 (process group of its own, killed on drop)
//! ```
//!
//! What it does not do: it is not a general WebDriver client (no frames, windows, cookies,
//! scripts or actions API), it starts no browser other than Chromium, and it never talks to
//! anything but loopback. A [`Browser`] owns the processes: dropping it kills chromedriver
//! and every Chromium process it started (the whole process group) and removes the
//! user-data directories. A [`Session`] is one Chromium window with a fresh profile;
//! [`Session::close`] ends it early, otherwise it ends with its [`Browser`].
//! [`Browser::start`] is synchronous (like the other peers); sessions and elements are async
//! and need a Tokio runtime.
//!
//! Chromium runs with `--headless --no-sandbox --disable-gpu --disable-background-networking
//! --disable-component-update --disable-sync --no-first-run --no-proxy-server`, a window of
//! 1280x900 and `acceptInsecureCerts`, so a page behind a self-signed certificate opens.
//! [`SessionOptions::host_rules`] maps host names to loopback addresses, so that a server
//! can be opened by the name its certificate holds.
//!
//! Failed commands give [`Error::WebDriver`] with a
//! [`WebDriverError`]: the W3C `error` code and `message` chromedriver answered, or a typed
//! case such as [`WebDriverError::NoSuchElement`] naming the selector and the page.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use devstack::browser::Browser;
//!
//! # async fn example() -> Result<(), devstack::Error> {
//! let browser = Browser::start()?;
//! let session = browser.session().await?;
//! session.goto("http://127.0.0.1:8080/").await?;
//! session.find("input[name=q]").await?.send_keys("hello").await?;
//! session.find("button[type=submit]").await?.click().await?;
//! let result = session.wait_for("#result", Duration::from_secs(5)).await?;
//! assert_eq!(result.text().await?, "hello");
//! let png = session.screenshot_png().await?;
//! assert!(png.starts_with(b"\x89PNG"));
//! session.close().await?;
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::{Error, process, require_binary};

mod driver;

use driver::{kill_group, spawn_driver, wait_ready};

/// The flags every Chromium of a [`Session`] gets (besides the window size, the user-data
/// directory and the host rules).
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-proxy-server",
];

/// The window size of every [`Session`], in CSS pixels (width, height). Headless Chromium
/// keeps room for its (invisible) toolbar: the viewport, and so a screenshot, is as wide but
/// less high (1280x757 with Chromium 156).
pub const WINDOW_SIZE: (u32, u32) = (1280, 900);

/// The first eight bytes of every PNG file.
pub const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

/// The key of a W3C element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long one WebDriver command may take (page loads included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How often [`Session::wait_for`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A WebDriver command that failed: the protocol's answer or a check of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebDriverError {
    /// Chromedriver answered a command with a W3C error.
    #[error("chromedriver refused {command}: {error}: {message}")]
    Rejected {
        /// The command (`POST /session/.../url`).
        command: String,
        /// The W3C error code (`invalid argument`, `unknown error`...).
        error: String,
        /// Chromedriver's message.
        message: String,
    },
    /// [`Session::find`] found no element for the selector.
    #[error("no element matches the css selector {selector:?} on {url}")]
    NoSuchElement {
        /// The CSS selector.
        selector: String,
        /// The URL of the page searched.
        url: String,
    },
    /// [`Session::wait_for`] found no element for the selector in time.
    #[error("no element matched the css selector {selector:?} on {url} within {timeout:?}")]
    WaitTimedOut {
        /// The CSS selector.
        selector: String,
        /// The URL of the page when the time ran out.
        url: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// Chromedriver could not be reached (or did not answer in time).
    #[error("cannot send {command} to chromedriver: {reason}")]
    Unreachable {
        /// The command.
        command: String,
        /// Why.
        reason: String,
    },
    /// Chromedriver's answer is not what the W3C specification says it is.
    #[error("chromedriver answered {command} with {reason}")]
    Malformed {
        /// The command.
        command: String,
        /// What is wrong with the answer.
        reason: String,
    },
    /// A screenshot does not start with the PNG signature.
    #[error(
        "the screenshot starts with {head:02x?}, expected the PNG signature {PNG_SIGNATURE:02x?}"
    )]
    ScreenshotNotPng {
        /// Its first bytes (up to eight).
        head: Vec<u8>,
    },
}

/// What [`Browser::session_with`] gives a session besides the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOptions {
    /// Host name to IP address mappings (`("workload.example", "127.0.0.1")`), passed to
    /// Chromium as `--host-resolver-rules=MAP name address`: a page can then be opened by
    /// the host name its server's certificate names. Names may use `*` wildcards as
    /// Chromium allows; neither side may contain whitespace or commas.
    pub host_rules: Vec<(String, String)>,
}

impl SessionOptions {
    /// The `--host-resolver-rules` flag for these rules, if any.
    fn host_resolver_flag(&self) -> Result<Option<String>, Error> {
        if self.host_rules.is_empty() {
            return Ok(None);
        }
        let mut rules = Vec::with_capacity(self.host_rules.len());
        for (host, address) in &self.host_rules {
            let host_ok = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*'));
            if !host_ok {
                return Err(Error::InvalidName {
                    what: "host name for a host resolver rule",
                    name: host.clone(),
                });
            }
            if address.parse::<std::net::IpAddr>().is_err() {
                return Err(Error::InvalidName {
                    what: "IP address for a host resolver rule",
                    name: address.clone(),
                });
            }
            rules.push(format!("MAP {host} {address}"));
        }
        Ok(Some(format!("--host-resolver-rules={}", rules.join(", "))))
    }
}

/// Chromedriver on a free loopback port, with its log file and a directory of its own for
/// the sessions' user-data directories (and Chromium's `HOME`).
///
/// Dropping it kills chromedriver and every Chromium process it started (chromedriver runs
/// in a process group of its own, which is killed as a whole), waits until they are gone and
/// removes the directory.
#[derive(Debug)]
pub struct Browser {
    child: Child,
    wire: Wire,
    port: u16,
    chromium: PathBuf,
    log: PathBuf,
    sessions: AtomicU32,
    // Dropped after `Drop::drop` killed the processes.
    dir: TempDir,
}

impl Browser {
    /// Starts chromedriver (Debian `chromium-driver`, finding `chromium`, Debian `chromium`)
    /// on a free loopback port and waits until its `/status` says it is ready.
    ///
    /// A missing binary is [`Error::MissingBinary`]; `./scripts/install-peers.sh` installs
    /// both packages.
    pub fn start() -> Result<Browser, Error> {
        let chromium = require_binary("chromium", "chromium")?;
        let chromedriver = require_binary("chromedriver", "chromium-driver")?;
        let dir = process::instance_dir("devstack-browser-")?;
        let log = dir.path().join("chromedriver.log");
        for attempt in 1..=process::PORT_ATTEMPTS {
            let port = process::free_port()?;
            let wire = Wire::new(port)?;
            let mut child = spawn_driver(&chromedriver, port, dir.path(), &log)?;
            match wait_ready(&mut child, &wire.base, &log) {
                Ok(()) => {
                    tracing::debug!(pid = child.id(), port, "started chromedriver");
                    return Ok(Browser {
                        child,
                        wire,
                        port,
                        chromium,
                        log,
                        sessions: AtomicU32::new(0),
                        dir,
                    });
                }
                Err(failure) => {
                    kill_group(&mut child, dir.path());
                    match failure {
                        process::StartFailure::AddressInUse => {
                            tracing::debug!(port, attempt, "chromedriver port clash, retrying");
                        }
                        process::StartFailure::Fatal(error) => return Err(error),
                    }
                }
            }
        }
        Err(Error::PortsExhausted {
            name: "chromedriver".to_owned(),
            attempts: process::PORT_ATTEMPTS,
        })
    }

    /// Starts a headless Chromium with a fresh user-data directory, `acceptInsecureCerts`
    /// and a 1280x900 window.
    pub async fn session(&self) -> Result<Session, Error> {
        self.session_with(SessionOptions::default()).await
    }

    /// [`session`](Self::session) with `options` (host name mappings).
    pub async fn session_with(&self, options: SessionOptions) -> Result<Session, Error> {
        let number = self.sessions.fetch_add(1, Ordering::Relaxed);
        let profile = self.dir.path().join(format!("profile-{number}"));
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|&flag| flag.to_owned()).collect();
        args.push(format!("--window-size={},{}", WINDOW_SIZE.0, WINDOW_SIZE.1));
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(options.host_resolver_flag()?);
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "acceptInsecureCerts": true,
                    "goog:chromeOptions": {
                        "binary": self.chromium,
                        "args": args,
                    },
                },
            },
        });
        let value = self
            .wire
            .call(Method::POST, &["session"], Some(capabilities))
            .await?;
        let id = value
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| WebDriverError::Malformed {
                command: "POST /session".to_owned(),
                reason: format!("no sessionId in {value}"),
            })?
            .to_owned();
        tracing::debug!(session = id, profile = %profile.display(), "started chromium");
        Ok(Session {
            wire: self.wire.clone(),
            id,
        })
    }

    /// The port chromedriver listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Chromedriver's process ID (also the ID of the process group of every Chromium).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Chromedriver's log (what Chromium prints goes there too).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The directory holding the sessions' user-data directories (`profile-N`) and
    /// Chromium's `HOME`; every Chromium process has it on its command line.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.child, self.dir.path());
        tracing::debug!(pid = self.child.id(), "stopped chromedriver and chromium");
    }
}

/// The HTTP side of the WebDriver protocol: one command, one JSON answer.
#[derive(Debug, Clone)]
struct Wire {
    client: reqwest::Client,
    base: String,
}

impl Wire {
    /// A client for chromedriver on `port` (plain HTTP, no proxy).
    fn new(port: u16) -> Result<Wire, Error> {
        let fail = |reason: String| Error::HttpClient {
            name: "chromedriver".to_owned(),
            reason,
        };
        let tls = registry_http::TlsOptions {
            roots: registry_http::TrustRoots::Nothing,
            client_identity_pem: None,
        };
        let client = tls
            .reqwest_builder()
            .map_err(|e| fail(e.to_string()))?
            .timeout(COMMAND_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| fail(registry_http::error_chain(&e)))?;
        Ok(Wire {
            client,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    /// Sends `method /segments...` with `body` (an empty object for a POST without one) and
    /// returns the answer's `value`.
    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let command = format!("{method} /{}", segments.join("/"));
        let mut url = reqwest::Url::parse(&self.base).map_err(|e| WebDriverError::Unreachable {
            command: command.clone(),
            reason: format!("bad base URL {}: {e}", self.base),
        })?;
        url.path_segments_mut()
            .map_err(|()| WebDriverError::Unreachable {
                command: command.clone(),
                reason: format!("base URL {} cannot have a path", self.base),
            })?
            .extend(segments);
        let mut request = self.client.request(method.clone(), url);
        if method == Method::POST {
            let body = body.unwrap_or_else(|| json!({}));
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let unreachable = |e: reqwest::Error| WebDriverError::Unreachable {
            command: command.clone(),
            reason: registry_http::error_chain(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        parse_answer(&command, status, &bytes)
    }
}

/// The `value` of a WebDriver answer, or its W3C error.
fn parse_answer(
    command: &str,
    status: reqwest::StatusCode,
    body: &[u8],
) -> Result<Value, WebDriverError> {
    let malformed = |reason: String| WebDriverError::Malformed {
        command: command.to_owned(),
        reason,
    };
    let mut answer: Value = serde_json::from_slice(body).map_err(|e| {
        let start = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        malformed(format!(
            "HTTP {status} and a body that is not JSON ({e}): {start:?}"
        ))
    })?;
    let value = answer
        .get_mut("value")
        .map(Value::take)
        .ok_or_else(|| malformed(format!("HTTP {status} and no \"value\" in the body")))?;
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        return Err(WebDriverError::Rejected {
            command: command.to_owned(),
            error: error.to_owned(),
            message: value
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        });
    }
    if !status.is_success() {
        return Err(malformed(format!(
            "HTTP {status} without a W3C error: {value}"
        )));
    }
    Ok(value)
}

/// The string a command answered.
fn expect_string(command: &str, value: Value) -> Result<String, WebDriverError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(WebDriverError::Malformed {
            command: command.to_owned(),
            reason: format!("{other}, expected a string"),
        }),
    }
}

/// One Chromium window with a fresh profile, driven through chromedriver.
///
/// It ends with [`close`](Self::close), or at the latest when its [`Browser`] is dropped.
#[derive(Debug)]
pub struct Session {
    wire: Wire,
    id: String,
}

impl Session {
    /// Sends a command of this session (`/session/ID/...`).
    async fn call(
        &self,
        method: Method,
        path: &[&str],
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let mut segments = vec!["session", self.id.as_str()];
        segments.extend_from_slice(path);
        self.wire.call(method, &segments, body).await
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) -> Result<(), Error> {
        self.call(Method::POST, &["url"], Some(json!({ "url": url })))
            .await?;
        Ok(())
    }

    /// The URL of the current page.
    pub async fn current_url(&self) -> Result<String, Error> {
        let value = self.call(Method::GET, &["url"], None).await?;
        Ok(expect_string("GET /session/ID/url", value)?)
    }

    /// The title of the current page.
    pub async fn title(&self) -> Result<String, Error> {
        let value = self.call(Method::GET, &["title"], None).await?;
        Ok(expect_string("GET /session/ID/title", value)?)
    }

    /// The first element matching the CSS selector `css`; none is
    /// [`WebDriverError::NoSuchElement`], naming the selector and the page's URL.
    pub async fn find(&self, css: &str) -> Result<Element, Error> {
        match self.try_find(css).await? {
            Some(element) => Ok(element),
            None => Err(WebDriverError::NoSuchElement {
                selector: css.to_owned(),
                url: self.url_for_error().await,
            }
            .into()),
        }
    }

    /// Looks for `css` every 50 ms until an element matches or `timeout` passes
    /// ([`WebDriverError::WaitTimedOut`], naming the selector and the page's URL).
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(element) = self.try_find(css).await? {
                return Ok(element);
            }
            if Instant::now() >= deadline {
                return Err(WebDriverError::WaitTimedOut {
                    selector: css.to_owned(),
                    url: self.url_for_error().await,
                    timeout,
                }
                .into());
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The first element matching `css`, if any.
    async fn try_find(&self, css: &str) -> Result<Option<Element>, WebDriverError> {
        let body = json!({ "using": "css selector", "value": css });
        match self.call(Method::POST, &["element"], Some(body)).await {
            Ok(value) => Ok(Some(self.element(value)?)),
            Err(WebDriverError::Rejected { error, .. }) if error == "no such element" => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// A screenshot of the window as PNG bytes, checked to start with the PNG signature.
    pub async fn screenshot_png(&self) -> Result<Vec<u8>, Error> {
        const COMMAND: &str = "GET /session/ID/screenshot";
        let value = self.call(Method::GET, &["screenshot"], None).await?;
        let encoded = expect_string(COMMAND, value)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|e| WebDriverError::Malformed {
                command: COMMAND.to_owned(),
                reason: format!("a screenshot that is not base64: {e}"),
            })?;
        check_png(&png)?;
        Ok(png)
    }

    /// Ends the session: Chromium quits and its window is gone.
    pub async fn close(self) -> Result<(), Error> {
        self.call(Method::DELETE, &[], None).await?;
        Ok(())
    }

    /// The current URL, or why it is unknown, for an error message.
    async fn url_for_error(&self) -> String {
        match self.current_url().await {
            Ok(url) => url,
            Err(error) => format!("(unknown page: {error})"),
        }
    }

    /// The element of a `find` answer.
    fn element(&self, value: Value) -> Result<Element, WebDriverError> {
        let id = value
            .get(ELEMENT_KEY)
            .and_then(Value::as_str)
            .ok_or_else(|| WebDriverError::Malformed {
                command: "POST /session/ID/element".to_owned(),
                reason: format!("{value}, expected an element reference"),
            })?;
        Ok(Element {
            wire: self.wire.clone(),
            session: self.id.clone(),
            id: id.to_owned(),
        })
    }
}

/// Checks the PNG signature.
fn check_png(bytes: &[u8]) -> Result<(), WebDriverError> {
    if bytes.starts_with(&PNG_SIGNATURE) {
        Ok(())
    } else {
        Err(WebDriverError::ScreenshotNotPng {
            head: bytes[..bytes.len().min(PNG_SIGNATURE.len())].to_vec(),
        })
    }
}

/// An element of a [`Session`]'s page, found with [`Session::find`] or
/// [`Session::wait_for`].
#[derive(Debug, Clone)]
pub struct Element {
    wire: Wire,
    session: String,
    id: String,
}

impl Element {
    /// Sends an element command (`/session/S/element/E/...`).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let segments = ["session", &self.session, "element", &self.id, path];
        self.wire.call(method, &segments, body).await
    }

    /// Types `text` into the element (after focusing it).
    pub async fn send_keys(&self, text: &str) -> Result<(), Error> {
        self.call(Method::POST, "value", Some(json!({ "text": text })))
            .await?;
        Ok(())
    }

    /// Clicks the element (in its centre, scrolling it into view first).
    pub async fn click(&self) -> Result<(), Error> {
        self.call(Method::POST, "click", None).await?;
        Ok(())
    }

    /// The element's rendered text.
    pub async fn text(&self) -> Result<String, Error> {
        let value = self.call(Method::GET, "text", None).await?;
        Ok(expect_string("GET /session/S/element/E/text", value)?)
    }

    /// The attribute `name` as the page's markup sets it (W3C semantics: not the live
    /// `value` of an input typed into), or `None` when the element has no such attribute.
    pub async fn attribute(&self, name: &str) -> Result<Option<String>, Error> {
        let segments = [
            "session",
            &self.session,
            "element",
            &self.id,
            "attribute",
            name,
        ];
        match self.wire.call(Method::GET, &segments, None).await? {
            Value::Null => Ok(None),
            value => Ok(Some(expect_string(
                "GET /session/S/element/E/attribute/NAME",
                value,
            )?)),
        }
    }
}

#[cfg(test)]
mod tests;
