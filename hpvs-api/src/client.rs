//! The async client of the appliance API: one method per call.
//!
//! Every request carries the bearer token; every answer body is read with a bound before it
//! is parsed ([`ANSWER_LIMIT`], [`ERROR_ANSWER_LIMIT`]); every name from a caller is
//! percent-encoded as one path segment, so that `a/b` or `?x` cannot reach another route.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use registry_http::{Secret, Security, TlsOptions, TrustRoots};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::wire::{
    API_BASE, ApiError, ApplianceKey, Image, NewQuotagroup, NewRegistry, NewRepository,
    NewVirtualServer, Quotagroup, Registry, RegistryUpdate, Repository, RepositoryDeleted,
    ServerState, VirtualServer,
};
use crate::{ApplianceConfig, Error};

/// The largest answer body the client reads (logs included): 16 MiB.
pub const ANSWER_LIMIT: u64 = 16 << 20;

/// The largest error answer body the client reads: 64 KiB (an error is a short JSON object).
pub const ERROR_ANSWER_LIMIT: u64 = 64 << 10;

/// How often [`Client::wait_until_settled`] asks for a server's state.
pub const SETTLE_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Bytes of a non-JSON error body kept in [`Error::UnexpectedAnswer`].
const BODY_START_LIMIT: usize = 512;

/// How long connecting may take (the appliance is on the local network).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What deleting a repository does to what was made from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Force {
    /// Refuse ([`crate::wire::ErrorCode::Conflict`]) while virtual servers of the
    /// repository exist.
    #[default]
    RefuseIfInUse,
    /// Delete its virtual servers and images with it (`hpvs repository delete --force`).
    DeleteServersAndImages,
}

impl Force {
    /// The value of the `force` query parameter.
    fn query_value(self) -> &'static str {
        match self {
            Self::RefuseIfInUse => "false",
            Self::DeleteServersAndImages => "true",
        }
    }
}

/// A client of one appliance. Cloning is cheap and shares the connection pool.
///
/// `Debug` shows the API's URL, never the token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The base URL followed by [`API_BASE`], without a trailing slash.
    api: String,
    token: Secret,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api", &self.api)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// A success answer and the call it answers, for decode errors.
struct Answer {
    call: String,
    body: Vec<u8>,
}

impl Answer {
    fn json<T: DeserializeOwned>(self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|error| Error::Decode {
            call: self.call,
            reason: error.to_string(),
        })
    }
}

impl Client {
    /// A client for the appliance `config` describes.
    ///
    /// The URL must be `https://`, or `http://` to a loopback host (`127.0.0.0/8`, `::1`,
    /// `localhost`): anywhere else the token would cross the network in clear. A CA with an
    /// `http://` URL is refused as contradictory. With a CA, only that CA is trusted. The
    /// client uses no proxy and follows no redirect (the token is for the appliance only).
    pub fn new(config: ApplianceConfig) -> Result<Self, Error> {
        let ApplianceConfig {
            url: text,
            token,
            ca_pem,
            request_timeout,
        } = config;
        let invalid_url = |reason: String| Error::InvalidConfig {
            setting: "appliance URL".to_owned(),
            reason: format!("{text:?}: {reason}"),
        };
        let security = Security::of_url(&text).ok_or_else(|| {
            invalid_url("expected https://HOST:PORT (or http:// to a loopback host)".to_owned())
        })?;
        let url = reqwest::Url::parse(&text).map_err(|error| invalid_url(error.to_string()))?;
        let host = url
            .host_str()
            .ok_or_else(|| invalid_url("no host".to_owned()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid_url(
                "credentials do not belong in the URL (HPVS_TOKEN carries them)".to_owned(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid_url("a query or fragment is not allowed".to_owned()));
        }
        let roots = match (security, ca_pem) {
            (Security::Https, Some(pem)) => TrustRoots::CustomCa(pem),
            (Security::Https, None) => TrustRoots::Platform,
            (Security::InsecureHttp, Some(_)) => {
                return Err(invalid_url(
                    "a CA certificate was given for a plain http:// URL".to_owned(),
                ));
            }
            (Security::InsecureHttp, None) if is_loopback(host) => TrustRoots::Nothing,
            (Security::InsecureHttp, None) => {
                return Err(invalid_url(format!(
                    "plain http:// is allowed to loopback hosts only, got {host}"
                )));
            }
        };
        // A header value cannot hold control characters or spaces; say so now rather than
        // fail every call with an opaque builder error. The token itself is never printed.
        if token.is_empty() || !token.expose().bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(Error::InvalidConfig {
                setting: "token".to_owned(),
                reason: "expected a non-empty token of printable ASCII without spaces".to_owned(),
            });
        }
        let tls = TlsOptions {
            roots,
            client_identity_pem: None,
        };
        let builder = tls.reqwest_builder().map_err(|error| match error {
            registry_http::Error::Tls { what, reason } => Error::InvalidConfig {
                setting: what.to_owned(),
                reason,
            },
            other => Error::InvalidConfig {
                setting: "TLS settings".to_owned(),
                reason: other.to_string(),
            },
        })?;
        let http = builder
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT.min(request_timeout))
            .timeout(request_timeout)
            .build()
            .map_err(|error| Error::InvalidConfig {
                setting: "HTTP client".to_owned(),
                reason: registry_http::error_chain(&error),
            })?;
        let base = url.as_str().trim_end_matches('/');
        Ok(Self {
            http,
            api: format!("{base}{API_BASE}"),
            token,
        })
    }

