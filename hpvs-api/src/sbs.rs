//! The async client of the Secure Build Server (`shared/spec/sbs.md`) over mutual TLS: one
//! method per endpoint, called as IBM's `build.py` calls them.
//!
//! Every request carries `Content-Type: application/json` and a JSON body: the parameters,
//! or the literal `""` (what python-requests sends for `json=''`) on the calls that take
//! none. Every answer is read with the bound [`SBS_ANSWER_LIMIT`] before it is parsed; an
//! error answer `{"error": "<message>"}` becomes [`Error::SbsRefused`].
//!
//! TLS: rustls with the ring provider named explicitly (no process-wide provider), trusting
//! only the given CA (the server is verified by its name or IP SAN), and presenting the
//! client certificate through a [`rustls::client::ResolvesClientCert`]: the lab's client
//! certificates are X.509 v1 (`openssl x509 -req` without extensions), which rustls'
//! `with_client_auth_cert` refuses (`UnsupportedCertVersion`) although the server accepts
//! them; the resolver hands rustls the certificate as it is.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use registry_http::Secret;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::Error;
use crate::sbs_wire::{
    BuildStatus, ErrorAnswer, LogAnswer, ManifestAnswer, PublicKeyAnswer, RegistrationData,
    StateImage, StatusAnswer,
};

/// The largest answer body read (a manifest carries the source snapshot): 128 MiB.
pub const SBS_ANSWER_LIMIT: u64 = 128 << 20;

/// How often [`SbsClient::wait_for_build`] asks for the status, unless
/// [`SbsClient::with_poll_interval`] says otherwise.
pub const SBS_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// How long one request may take, connection included.
pub const SBS_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of a non-JSON error body kept in [`Error::UnexpectedAnswer`].
const BODY_START_LIMIT: usize = 512;

/// Where the Secure Build Server is and the mutual-TLS identity to reach it with: the input
/// of [`SbsClient::new`]. `Debug` abbreviates the PEMs to their sizes and never shows the key.
#[derive(Clone)]
pub struct SbsConfig {
    /// `https://HOST:PORT` (a path prefix is kept).
    pub url: String,
    /// The CA that issued the server's certificate (PEM): the only one trusted.
    pub ca_cert_pem: Vec<u8>,
    /// The client certificate (PEM; X.509 v1 accepted), optionally followed by its chain.
    pub client_cert_pem: Vec<u8>,
    /// The client certificate's private key (PEM: PKCS#1, PKCS#8 or SEC1).
    pub client_key_pem: Secret,
}

impl fmt::Debug for SbsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SbsConfig")
            .field("url", &self.url)
            .field("ca_cert_pem", &format!("{} bytes", self.ca_cert_pem.len()))
            .field(
                "client_cert_pem",
                &format!("{} bytes", self.client_cert_pem.len()),
            )
            .field("client_key_pem", &self.client_key_pem)
            .finish()
    }
}

/// A client of one Secure Build Server. Cloning is cheap and shares the connection pool.
///
/// TLS: rustls with the ring provider (no process-wide provider is installed), the given CA
/// as the only trust anchor, and the client certificate presented through a
/// `ResolvesClientCert`, because the lab's client certificates are X.509 v1, which rustls'
/// `with_client_auth_cert` refuses. Requests carry `Content-Type: application/json` and the
/// literal body `""` when they have no parameters, as `build.py` sends them; no proxy, no
/// redirects.
#[derive(Clone)]
pub struct SbsClient {
    http: reqwest::Client,
    /// The base URL without a trailing slash.
    base: String,
    poll_interval: Duration,
}

impl fmt::Debug for SbsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SbsClient")
            .field("base", &self.base)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

