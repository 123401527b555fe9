//! The crate's one error type.

/// What went wrong, with the offending value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Basic credentials given as base64 of `user:password` are not that (bad input).
    #[error("{what} is not base64 of user:password: {reason}")]
    InvalidBasicAuth {
        /// Where the value came from (`NOTARY_AUTH`, a `config.json` entry).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A body passed its size limit; reading stopped there (the peer misbehaved).
    #[cfg(feature = "http")]
    #[error(
        "the response from {url} is larger than the {limit}-byte limit (at least {seen} bytes)"
    )]
    TooLarge {
        /// The response's URL.
        url: String,
        /// The limit.
        limit: u64,
        /// Bytes announced or read when reading stopped.
        seen: u64,
    },
    /// A request could not be sent or its body not read (environment or peer).
    #[cfg(feature = "http")]
    #[error("{url}: {}", crate::error_chain(source))]
    Request {
        /// The request's URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// A TLS setting is unusable (bad input: a certificate or key that does not parse).
    #[cfg(feature = "http")]
    #[error("{what}: {reason}")]
    Tls {
        /// The setting (`CA certificate`, `client identity`, `platform roots`).
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The token service refused the credentials (401 or 403).
    #[cfg(feature = "http")]
    #[error("the token service {realm} refused the credentials ({status})")]
    TokenDenied {
        /// The token service's URL.
        realm: String,
        /// The HTTP status.
        status: u16,
    },
    /// The token service failed, or answered something that is not a token (peer).
    #[cfg(feature = "http")]
    #[error("the token service {realm} failed: {reason}")]
    TokenService {
        /// The token service's URL.
        realm: String,
        /// The HTTP status, when the service answered with an error status.
        status: Option<u16>,
        /// What it answered.
        reason: String,
    },
}