    /// `GET /appliance/key`: the key registration files are encrypted to.
    pub async fn appliance_key(&self) -> Result<ApplianceKey, Error> {
        self.get("/appliance/key").await
    }

    /// `POST /registries`: records a registry (the password is stored encrypted).
    pub async fn add_registry(&self, registry: &NewRegistry) -> Result<Registry, Error> {
        self.send_json(Method::POST, "/registries", registry).await
    }

    /// `GET /registries`.
    pub async fn registries(&self) -> Result<Vec<Registry>, Error> {
        self.get("/registries").await
    }

    /// `GET /registries/{name}`.
    pub async fn registry(&self, name: &str) -> Result<Registry, Error> {
        let name = segment("registry", name)?;
        self.get(&format!("/registries/{name}")).await
    }

    /// `PUT /registries/{name}`: changes the fields `update` holds.
    pub async fn update_registry(
        &self,
        name: &str,
        update: &RegistryUpdate,
    ) -> Result<Registry, Error> {
        let name = segment("registry", name)?;
        self.send_json(Method::PUT, &format!("/registries/{name}"), update)
            .await
    }

    /// `DELETE /registries/{name}`; refused while a repository uses it.
    pub async fn delete_registry(&self, name: &str) -> Result<(), Error> {
        let name = segment("registry", name)?;
        self.no_content(Method::DELETE, &format!("/registries/{name}"))
            .await
    }

    /// `POST /repositories`: registers a repository from its registration file.
    pub async fn register_repository(
        &self,
        repository: &NewRepository,
    ) -> Result<Repository, Error> {
        self.send_json(Method::POST, "/repositories", repository)
            .await
    }

    /// `PUT /repositories/{id}`: replaces the registration; the appliance accepts it only
    /// when signed by the vendor key of the first one.
    pub async fn update_repository(&self, repository: &NewRepository) -> Result<Repository, Error> {
        let id = segment("repository", &repository.id)?;
        self.send_json(Method::PUT, &format!("/repositories/{id}"), repository)
            .await
    }

    /// `GET /repositories`.
    pub async fn repositories(&self) -> Result<Vec<Repository>, Error> {
        self.get("/repositories").await
    }

    /// `GET /repositories/{id}`.
    pub async fn repository(&self, id: &str) -> Result<Repository, Error> {
        let id = segment("repository", id)?;
        self.get(&format!("/repositories/{id}")).await
    }