/// Always presents the one client certificate.
#[derive(Debug)]
struct ClientIdentity(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientIdentity {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn invalid(setting: &str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        setting: setting.to_owned(),
        reason: reason.into(),
    }
}

/// The rustls configuration of `config`: ring, TLS 1.2 and 1.3, the CA alone, the client
/// identity through a resolver.
fn tls_config(config: &SbsConfig) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&config.ca_cert_pem) {
        let cert = cert.map_err(|e| invalid("SBS CA certificate", e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| invalid("SBS CA certificate", e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(invalid("SBS CA certificate", "no certificate in the PEM"));
    }
    let chain = CertificateDer::pem_slice_iter(&config.client_cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("SBS client certificate", e.to_string()))?;
    if chain.is_empty() {
        return Err(invalid(
            "SBS client certificate",
            "no certificate in the PEM",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(config.client_key_pem.expose().as_bytes())
        .map_err(|e| invalid("SBS client key", e.to_string()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| invalid("SBS client key", e.to_string()))?;
    // No `keys_match`: it parses the certificate with WebPKI, which refuses v1.
    let certified = CertifiedKey::new(chain, signing);
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("SBS TLS settings", e.to_string()))?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(ClientIdentity(Arc::new(certified)))))
}

impl SbsClient {
    /// A client for the server `config` describes. The URL must be `https://`; the PEMs
    /// must hold a CA certificate, a client certificate and its key. Nothing is sent yet.
    pub fn new(config: SbsConfig) -> Result<Self, Error> {
        let url = reqwest::Url::parse(&config.url)
            .map_err(|e| invalid("SBS URL", format!("{:?}: {e}", config.url)))?;
        if url.scheme() != "https" || url.host_str().is_none() {
            return Err(invalid(
                "SBS URL",
                format!("{:?}: expected https://HOST:PORT", config.url),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(invalid(
                "SBS URL",
                format!(
                    "{:?}: credentials, a query or a fragment are not allowed",
                    config.url
                ),
            ));
        }
        let tls = tls_config(&config)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(SBS_REQUEST_TIMEOUT)
            .build()
            .map_err(|e| invalid("HTTP client", registry_http::error_chain(&e)))?;
        Ok(Self {
            http,
            base: url.as_str().trim_end_matches('/').to_owned(),
            poll_interval: SBS_POLL_INTERVAL,
        })
    }

    /// The same client, polling every `interval` in [`SbsClient::wait_for_build`].
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// `GET /image`: the build status.
    pub async fn status(&self) -> Result<BuildStatus, Error> {
        self.json(Method::GET, "/image", None).await
    }

    /// `POST /image`: sets the init parameters (upper-case keys, see the spec).
    pub async fn init(&self, params: &Value) -> Result<StatusAnswer, Error> {
        self.json(Method::POST, "/image", Some(params)).await
    }

    /// `PATCH /image`: updates the parameters (not `DOCKER_REPO` nor `REPO_ID`).
    pub async fn update(&self, params: &Value) -> Result<StatusAnswer, Error> {
        self.json(Method::PATCH, "/image", Some(params)).await
    }

    /// `PUT /image`: starts a build (`OK: async build started`); see
    /// [`SbsClient::wait_for_build`].
    pub async fn build(&self) -> Result<StatusAnswer, Error> {
        self.json(Method::PUT, "/image", None).await
    }

    /// `DELETE /image`: clears build data and logs.
    pub async fn clean(&self) -> Result<StatusAnswer, Error> {
        self.json(Method::DELETE, "/image", None).await
    }

    /// `GET /log/{name}` (`build` is the build's log).
    pub async fn log(&self, name: &str) -> Result<String, Error> {
        let name = segment(name)?;
        let answer: LogAnswer = self
            .json(Method::GET, &format!("/log/{name}"), None)
            .await?;
        Ok(answer.log)
    }

    /// `GET /manifest`: the manifest of `build_name`, or of the latest build.
    pub async fn manifest(&self, build_name: Option<&str>) -> Result<ManifestAnswer, Error> {
        let body = build_name.map(|name| json!({ "BUILD_NAME": name }));
        self.json(Method::GET, "/manifest", body.as_ref()).await
    }

    /// `GET /publickey`: the manifest key of `build_name`, or of the latest build.
    pub async fn public_key(&self, build_name: Option<&str>) -> Result<PublicKeyAnswer, Error> {
        let body = build_name.map(|name| json!({ "BUILD_NAME": name }));
        self.json(Method::GET, "/publickey", body.as_ref()).await
    }

    /// `GET /config-json` (HTTP 201): the registration data of the latest build.
    pub async fn config_json(&self) -> Result<RegistrationData, Error> {
        self.json(Method::GET, "/config-json", None).await
    }

    /// `GET /imagedigest` (HTTP 201): `<repository>@sha256:<hex>` of the built image.
    pub async fn image_digest(&self) -> Result<String, Error> {
        self.json(Method::GET, "/imagedigest", None).await
    }

    /// `GET /state-image`: the sealed export of the server's keys and state.
    pub async fn export_state(&self) -> Result<StateImage, Error> {
        self.json(Method::GET, "/state-image", None).await
    }

    /// `POST /state-image`: imports `state` (the `state` of a [`StateImage`]) with the
    /// `SECRET` of the exporting server's parameters.
    pub async fn import_state(&self, secret: &Secret, state: &str) -> Result<StatusAnswer, Error> {
        let body = json!({ "secret": secret.expose(), "state": state });
        self.json(Method::POST, "/state-image", Some(&body)).await
    }

    /// Asks for the status every poll interval until it is `success` or a failure
    /// (`exiting ...`), and returns it: a failed build is an answer, not an error (see
    /// [`BuildStatus::failed`]). `on_progress` sees every status read. Fails with
    /// [`Error::BuildTimeout`] when `timeout` passes first.
    pub async fn wait_for_build(
        &self,
        timeout: Duration,
        mut on_progress: impl FnMut(&BuildStatus),
    ) -> Result<BuildStatus, Error> {
        let started = Instant::now();
        loop {
            let status = self.status().await?;
            on_progress(&status);
            if status.finished() {
                return Ok(status);
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(Error::BuildTimeout {
                    waited,
                    last_status: status.status,
                });
            }
            tokio::time::sleep(self.poll_interval.min(timeout - waited)).await;
        }
    }

    /// One call: `body` as JSON, or `""`; the 2xx answer parsed as `T`, or the error it
    /// stands for.
    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, Error> {
        let call = format!("SBS {method} {path}");
        let body = match body {
            Some(value) => serde_json::to_vec(value).map_err(|e| Error::Encode {
                call: call.clone(),
                reason: e.to_string(),
            })?,
            None => b"\"\"".to_vec(),
        };
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(body);
        let response = request
            .send()
            .await
            .map_err(|source| Error::SbsUnreachable {
                call: call.clone(),
                source: Box::new(source),
            })?;
        let status = response.status();
        let body =
            crate::client::read_bounded(&call, response, SBS_ANSWER_LIMIT, |call, source| {
                Error::SbsUnreachable { call, source }
            })
            .await?;
        if status.is_success() {
            serde_json::from_slice(&body).map_err(|e| Error::Decode {
                call,
                reason: e.to_string(),
            })
        } else {
            Err(error_answer(call, status, &body))
        }
    }
}

/// [`Error::SbsRefused`] for a `{"error"}` body, else [`Error::UnexpectedAnswer`].
fn error_answer(call: String, status: StatusCode, body: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorAnswer>(body) {
        Ok(ErrorAnswer { error }) => Error::SbsRefused {
            call,
            status: status.as_u16(),
            message: error,
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

/// `name` as one path segment, percent-encoded; empty, `.` and `..` refused.
fn segment(name: &str) -> Result<String, Error> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::InvalidName {
            what: "log",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> SbsConfig {
        SbsConfig {
            url: url.into(),
            ca_cert_pem: b"not a cert".to_vec(),
            client_cert_pem: Vec::new(),
            client_key_pem: Secret::new("k3y"),
        }
    }

    #[test]
    fn unusable_settings_are_named_before_anything_is_sent() {
        for (url, setting) in [
            ("http://127.0.0.1:1", "SBS URL"),
            ("127.0.0.1:1", "SBS URL"),
            ("https://u@127.0.0.1:1", "SBS URL"),
            ("https://127.0.0.1:1", "SBS CA certificate"),
        ] {
            match SbsClient::new(config(url)) {
                Err(Error::InvalidConfig { setting: s, .. }) => assert_eq!(s, setting, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        assert!(!format!("{:?}", config("https://a:1")).contains("k3y"));
    }

    #[test]
    fn error_bodies_map_to_their_variants() {
        let refused = error_answer(
            "SBS PUT /image".into(),
            StatusCode::CONFLICT,
            br#"{"error": "a build is running"}"#,
        );
        assert!(
            matches!(refused, Error::SbsRefused { status: 409, ref message, .. } if message == "a build is running")
        );
        let html = error_answer("x".into(), StatusCode::BAD_GATEWAY, b"<html>");
        assert!(matches!(html, Error::UnexpectedAnswer { status: 502, .. }));
        assert_eq!(segment("a/b").unwrap(), "a%2Fb");
        assert!(segment("..").is_err());
    }
}
