//! The notary-server HTTP API (`/v2/<gun>/_trust/tuf/`), with bounded reads.
//!
//! Plain HTTP (only when asked for, [`Security::InsecureHttp`]), HTTPS with the system roots or
//! a custom CA, mutual TLS and basic auth. Every download is bounded: the body is read in
//! chunks and refused as soon as it passes the limit, before it is parsed.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::limits::Limits;

/// How to reach the server.
#[derive(Debug, Clone, Default)]
pub enum Security {
    /// HTTPS with the platform's and any extra CA roots (the default).
    #[default]
    Https,
    /// Plain HTTP: only for loopback test servers. Metadata is still verified.
    InsecureHttp,
}

/// Connection settings for a notary server.
#[derive(Clone, Default)]
pub struct ServerConfig {
    /// Base URL, e.g. `https://notary.docker.io`.
    pub url: String,
    /// HTTPS or explicitly insecure HTTP.
    pub security: Security,
    /// The CA certificate (PEM) to trust instead of the platform's roots, as notary's
    /// `--tlscacert` ("trust certs signed only by this CA").
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub client_identity_pem: Option<Vec<u8>>,
    /// Basic auth user and password (notary's `NOTARY_AUTH`).
    pub basic_auth: Option<(String, keymgmt::passphrase::Passphrase)>,
    /// Per-request timeout (default 30 s).
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("url", &self.url)
            .field("security", &self.security)
            .field("ca_pem", &self.ca_pem.is_some())
            .field(
                "client_identity",
                &self.client_identity_pem.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|(u, _)| (u, "[redacted]")),
            )
            .finish()
    }
}

/// A connection to one notary server.
#[derive(Debug, Clone)]
pub struct Transport {
    client: reqwest::Client,
    base: String,
    basic_auth: Option<(String, keymgmt::passphrase::Passphrase)>,
    /// Bearer tokens by (realm, service, scope).
    tokens: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    /// Size limits of metadata downloads.
    limits: Limits,
}

/// What a GET found.
#[derive(Debug)]
pub enum Fetched {
    /// The body.
    Found(Vec<u8>),
    /// 404: the server has no such file.
    NotFound,
}

