//! The notary-server HTTP API (`/v2/<gun>/_trust/tuf/`), with bounded reads.
//!
//! Plain HTTP (only when asked for, [`Security::InsecureHttp`]), HTTPS with the platform's
//! roots or a custom CA, mutual TLS, basic auth and registry-style token auth, all on
//! `registry-http`. Every download is bounded: the body is read in chunks and refused as soon
//! as it passes the limit, before it is parsed.
//!
//! **CA rule**: a configured CA ([`ServerConfig::ca_pem`]) replaces the platform's roots, as
//! notary's `--tlscacert` does (see [`registry_http::tls`]).

use std::time::Duration;

use registry_http::{AuthChallenge, TlsOptions, TokenCache, TokenKey, TokenRequest, TrustRoots};

pub use registry_http::{Credentials, Secret, Security};

use crate::error::{Error, Result};
use crate::limits::Limits;

/// The variable the Go notary client reads basic credentials from: base64 of `user:password`.
pub const NOTARY_AUTH: &str = "NOTARY_AUTH";

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
    /// Credentials: basic auth is sent as is, and presented to a token service that
    /// challenges for a bearer token (notary's `NOTARY_AUTH`, see
    /// [`ServerConfig::with_notary_auth_from_env`]).
    pub credentials: Credentials,
    /// Per-request timeout (default 30 s).
    pub timeout: Option<Duration>,
}

impl ServerConfig {
    /// Settings for `url` with the security its scheme asks for: an explicit `http://` URL
    /// is the user's request for plain HTTP, as with notary; `https://` is HTTPS.
    pub fn from_url(url: impl Into<String>) -> Result<Self> {
        let url = url.into();
        let security = Security::of_url(&url).ok_or_else(|| Error::Config {
            reason: format!("{url:?} is not an http(s) URL"),
            source: None,
        })?;
        Ok(Self {
            url,
            security,
            ..Self::default()
        })
    }

    /// These settings with the credentials in [`NOTARY_AUTH`], if it is set (as the Go client
    /// reads it); [`Error::InvalidEnvironment`] names the variable if it is not base64 of
    /// `user:password`.
    pub fn with_notary_auth_from_env(self) -> Result<Self> {
        self.with_notary_auth(std::env::var_os(NOTARY_AUTH))
    }