    /// `DELETE /repositories/{id}?force=...`: what went with it.
    pub async fn delete_repository(
        &self,
        id: &str,
        force: Force,
    ) -> Result<RepositoryDeleted, Error> {
        let id = segment("repository", id)?;
        let path = format!("/repositories/{id}?force={}", force.query_value());
        self.call(Method::DELETE, &path, None, "application/json")
            .await?
            .json()
    }

    /// `POST /quotagroups`.
    pub async fn create_quotagroup(&self, quotagroup: &NewQuotagroup) -> Result<Quotagroup, Error> {
        self.send_json(Method::POST, "/quotagroups", quotagroup)
            .await
    }

    /// `GET /quotagroups`.
    pub async fn quotagroups(&self) -> Result<Vec<Quotagroup>, Error> {
        self.get("/quotagroups").await
    }

    /// `GET /quotagroups/{name}`.
    pub async fn quotagroup(&self, name: &str) -> Result<Quotagroup, Error> {
        let name = segment("quotagroup", name)?;
        self.get(&format!("/quotagroups/{name}")).await
    }

    /// `DELETE /quotagroups/{name}`; refused while a server mounts it.
    pub async fn delete_quotagroup(&self, name: &str) -> Result<(), Error> {
        let name = segment("quotagroup", name)?;
        self.no_content(Method::DELETE, &format!("/quotagroups/{name}"))
            .await
    }

    /// `POST /virtual-servers`: the appliance accepts the server in state `creating` and
    /// resolves, pulls, verifies and starts it in the background; see
    /// [`Client::wait_until_settled`].
    pub async fn create_virtual_server(
        &self,
        server: &NewVirtualServer,
    ) -> Result<VirtualServer, Error> {
        self.send_json(Method::POST, "/virtual-servers", server)
            .await
    }

    /// `GET /virtual-servers`.
    pub async fn virtual_servers(&self) -> Result<Vec<VirtualServer>, Error> {
        self.get("/virtual-servers").await
    }

    /// `GET /virtual-servers/{name}`.
    pub async fn virtual_server(&self, name: &str) -> Result<VirtualServer, Error> {
        let name = segment("virtual server", name)?;
        self.get(&format!("/virtual-servers/{name}")).await
    }

    /// `POST /virtual-servers/{name}/start`.
    pub async fn start(&self, name: &str) -> Result<VirtualServer, Error> {
        self.server_action(name, "start").await
    }

    /// `POST /virtual-servers/{name}/stop`.
    pub async fn stop(&self, name: &str) -> Result<VirtualServer, Error> {
        self.server_action(name, "stop").await
    }

    /// `POST /virtual-servers/{name}/restart`.
    pub async fn restart(&self, name: &str) -> Result<VirtualServer, Error> {
        self.server_action(name, "restart").await
    }

    /// `DELETE /virtual-servers/{name}`.
    pub async fn delete_virtual_server(&self, name: &str) -> Result<(), Error> {
        let name = segment("virtual server", name)?;
        self.no_content(Method::DELETE, &format!("/virtual-servers/{name}"))
            .await
    }

    /// `GET /virtual-servers/{name}/logs?tail=N`: the workload's output, the last `tail`
    /// lines when given. Bytes that are not UTF-8 become U+FFFD (a workload may print
    /// anything; the text is for a person).
    pub async fn logs(&self, name: &str, tail: Option<usize>) -> Result<String, Error> {
        let name = segment("virtual server", name)?;
        let mut path = format!("/virtual-servers/{name}/logs");
        if let Some(tail) = tail {
            path.push_str(&format!("?tail={tail}"));
        }
        let answer = self.call(Method::GET, &path, None, "text/plain").await?;
        Ok(String::from_utf8_lossy(&answer.body).into_owned())
    }

    /// Asks for `name` every [`SETTLE_POLL_INTERVAL`] until it is no longer `creating`, and
    /// returns it (running, or failed with its reason: a failed server is an answer, not an
    /// error). `on_progress` sees every state read, for a progress display. Fails with
    /// [`Error::Timeout`] when `timeout` passes first.
    pub async fn wait_until_settled(
        &self,
        name: &str,
        timeout: Duration,
        mut on_progress: impl FnMut(&VirtualServer),
    ) -> Result<VirtualServer, Error> {
        let started = Instant::now();
        loop {
            let server = self.virtual_server(name).await?;
            on_progress(&server);
            if server.state != ServerState::Creating {
                return Ok(server);
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(Error::Timeout {
                    name: name.to_owned(),
                    waited,
                });
            }
            tokio::time::sleep(SETTLE_POLL_INTERVAL.min(timeout - waited)).await;
        }
    }

