//! The registry client: HTTP(S) with custom CAs and mutual TLS on reqwest + rustls (ring),
//! authentication (basic, bearer challenges with a token cache), and retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};

use crate::Error;
use crate::auth::{Challenge, CredentialSource, Credentials, Secret, parse_challenge};

/// How to reach registries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS with certificate verification (the default).
    #[default]
    Https,
    /// Plain HTTP, for loopback or test registries only: nothing is encrypted or
    /// authenticated on the wire.
    InsecureHttp,
}

/// How blobs are uploaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UploadMode {
    /// One streamed `PUT` per blob (fastest; an interrupted upload restarts). A registry
    /// that refuses it with 413 gets the blob in chunks instead.
    #[default]
    Monolithic,
    /// `PATCH` chunks of this many bytes (or the registry's `OCI-Chunk-Min-Length`, if
    /// larger) then a closing `PUT`; an interrupted upload resumes from the offset the
    /// registry reports.
    Chunked {
        /// Bytes per chunk.
        chunk_size: u64,
    },
}

/// Settings of a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// HTTPS (default) or plain HTTP.
    pub transport: Transport,
    /// Extra CA certificates (PEM) to trust besides the platform's roots.
    pub ca_certificates_pem: Vec<String>,
    /// Client certificate chain and private key (PEM, concatenated) for mutual TLS.
    pub client_identity_pem: Option<Secret>,
    /// Where credentials come from.
    pub credentials: CredentialSource,
    /// Blobs transferred at the same time (at least 1). A pushed blob frees its place when
    /// its last byte is sent, not when the registry has committed it.
    pub parallelism: usize,
    /// Attempts per request on transient failures (connection errors, 5xx, 429), at least 1.
    pub attempts: u32,
    /// Delay before the first retry; doubled each time, capped at 4 s.
    pub retry_delay: Duration,
    /// Upload mode.
    pub upload: UploadMode,
    /// Timeout to establish a connection.
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            transport: Transport::Https,
            ca_certificates_pem: Vec::new(),
            client_identity_pem: None,
            credentials: CredentialSource::Anonymous,
            parallelism: 4,
            attempts: 6,
            retry_delay: Duration::from_millis(250),
            upload: UploadMode::Monolithic,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A registry client: push, pull and resolve images. Cheap to clone; clones share
/// connections and the token cache.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) options: ClientOptions,
    /// Authorization header values by (registry, scope); bearer tokens expire.
    tokens: Mutex<TokenCache>,
    /// Held while answering a challenge, so that requests challenged at the same time
    /// fetch one token between them.
    auth_lock: tokio::sync::Mutex<()>,
    /// Credentials by registry, resolved once (a credential helper runs once per registry).
    credentials: Mutex<HashMap<String, Credentials>>,
}

/// `Authorization` values by (registry, scopes), with their expiry; basic auth is stored
/// under an empty scope.
type TokenCache = HashMap<(String, String), (Secret, Option<Instant>)>;

/// One request's target: registry host and repository, and the scope it needs.
pub(crate) struct Target<'a> {
    pub(crate) registry: &'a str,
    pub(crate) repository: &'a str,
    /// `pull` or `pull,push`.
    pub(crate) actions: &'a str,
    /// A second repository to pull from (cross-repository mounts).
    pub(crate) mount_from: Option<&'a str>,
}

impl Target<'_> {
    fn scopes(&self) -> Vec<String> {
        let mut scopes = vec![format!("repository:{}:{}", self.repository, self.actions)];
        if let Some(from) = self.mount_from {
            scopes.push(format!("repository:{from}:pull"));
        }
        scopes
    }
}