    /// These settings with the credentials `value` of [`NOTARY_AUTH`] holds, if any.
    fn with_notary_auth(mut self, value: Option<std::ffi::OsString>) -> Result<Self> {
        let Some(value) = value else {
            return Ok(self);
        };
        let invalid = |reason: String| Error::InvalidEnvironment {
            variable: NOTARY_AUTH,
            reason,
        };
        let value = value
            .into_string()
            .map_err(|_| invalid("not UTF-8".to_owned()))?;
        self.credentials = Credentials::from_basic_base64(&value, NOTARY_AUTH).map_err(|e| {
            invalid(match e {
                registry_http::Error::InvalidBasicAuth { reason, .. } => reason,
                other => other.to_string(),
            })
        })?;
        Ok(self)
    }
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
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// An HTTP connection to one notary server: its `_trust/tuf` API for every collection.
#[derive(Debug, Clone)]
pub struct ServerConnection {
    client: reqwest::Client,
    base: String,
    credentials: Credentials,
    /// Bearer tokens, hinted by the GUN's path.
    tokens: std::sync::Arc<TokenCache>,
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

impl ServerConnection {
    /// Builds a client for `config`; its TLS configuration names ring as its provider (no
    /// process-wide provider is installed).
    pub fn new(config: &ServerConfig) -> Result<Self> {
        let config_error = |reason: String| Error::Config {
            reason,
            source: None,
        };
        let caused =
            |reason: &str, source: Box<dyn std::error::Error + Send + Sync>| Error::Config {
                reason: reason.to_owned(),
                source: Some(source),
            };
        let base = config.url.trim_end_matches('/').to_owned();
        let plain_http = match (&config.security, base.split_once("://").map(|(s, _)| s)) {
            (_, Some("https")) => false,
            (Security::InsecureHttp, Some("http")) => true,
            (Security::Https, Some("http")) => {
                return Err(config_error(format!(
                    "{base} is plain HTTP: use an https:// URL, or Security::InsecureHttp for a loopback test server"
                )));
            }
            _ => return Err(config_error(format!("{base:?} is not an http(s) URL"))),
        };
        let client_identity_pem = config
            .client_identity_pem
            .as_ref()
            .map(|pem| {
                String::from_utf8(pem.clone())
                    .map(Secret::new)
                    .map_err(|_| config_error("client certificate and key: not PEM".to_owned()))
            })
            .transpose()?;
        let tls = TlsOptions {
            roots: match &config.ca_pem {
                Some(ca) => TrustRoots::CustomCa(ca.clone()),
                None if plain_http => TrustRoots::Nothing,
                None => TrustRoots::Platform,
            },
            client_identity_pem,
        };
        let client = tls
            .reqwest_builder()
            .map_err(|e| caused("unusable TLS settings", Box::new(e)))?
            .timeout(config.timeout.unwrap_or(Duration::from_secs(30)))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| caused("cannot build the HTTP client", Box::new(e)))?;
        Ok(Self {
            client,
            base,
            credentials: config.credentials.clone(),
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
    /// gets a token for the challenge's scope (with the credentials, if any) from the token
    /// cache, and sends once more with it. Without a challenge, basic credentials are sent
    /// as is.
    async fn send(
        &self,
        url: &str,
        make: impl Fn() -> Result<reqwest::RequestBuilder>,
    ) -> Result<reqwest::Response> {
        let hint = token_hint(url);
        let cached = self.tokens.cached(hint);
        let first = match &cached {
            Some(token) => make()?.bearer_auth(token.expose()),
            None => self.with_basic(make()?),
        };
        let response = first.send().await.map_err(|e| unreachable(url, e))?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(AuthChallenge::Bearer(challenge)) = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(AuthChallenge::from_header)
        else {
            return Ok(response);
        };
        // Pull and push scopes differ per method, and the server names the scope it wants in
        // its challenge: a cached token that lacks it is challenged again, and replaced.
        let scopes: Vec<String> = challenge.scope.iter().cloned().collect();
        let key = TokenKey {
            realm: challenge.realm.clone(),
            service: challenge.service.clone(),
            scope: scopes.join(" "),
        };
        let request = TokenRequest {
            realm: &challenge.realm,
            service: challenge.service.as_deref(),
            scopes: &scopes,
            credentials: &self.credentials,
            client_id: "notary-client",
        };
        let token = self
            .tokens
            .get_or_fetch(hint, key, cached.as_ref(), || async {
                request.send(&self.client).await.map_err(token_error)
            })
            .await?;
        make()?
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|e| unreachable(url, e))
    }

    fn with_basic(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.credentials.basic_header() {
            Some(basic) => request.header(reqwest::header::AUTHORIZATION, basic.expose()),
            None => request,
        }
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
                        reason: format!("cannot make the upload part of {role}"),
                        source: Some(Box::new(e)),
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

/// Tokens are cached per GUN path.
fn token_hint(url: &str) -> &str {
    url.split("/_trust/").next().unwrap_or(url)
}

fn unreachable(url: &str, error: reqwest::Error) -> Error {
    Error::Unreachable {
        url: url.to_owned(),
        source: Box::new(error),
    }
}

/// A failed token request, as the server's refusal or unreachability.
fn token_error(error: registry_http::Error) -> Error {
    let refused = |url: String, status: u16, message: String| Error::Server {
        method: "GET",
        url,
        status,
        message,
    };
    match error {
        registry_http::Error::TokenDenied { realm, status } => refused(
            realm,
            status,
            "the token service refused the credentials".to_owned(),
        ),
        registry_http::Error::TokenService {
            realm,
            status,
            reason,
        } => refused(realm, status.unwrap_or(401), reason),
        registry_http::Error::Request { url, source } => unreachable(&url, source),
        registry_http::Error::TooLarge { url, limit, .. } => Error::TooLarge {
            role: format!("auth token from {url}"),
            limit,
        },
        other => Error::Config {
            reason: "cannot request a token".to_owned(),
            source: Some(Box::new(other)),
        },
    }
}

/// The largest key response read.
const SMALL_RESPONSE_LIMIT: u64 = 64 * 1024;

/// Reads `response`'s body, failing with [`Error::TooLarge`] as soon as it passes `limit`
/// bytes: a server cannot make the client buffer more than that.
async fn read_limited(
    response: reqwest::Response,
    url: &str,
    role: &str,
    limit: u64,
) -> Result<Vec<u8>> {
    registry_http::read_limited(response, limit)
        .await
        .map_err(|error| match error {
            registry_http::Error::Request { source, .. } => unreachable(url, source),
            registry_http::Error::TooLarge { .. } => Error::TooLarge {
                role: role.to_owned(),
                limit,
            },
            other => Error::Config {
                reason: format!("cannot read the response of {url}"),
                source: Some(Box::new(other)),
            },
        })
}

async fn server_error(method: &'static str, url: &str, response: reqwest::Response) -> Error {
    let status = response.status().as_u16();
    let body = registry_http::error_body(response).await;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[test]
    fn the_url_scheme_chooses_the_security() {
        let plain = ServerConfig::from_url("http://127.0.0.1:4443").unwrap();
        assert!(matches!(plain.security, Security::InsecureHttp));
        let tls = ServerConfig::from_url("https://notary.docker.io").unwrap();
        assert!(matches!(tls.security, Security::Https));
        assert_eq!(tls.credentials, Credentials::Anonymous);
        assert!(matches!(
            ServerConfig::from_url("notary.docker.io"),
            Err(Error::Config { .. })
        ));
    }

    #[test]
    fn notary_auth_is_base64_of_user_and_password() {
        let config = ServerConfig::default();
        let unset = config.clone().with_notary_auth(None).unwrap();
        assert_eq!(unset.credentials, Credentials::Anonymous);
        // "alice:s3cret"
        let set = config
            .clone()
            .with_notary_auth(Some("YWxpY2U6czNjcmV0".into()))
            .unwrap();
        assert_eq!(set.credentials, Credentials::basic("alice", "s3cret"));
        assert!(!format!("{set:?}").contains("s3cret"));
        match config.with_notary_auth(Some("bm9jb2xvbg==".into())) {
            Err(Error::InvalidEnvironment { variable, reason }) => {
                assert_eq!(variable, "NOTARY_AUTH");
                assert!(reason.contains("':'"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