impl Transport {
    /// Builds a client for `config`.
    pub fn new(config: &ServerConfig) -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config_error = |reason: String| Error::Config { reason };
        let base = config.url.trim_end_matches('/').to_owned();
        match (&config.security, base.split_once("://").map(|(s, _)| s)) {
            (Security::Https, Some("https")) | (Security::InsecureHttp, Some("http" | "https")) => {
            }
            (Security::Https, Some("http")) => {
                return Err(config_error(format!(
                    "{base} is plain HTTP: use an https:// URL, or Security::InsecureHttp for a loopback test server"
                )));
            }
            _ => return Err(config_error(format!("{base:?} is not an http(s) URL"))),
        }
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout.unwrap_or(Duration::from_secs(30)))
            .connect_timeout(Duration::from_secs(10));
        if let Some(ca) = &config.ca_pem {
            // As notary's --tlscacert: trust certificates signed only by this CA.
            let cert = reqwest::Certificate::from_pem(ca)
                .map_err(|e| config_error(format!("CA certificate: {e}")))?;
            builder = builder.tls_certs_only([cert]);
        } else if base.starts_with("http://") {
            // No TLS at all: skip loading the platform's roots (tens of milliseconds).
            builder = builder.tls_certs_only([]);
        }
        if let Some(identity) = &config.client_identity_pem {
            let identity = reqwest::Identity::from_pem(identity)
                .map_err(|e| config_error(format!("client certificate and key: {e}")))?;
            builder = builder.identity(identity);
        }
        let client = builder
            .build()
            .map_err(|e| config_error(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            base,
            basic_auth: config.basic_auth.clone(),
            tokens: Default::default(),
            limits: Limits::default(),
        })
    }

    /// Bounds metadata downloads by `limits` instead of [`Limits::default`].
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The size limits of metadata downloads.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The URL of `file` of `gun`'s collection.
    pub fn url(&self, gun: &str, file: &str) -> String {
        format!("{}/v2/{gun}/_trust/tuf/{file}", self.base)
    }

    /// Sends the request `make` builds; on a `401` with a `WWW-Authenticate: Bearer` challenge,
    /// fetches a token for the challenge's scope (with the basic credentials, if any), caches
    /// it, and sends once more with it. Without a challenge, basic credentials are sent as is.
    async fn send(
        &self,
        url: &str,
        make: impl Fn() -> Result<reqwest::RequestBuilder>,
    ) -> Result<reqwest::Response> {
        let cached = self.cached_token(url);
        let first = match &cached {
            Some(token) => make()?.bearer_auth(token),
            None => self.with_basic(make()?),
        };
        let response = first.send().await.map_err(|e| unreachable(url, e))?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(challenge) = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(BearerChallenge::parse)
        else {
            return Ok(response);
        };
        let token = self.fetch_token(&challenge).await?;
        self.tokens
            .lock()
            .map_err(|_| Error::Config {
                reason: "token cache poisoned".to_owned(),
            })?
            .insert(self.token_key(url), token.clone());
        make()?
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| unreachable(url, e))
    }

    fn with_basic(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.basic_auth {
            Some((user, password)) => request.basic_auth(user, Some(password.expose())),
            None => request,
        }
    }

    /// Tokens are cached per GUN path (pull and push scopes differ per method, and the server
    /// names the scope it wants in its challenge, so a cached token that lacks it just gets
    /// challenged again).
    fn token_key(&self, url: &str) -> String {
        url.split("/_trust/").next().unwrap_or(url).to_owned()
    }

    fn cached_token(&self, url: &str) -> Option<String> {
        self.tokens.lock().ok()?.get(&self.token_key(url)).cloned()
    }

    async fn fetch_token(&self, challenge: &BearerChallenge) -> Result<String> {
        let mut query = Vec::new();
        if let Some(service) = &challenge.service {
            query.push(("service", service.as_str()));
        }
        if let Some(scope) = &challenge.scope {
            query.push(("scope", scope.as_str()));
        }
        let url = reqwest::Url::parse_with_params(&challenge.realm, &query).map_err(|e| {
            Error::Server {
                method: "GET",
                url: challenge.realm.clone(),
                status: 401,
                message: format!("the challenge's realm is not a URL: {e}"),
            }
        })?;
        let request = self.with_basic(self.client.get(url));
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(&challenge.realm, e))?;
        if !response.status().is_success() {
            return Err(server_error("GET", &challenge.realm, response).await);
        }
        let body = read_limited(
            response,
            &challenge.realm,
            "auth token",
            SMALL_RESPONSE_LIMIT,
        )
        .await?;
        let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| Error::Server {
            method: "GET",
            url: challenge.realm.clone(),
            status: 200,
            message: format!("token response is not JSON: {e}"),
        })?;
        json.get("token")
            .or_else(|| json.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| Error::Server {
                method: "GET",
                url: challenge.realm.clone(),
                status: 200,
                message: "token response has no token".to_owned(),
            })
    }

    /// GETs `<gun>/_trust/tuf/<file>`, reading at most `limit` bytes.
    pub async fn get(&self, gun: &str, file: &str, role: &str, limit: u64) -> Result<Fetched> {
        let url = self.url(gun, file);
        let response = self.send(&url, || Ok(self.client.get(&url))).await?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Fetched::NotFound);
        }
        if !status.is_success() {
            return Err(server_error("GET", &url, response).await);
        }
        let body = read_limited(response, &url, role, limit).await?;
        Ok(Fetched::Found(body))
    }

    /// GETs the server-managed key of `role` (`timestamp` or `snapshot`).
    pub async fn get_key(&self, gun: &str, role: &str) -> Result<Vec<u8>> {
        match self
            .get(gun, &format!("{role}.key"), role, SMALL_RESPONSE_LIMIT)
            .await?
        {
            Fetched::Found(body) => Ok(body),
            Fetched::NotFound => Err(Error::Server {
                method: "GET",
                url: self.url(gun, &format!("{role}.key")),
                status: 404,
                message: "the server has no key for this role".to_owned(),
            }),
        }
    }

    /// Asks the server to rotate its key of `role` (`timestamp` or `snapshot`); returns the new
    /// key's JSON.
    pub async fn rotate_key(&self, gun: &str, role: &str) -> Result<Vec<u8>> {
        let url = self.url(gun, &format!("{role}.key"));
        let response = self.send(&url, || Ok(self.client.post(&url))).await?;
        if !response.status().is_success() {
            return Err(server_error("POST", &url, response).await);
        }
        read_limited(response, &url, &format!("{role} key"), SMALL_RESPONSE_LIMIT).await
    }

    /// POSTs metadata files as one multipart upload (one `files` part per role).
    pub async fn post(&self, gun: &str, files: Vec<(String, Vec<u8>)>) -> Result<()> {
        let url = self.url(gun, "");
        let make = || {
            let mut form = reqwest::multipart::Form::new();
            for (role, bytes) in &files {
                let part = reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name(role.clone())
                    .mime_str("application/octet-stream")
                    .map_err(|e| Error::Config {
                        reason: e.to_string(),
                    })?;
                form = form.part("files", part);
            }
            Ok(self.client.post(&url).multipart(form))
        };
        let response = self.send(&url, make).await?;
        if !response.status().is_success() {
            return Err(server_error("POST", &url, response).await);
        }
        Ok(())
    }

    /// DELETEs the whole collection of `gun` on the server.
    pub async fn delete(&self, gun: &str) -> Result<()> {
        let url = self.url(gun, "");
        let response = self.send(&url, || Ok(self.client.delete(&url))).await?;
        if !response.status().is_success() {
            return Err(server_error("DELETE", &url, response).await);
        }
        Ok(())
    }
}

