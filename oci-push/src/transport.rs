//! The registry client: retries and the registry's authentication flow on `registry-http`
//! (TLS with an explicit ring provider, challenge parsing, the token cache, bounded reads).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use registry_http::Security;
use registry_http::{AuthChallenge, TlsOptions, TokenCache, TokenKey, TokenRequest, TrustRoots};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};

use crate::Error;
use crate::auth::{CredentialSource, Credentials, Secret};

pub(crate) use registry_http::{error_body, error_chain};

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
    pub security: Security,
    /// CA certificates (PEM) to trust *instead of* the platform's roots; empty: the
    /// platform's roots. A registry named with its CA is not also trusted under every
    /// public CA (the rule of [`registry_http::tls`]).
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
            security: Security::Https,
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
    /// Bearer tokens, hinted by "registry scopes"; concurrent challenges share one fetch.
    tokens: TokenCache,
    /// `Basic` authorization values by registry, for registries that challenge with it.
    basic: Mutex<HashMap<String, Secret>>,
    /// Credentials by registry, resolved once (a credential helper runs once per registry).
    credentials: Mutex<HashMap<String, Credentials>>,
}

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

    /// The token cache's hint for this target.
    fn token_hint(&self) -> String {
        format!("{} {}", self.registry, self.scopes().join(" "))
    }
}

impl Client {
    /// A client with these options; its TLS configuration names ring as its provider (no
    /// process-wide provider is installed).
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
        let tls = TlsOptions {
            roots: match options.ca_certificates_pem.as_slice() {
                [] => TrustRoots::Platform,
                pems => TrustRoots::CustomCa(pems.join("\n").into_bytes()),
            },
            client_identity_pem: options.client_identity_pem.clone(),
        };
        let http = tls
            .reqwest_builder()
            .map_err(http_error)?
            .connect_timeout(options.connect_timeout)
            .read_timeout(Duration::from_secs(120))
            .user_agent(concat!("oci-push/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(options.parallelism.max(4))
            .build()
            .map_err(|e| Error::Tls {
                what: "HTTP client".to_owned(),
                reason: error_chain(&e),
            })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                options,
                tokens: TokenCache::new(),
                basic: Mutex::new(HashMap::new()),
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
        format!("{}://{registry}", self.inner.options.security.scheme())
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
                        self.authenticate(target, &response, sent_auth.as_ref())
                            .await?;
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
                    source: Box::new(error),
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

    /// The `Authorization` value to send to `target`: a fresh bearer token for its scopes,
    /// else the registry's basic credentials once it has asked for them.
    fn cached_auth(&self, target: &Target<'_>) -> Option<Secret> {
        if let Some(token) = self.inner.tokens.cached(&target.token_hint()) {
            return Some(Secret::new(format!("Bearer {}", token.expose())));
        }
        self.inner.basic.lock().ok()?.get(target.registry).cloned()
    }

    /// Answers a 401 challenge: basic credentials, or a bearer token from the realm. `sent`
    /// is the authorization the refused request carried: a token that was refused is
    /// fetched anew, one that another request fetched meanwhile is used as it is.
    async fn authenticate(
        &self,
        target: &Target<'_>,
        response: &Response,
        sent: Option<&Secret>,
    ) -> Result<(), Error> {
        let registry = target.registry;
        let header = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let challenge = AuthChallenge::from_header(header).ok_or_else(|| Error::AuthChallenge {
            registry: registry.to_owned(),
            reason: format!("unsupported WWW-Authenticate challenge {header:?}"),
        })?;
        let credentials = self.credentials_for(registry).await?;
        match challenge {
            AuthChallenge::Basic { .. } => {
                let value = credentials.basic_header().ok_or(Error::Unauthorized {
                    registry: registry.to_owned(),
                    status: 401,
                })?;
                if let Ok(mut basic) = self.inner.basic.lock() {
                    basic.insert(registry.to_owned(), value);
                }
            }
            AuthChallenge::Bearer(bearer) => {
                let scopes = target.scopes();
                let key = TokenKey {
                    realm: bearer.realm.clone(),
                    service: bearer.service.clone(),
                    scope: scopes.join(" "),
                };
                let rejected = sent
                    .and_then(|s| s.expose().strip_prefix("Bearer "))
                    .map(Secret::new);
                let request = TokenRequest {
                    realm: &bearer.realm,
                    service: bearer.service.as_deref(),
                    scopes: &scopes,
                    credentials: &credentials,
                    client_id: "oci-push",
                };
                self.inner
                    .tokens
                    .get_or_fetch(&target.token_hint(), key, rejected.as_ref(), || async {
                        request
                            .send(&self.inner.http)
                            .await
                            .map_err(|e| token_error(registry, e))
                    })
                    .await?;
            }
        }
        Ok(())
    }
}

/// A `registry-http` setup error as this crate's.
fn http_error(error: registry_http::Error) -> Error {
    match error {
        registry_http::Error::Tls { what, reason } => Error::Tls {
            what: what.to_owned(),
            reason,
        },
        other => Error::Tls {
            what: "HTTP client".to_owned(),
            reason: error_chain(&other),
        },
    }
}

/// A failed token request as this crate's error.
fn token_error(registry: &str, error: registry_http::Error) -> Error {
    let fail = |reason: String| Error::AuthChallenge {
        registry: registry.to_owned(),
        reason,
    };
    match error {
        registry_http::Error::TokenDenied { status, .. } => Error::Unauthorized {
            registry: registry.to_owned(),
            status,
        },
        registry_http::Error::TooLarge {
            url, limit, seen, ..
        } => Error::TooLarge {
            what: format!("token response from {url}"),
            size: seen,
            limit,
        },
        registry_http::Error::TokenService {
            status: Some(status),
            ..
        } => fail(format!("token service answered {status}")),
        registry_http::Error::Request { source, .. } => {
            fail(format!("token request failed: {}", error_chain(&source)))
        }
        other => fail(other.to_string()),
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

/// A body read with a size limit.
pub(crate) enum Limited {
    /// The whole body, within the limit.
    Body(Vec<u8>),
    /// Reading stopped here, past the limit.
    Exceeded(u64),
}

/// Reads `response`'s body, stopping as soon as it passes `limit` bytes.
pub(crate) async fn read_limited(
    response: Response,
    limit: u64,
) -> Result<Limited, registry_http::Error> {
    match registry_http::read_limited(response, limit).await {
        Ok(bytes) => Ok(Limited::Body(bytes)),
        Err(registry_http::Error::TooLarge { seen, .. }) => Ok(Limited::Exceeded(seen)),
        Err(error) => Err(error),
    }
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