    /// `GET /images`.
    pub async fn images(&self) -> Result<Vec<Image>, Error> {
        self.get("/images").await
    }

    /// `DELETE /images/{digest}`.
    pub async fn delete_image(&self, digest: &str) -> Result<(), Error> {
        let digest = segment("image digest", digest)?;
        self.no_content(Method::DELETE, &format!("/images/{digest}"))
            .await
    }

    async fn server_action(&self, name: &str, action: &str) -> Result<VirtualServer, Error> {
        let name = segment("virtual server", name)?;
        let path = format!("/virtual-servers/{name}/{action}");
        self.call(Method::POST, &path, None, "application/json")
            .await?
            .json()
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.call(Method::GET, path, None, "application/json")
            .await?
            .json()
    }

    async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let body = serde_json::to_vec(body).map_err(|error| Error::Encode {
            call: call_name(&method, path),
            reason: error.to_string(),
        })?;
        self.call(method, path, Some(body), "application/json")
            .await?
            .json()
    }

    /// A call whose success answer has no body worth reading (204).
    async fn no_content(&self, method: Method, path: &str) -> Result<(), Error> {
        self.call(method, path, None, "application/json").await?;
        Ok(())
    }

    /// Sends one request to `API_BASE` + `path` (already encoded) and reads its answer: the
    /// body of a 2xx answer, or the error it stands for.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        accept: &'static str,
    ) -> Result<Answer, Error> {
        let call = call_name(&method, path);
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(self.token.expose())
            .header(ACCEPT, accept);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(source) => {
                return Err(Error::Transport {
                    call,
                    source: Box::new(source),
                });
            }
        };
        let status = response.status();
        if status.is_success() {
            let body = read_bounded(&call, response, ANSWER_LIMIT, transport).await?;
            Ok(Answer { call, body })
        } else {
            Err(error_answer(&call, status, response).await)
        }
    }
}

/// The error an answer with an error status stands for: the API's JSON error when the body
/// is one, else [`Error::UnexpectedAnswer`] with the start of the body.
async fn error_answer(call: &str, status: StatusCode, response: reqwest::Response) -> Error {
    let body = match read_bounded(call, response, ERROR_ANSWER_LIMIT, transport).await {
        Ok(body) => body,
        Err(error) => return error,
    };
    match serde_json::from_slice::<ApiError>(&body) {
        Ok(ApiError { code, message }) => Error::Api {
            status: status.as_u16(),
            code,
            message,
        },
        Err(_) => {
            let start = &body[..body.len().min(BODY_START_LIMIT)];
            Error::UnexpectedAnswer {
                status: status.as_u16(),
                body_start: String::from_utf8_lossy(start).trim().to_owned(),
            }
        }
    }
}

/// Reads at most `limit` bytes of `response`'s body (the bounded read of registry-http), its
/// errors named after the call: [`Error::AnswerTooLarge`], or `unreachable` for a failed read
/// ([`Error::Transport`] for the appliance, [`Error::SbsUnreachable`] for a build server).
pub(crate) async fn read_bounded(
    call: &str,
    response: reqwest::Response,
    limit: u64,
    unreachable: fn(String, Box<dyn std::error::Error + Send + Sync>) -> Error,
) -> Result<Vec<u8>, Error> {
    registry_http::read_limited(response, limit)
        .await
        .map_err(|error| match error {
            registry_http::Error::TooLarge { limit, seen, .. } => Error::AnswerTooLarge {
                call: call.to_owned(),
                limit,
                seen,
            },
            // The reqwest error itself: registry-http's wrapper would repeat its message.
            registry_http::Error::Request { source, .. } => {
                unreachable(call.to_owned(), Box::new(source))
            }
            other => unreachable(call.to_owned(), Box::new(other)),
        })
}