fn unreachable(url: &str, error: reqwest::Error) -> Error {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Unreachable {
        url: url.to_owned(),
        reason,
    }
}

/// The largest key or token response read.
const SMALL_RESPONSE_LIMIT: u64 = 64 * 1024;
/// Bytes of an error response's body read for its message; the rest is never read.
const ERROR_BODY_LIMIT: usize = 4096;

/// Reads `response`'s body, failing with [`Error::TooLarge`] as soon as it passes `limit`
/// bytes: a server cannot make the client buffer more than that.
async fn read_limited(
    mut response: reqwest::Response,
    url: &str,
    role: &str,
    limit: u64,
) -> Result<Vec<u8>> {
    let too_large = || Error::TooLarge {
        role: role.to_owned(),
        limit,
    };
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(url, e))? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn server_error(method: &'static str, url: &str, mut response: reqwest::Response) -> Error {
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    while bytes.len() < ERROR_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(ERROR_BODY_LIMIT);
    let body = String::from_utf8_lossy(&bytes);
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let e = v.get("errors")?.get(0)?.clone();
            Some(format!(
                "{} {}",
                e.get("code")?.as_str().unwrap_or_default(),
                e.get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or_default()
            ))
        })
        .unwrap_or_else(|| body.chars().take(300).collect());
    Error::Server {
        method,
        url: url.to_owned(),
        status,
        message,
    }
}

/// A `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BearerChallenge {
    realm: String,
    service: Option<String>,
    scope: Option<String>,
}

impl BearerChallenge {
    fn parse(header: &str) -> Option<Self> {
        let rest = header.trim().strip_prefix("Bearer ")?;
        let mut params = std::collections::HashMap::new();
        let mut remaining = rest.trim();
        while !remaining.is_empty() {
            let (key, after) = remaining.split_once('=')?;
            let after = after.trim_start();
            let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                after.split_once(',').map_or((after, ""), |(v, t)| (v, t))
            };
            params.insert(key.trim().to_ascii_lowercase(), value.to_owned());
            remaining = tail.trim_start().trim_start_matches(',').trim_start();
        }
        Some(Self {
            realm: params.remove("realm")?,
            service: params.remove("service"),
            scope: params.remove("scope"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let c = BearerChallenge::parse(
            r#"Bearer realm="http://127.0.0.1:5001/token",service="notary-server",scope="repository:example.com/a:push,pull""#,
        )
        .unwrap();
        assert_eq!(c.realm, "http://127.0.0.1:5001/token");
        assert_eq!(c.service.as_deref(), Some("notary-server"));
        assert_eq!(
            c.scope.as_deref(),
            Some("repository:example.com/a:push,pull")
        );
        assert!(BearerChallenge::parse("Basic realm=\"x\"").is_none());
        assert!(BearerChallenge::parse("Bearer service=\"x\"").is_none());
    }
}