impl Client {
    /// A client with these options. Installs ring as the process's rustls provider when none
    /// is installed.
    pub fn new(options: ClientOptions) -> Result<Client, Error> {
        if options.parallelism == 0 {
            return Err(Error::InvalidOption {
                option: "parallelism".to_owned(),
                reason: "must be at least 1".to_owned(),
            });
        }
        if options.attempts == 0 {
            return Err(Error::InvalidOption {
                option: "attempts".to_owned(),
                reason: "must be at least 1".to_owned(),
            });
        }
        if let UploadMode::Chunked { chunk_size } = options.upload
            && chunk_size == 0
        {
            return Err(Error::InvalidOption {
                option: "upload chunk size".to_owned(),
                reason: "must be at least 1 byte".to_owned(),
            });
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(Duration::from_secs(120))
            .user_agent(concat!("oci-push/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(options.parallelism.max(4));
        for (i, pem) in options.ca_certificates_pem.iter().enumerate() {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| Error::Tls {
                what: format!("CA certificate #{}", i + 1),
                reason: e.to_string(),
            })?;
            builder = builder.tls_certs_merge([cert]);
        }
        if let Some(identity) = &options.client_identity_pem {
            let identity =
                reqwest::Identity::from_pem(identity.expose().as_bytes()).map_err(|e| {
                    Error::Tls {
                        what: "client identity".to_owned(),
                        reason: e.to_string(),
                    }
                })?;
            builder = builder.identity(identity);
        }
        let http = builder.build().map_err(|e| Error::Tls {
            what: "HTTP client".to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                options,
                tokens: Mutex::new(HashMap::new()),
                auth_lock: tokio::sync::Mutex::new(()),
                credentials: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The options this client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// `scheme://registry/v2/repository/` + `path`.
    pub(crate) fn url(&self, registry: &str, repository: &str, path: &str) -> String {
        format!("{}/v2/{repository}/{path}", self.base(registry))
    }

    pub(crate) fn base(&self, registry: &str) -> String {
        let scheme = match self.inner.options.transport {
            Transport::Https => "https",
            Transport::InsecureHttp => "http",
        };
        format!("{scheme}://{registry}")
    }

    /// Sends a request, authenticating on challenge and retrying transient failures
    /// (`attempts` times, 1 for requests whose body cannot be replayed). `body` builds
    /// the body for each attempt.
    pub(crate) async fn send(
        &self,
        target: &Target<'_>,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: &(dyn Fn() -> Option<reqwest::Body> + Send + Sync),
        attempts: u32,
    ) -> Result<Response, Error> {
        let options = &self.inner.options;
        let mut delay = options.retry_delay;
        let mut authenticated_once = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .inner
                .http
                .request(method.clone(), url)
                .headers(headers.clone());
            let sent_auth = self.cached_auth(target);
            if let Some(auth) = &sent_auth {
                request = request.header(AUTHORIZATION, auth.expose());
            }
            if let Some(body) = body() {
                request = request.body(body);
            }
            let failure = match request.send().await {
                Ok(response) => match response.status() {
                    StatusCode::UNAUTHORIZED if !authenticated_once => {
                        authenticated_once = true;
                        let _one_at_a_time = self.inner.auth_lock.lock().await;
                        // A request challenged at the same time may have authenticated while
                        // this one waited: use what it got.
                        let now = self.cached_auth(target);
                        if now.is_none() || now == sent_auth {
                            self.authenticate(target, &response).await?;
                        }
                        attempt -= 1;
                        continue;
                    }
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        return Err(Error::Unauthorized {
                            registry: target.registry.to_owned(),
                            status: response.status().as_u16(),
                        });
                    }
                    status if status.is_server_error() || status.as_u16() == 429 => {
                        let body = error_body(response).await;
                        Error::RegistryStatus {
                            method: method.to_string(),
                            url: url.to_owned(),
                            status: status.as_u16(),
                            body,
                        }
                    }
                    _ => return Ok(response),
                },
                Err(error) => Error::Http {
                    method: method.to_string(),
                    url: url.to_owned(),
                    attempts: attempt,
                    reason: error_chain(&error),
                },
            };
            if attempt >= attempts {
                return Err(failure);
            }
            tracing::debug!(%url, attempt, error = %failure, "retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(4));
        }
    }

    /// Authenticates for `target` now, unless a valid authorization is cached: one request to
    /// the registry's `/v2/` endpoint, answering its challenge. Called before the parallel
    /// phase of a push, so that its concurrent requests share one token.
    pub(crate) async fn authorize(&self, target: &Target<'_>) -> Result<(), Error> {
        if self.cached_auth(target).is_some() {
            return Ok(());
        }
        let url = format!("{}/v2/", self.base(target.registry));
        match self
            .send(target, Method::GET, &url, HeaderMap::new(), &|| None, 1)
            .await
        {
            Ok(_) => Ok(()),
            Err(
                error @ (Error::Unauthorized { .. }
                | Error::AuthChallenge { .. }
                | Error::CredentialHelper { .. }
                | Error::TooLarge { .. }),
            ) => Err(error),
            // Not an authentication failure: the requests that follow meet it and say so.
            Err(error) => {
                tracing::debug!(%url, %error, "authorization check failed");
                Ok(())
            }
        }
    }

    /// The credentials for `registry`, resolved once per client; a credential helper runs
    /// on a blocking thread, never on the runtime's workers.
    async fn credentials_for(&self, registry: &str) -> Result<Credentials, Error> {
        let cached = self
            .inner
            .credentials
            .lock()
            .ok()
            .and_then(|c| c.get(registry).cloned());
        if let Some(credentials) = cached {
            return Ok(credentials);
        }
        let source = self.inner.options.credentials.clone();
        let host = registry.to_owned();
        let credentials = tokio::task::spawn_blocking(move || source.credentials_for(&host))
            .await
            .map_err(|error| Error::AuthChallenge {
                registry: registry.to_owned(),
                reason: format!("the credential lookup stopped: {error}"),
            })??;
        if let Ok(mut cache) = self.inner.credentials.lock() {
            cache.insert(registry.to_owned(), credentials.clone());
        }
        Ok(credentials)
    }

    fn cached_auth(&self, target: &Target<'_>) -> Option<Secret> {
        let key = (target.registry.to_owned(), target.scopes().join(" "));
        let basic_key = (target.registry.to_owned(), String::new());
        let tokens = self.inner.tokens.lock().ok()?;
        if let Some((value, expiry)) = tokens.get(&key)
            && expiry.is_none_or(|e| e > Instant::now())
        {
            return Some(value.clone());
        }
        tokens.get(&basic_key).map(|(value, _)| value.clone())
    }

    /// Answers a 401 challenge: basic credentials, or a bearer token from the realm.
    async fn authenticate(&self, target: &Target<'_>, response: &Response) -> Result<(), Error> {
        let registry = target.registry;
        let header = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let challenge = parse_challenge(header).ok_or_else(|| Error::AuthChallenge {
            registry: registry.to_owned(),
            reason: format!("unsupported WWW-Authenticate challenge {header:?}"),
        })?;
        let credentials = self.credentials_for(registry).await?;
        match challenge {
            Challenge::Basic => {
                let value = credentials.basic_header().ok_or(Error::Unauthorized {
                    registry: registry.to_owned(),
                    status: 401,
                })?;
                self.store(
                    (registry.to_owned(), String::new()),
                    Secret::new(value),
                    None,
                );
            }
            Challenge::Bearer { realm, service, .. } => {
                let scopes = target.scopes();
                let (token, expiry) = self
                    .fetch_token(registry, &realm, service.as_deref(), &scopes, &credentials)
                    .await?;
                self.store(
                    (registry.to_owned(), scopes.join(" ")),
                    Secret::new(format!("Bearer {}", token.expose())),
                    expiry,
                );
            }
        }
        Ok(())
    }

    fn store(&self, key: (String, String), value: Secret, expiry: Option<Instant>) {
        if let Ok(mut tokens) = self.inner.tokens.lock() {
            tokens.insert(key, (value, expiry));
        }
    }

    async fn fetch_token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        credentials: &Credentials,
    ) -> Result<(Secret, Option<Instant>), Error> {
        let fail = |reason: String| Error::AuthChallenge {
            registry: registry.to_owned(),
            reason,
        };
        if !(realm.starts_with("https://") || realm.starts_with("http://")) {
            return Err(fail(format!("token realm {realm:?} is not an http(s) URL")));
        }
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = service {
            query.push(("service", service));
        }
        for scope in scopes {
            query.push(("scope", scope));
        }
        let request = match credentials {
            Credentials::IdentityToken(token) => {
                let mut form = query.clone();
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", token.expose()));
                form.push(("client_id", "oci-push"));
                self.inner.http.post(realm).form(&form)
            }
            Credentials::Basic { .. } => {
                let mut request = self.inner.http.get(realm).query(&query);
                if let Some(basic) = credentials.basic_header() {
                    request = request.header(AUTHORIZATION, basic);
                }
                request
            }
            Credentials::Anonymous => self.inner.http.get(realm).query(&query),
        };
        let response = request
            .send()
            .await
            .map_err(|e| fail(format!("token request failed: {}", error_chain(&e))))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::Unauthorized {
                registry: registry.to_owned(),
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(fail(format!("token service answered {status}")));
        }
        let bytes = match read_limited(response, TOKEN_RESPONSE_LIMIT)
            .await
            .map_err(|e| fail(format!("token response: {}", error_chain(&e))))?
        {
            Limited::Body(bytes) => bytes,
            Limited::Exceeded(size) => {
                return Err(Error::TooLarge {
                    what: format!("token response from {realm}"),
                    size,
                    limit: TOKEN_RESPONSE_LIMIT,
                });
            }
        };
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| fail(format!("unreadable token response: {e}")))?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| fail("token response holds no token".to_owned()))?;
        // Refresh 10 s early; the spec's default lifetime is 60 s.
        let lifetime = answer.expires_in.unwrap_or(60).saturating_sub(10);
        Ok((
            Secret::new(token),
            Some(Instant::now() + Duration::from_secs(lifetime)),
        ))
    }
}

/// `response` if it has `expected` status, else [`Error::RegistryStatus`] with its body.
pub(crate) async fn expect_status(
    response: reqwest::Response,
    expected: reqwest::StatusCode,
    method: &str,
    url: &str,
) -> Result<reqwest::Response, Error> {
    if response.status() == expected {
        return Ok(response);
    }
    let status = response.status().as_u16();
    Err(Error::RegistryStatus {
        method: method.to_owned(),
        url: url.to_owned(),
        status,
        body: error_body(response).await,
    })
}

/// Bytes of an error response's body kept for messages.
const ERROR_BODY_LIMIT: usize = 512;
/// The largest token response read (a token is a JWT of a few KiB).
const TOKEN_RESPONSE_LIMIT: u64 = 64 * 1024;

/// The start of an error response's body, for messages; the rest is never read, however
/// long the server makes it.
pub(crate) async fn error_body(mut response: Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < ERROR_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(ERROR_BODY_LIMIT);
    String::from_utf8_lossy(&bytes).trim().to_owned()
}

/// A body read with a size limit.
pub(crate) enum Limited {
    /// The whole body, within the limit.
    Body(Vec<u8>),
    /// Reading stopped here, past the limit.
    Exceeded(u64),
}

/// Reads `response`'s body, stopping as soon as it passes `limit` bytes: a server cannot
/// make the client buffer more than that.
pub(crate) async fn read_limited(
    mut response: Response,
    limit: u64,
) -> Result<Limited, reqwest::Error> {
    if let Some(length) = response.content_length()
        && length > limit
    {
        return Ok(Limited::Exceeded(length));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > limit {
            return Ok(Limited::Exceeded(bytes.len() as u64));
        }
    }
    Ok(Limited::Body(bytes))
}

/// An error and its sources, joined (reqwest's Display alone hides the cause).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A header map from pairs of static names and values.
pub(crate) fn headers(pairs: &[(&'static str, &str)]) -> Result<HeaderMap, Error> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let value = HeaderValue::from_str(value).map_err(|_| Error::InvalidOption {
            option: format!("header {name}"),
            reason: format!("{value:?} is not a valid header value"),
        })?;
        map.insert(*name, value);
    }
    Ok(map)
}