/// [`Error::Transport`] of `call`, for [`read_bounded`].
pub(crate) fn transport(call: String, source: Box<dyn std::error::Error + Send + Sync>) -> Error {
    Error::Transport { call, source }
}

/// `GET /api/v1/registries/r`: how errors name a call.
fn call_name(method: &Method, path: &str) -> String {
    format!("{method} {API_BASE}{path}")
}

/// `name` as one path segment: every byte but the URL-unreserved ones (`A-Z a-z 0-9 - . _
/// ~`) percent-encoded. Empty, `.` and `..` are refused: the URL parser would drop them or
/// climb a level (WHATWG even treats `%2e%2e` as `..`), reaching another route.
fn segment(what: &'static str, name: &str) -> Result<String, Error> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::InvalidName {
            what,
            name: name.to_owned(),
        });
    }
    let mut encoded = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(encoded)
}

/// Whether `host` (as `Url::host_str` gives it) is a loopback address or `localhost`.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_single_encoded_segments() {
        assert_eq!(segment("registry", "docker.io").unwrap(), "docker.io");
        assert_eq!(segment("registry", "a/b?c#d").unwrap(), "a%2Fb%3Fc%23d");
        assert_eq!(segment("registry", "%2e%2e").unwrap(), "%252e%252e");
        assert_eq!(segment("image digest", "sha256:ab").unwrap(), "sha256%3Aab");
        assert_eq!(segment("registry", "é ").unwrap(), "%C3%A9%20");
        for bad in ["", ".", ".."] {
            match segment("registry", bad) {
                Err(Error::InvalidName { what, name }) => {
                    assert_eq!((what, name.as_str()), ("registry", bad));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn plain_http_only_to_loopback_and_never_with_a_ca() {
        let token = Secret::new("t0ken");
        for url in ["http://127.0.0.1:1", "http://[::1]:1", "http://LOCALHOST:1"] {
            assert!(
                Client::new(ApplianceConfig::new(url, token.clone())).is_ok(),
                "{url}"
            );
        }
        let refused = [
            ApplianceConfig::new("http://10.0.0.1:1", token.clone()),
            ApplianceConfig::new("http://127.0.0.1:1", token.clone()).with_ca_pem("x"),
            ApplianceConfig::new("ftp://127.0.0.1:1", token.clone()),
            ApplianceConfig::new("127.0.0.1:1", token.clone()),
            ApplianceConfig::new("https://u:p@127.0.0.1:1", token.clone()),
            ApplianceConfig::new("https://127.0.0.1:1/?q", token.clone()),
        ];
        for config in refused {
            let url = config.url.clone();
            match Client::new(config) {
                Err(Error::InvalidConfig { setting, reason }) => {
                    assert_eq!(setting, "appliance URL");
                    assert!(reason.contains(&format!("{url:?}")), "{reason}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn unusable_tokens_and_cas_are_refused() {
        for token in ["", "two words", "line\nbreak"] {
            let config = ApplianceConfig::new("https://127.0.0.1:1", Secret::new(token));
            assert!(
                matches!(Client::new(config), Err(Error::InvalidConfig { ref setting, .. }) if setting == "token"),
                "{token:?}"
            );
        }
        let config = ApplianceConfig::new("https://127.0.0.1:1", Secret::new("t"))
            .with_ca_pem("not a certificate");
        match Client::new(config) {
            Err(Error::InvalidConfig { setting, .. }) => assert_eq!(setting, "CA certificate"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_api_base_is_appended_to_the_url_with_its_prefix() {
        let client = Client::new(ApplianceConfig::new(
            "https://127.0.0.1:8443/appliance/",
            Secret::new("t"),
        ))
        .unwrap();
        assert_eq!(client.api, "https://127.0.0.1:8443/appliance/api/v1");
        assert_eq!(Force::default().query_value(), "false");
        assert_eq!(Force::DeleteServersAndImages.query_value(), "true");
    }
}
