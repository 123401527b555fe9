//! The HTTP layer shared by the notary and registry clients.
//!
//! Without features (`default-features = false`) the crate is the part a caller needs with
//! no network stack: [`Secret`], [`Credentials`], [`Security`] (HTTPS or explicitly plain
//! HTTP), `WWW-Authenticate` parsing ([`AuthChallenge`]) and [`error_chain`]. The default `http` feature adds what the
//! clients build on reqwest and rustls: [`TlsOptions`] (one CA rule, an explicit ring
//! provider, mutual TLS), bounded body reads ([`read_limited`], [`error_body`]) and token
//! authentication ([`TokenRequest`], [`TokenCache`] with expiry and single-flight). The
//! `serde` feature serializes [`Secret`] as its plain string.
//!
//! **CA rule**: a configured CA ([`TrustRoots::CustomCa`]) *replaces* the platform's roots;
//! see [`tls`] for why.
//!
//! ```
//! use registry_http::{AuthChallenge, BearerChallenge, Credentials};
//!
//! // What a registry answers to an anonymous request, and what the client presents.
//! let header = r#"Bearer realm="https://auth.example/token",service="registry.example""#;
//! let Some(AuthChallenge::Bearer(BearerChallenge { realm, service, .. })) =
//!     AuthChallenge::from_header(header)
//! else {
//!     panic!("not a bearer challenge");
//! };
//! assert_eq!(realm, "https://auth.example/token");
//! assert_eq!(service.as_deref(), Some("registry.example"));
//!
//! let credentials = Credentials::from_basic_base64("YWxpY2U6aHVudGVyMg==", "NOTARY_AUTH")?;
//! assert_eq!(credentials, Credentials::basic("alice", "hunter2"));
//! assert!(!format!("{credentials:?}").contains("hunter2"));
//! # Ok::<(), registry_http::Error>(())
//! ```

mod chain;
mod challenge;
mod credentials;
mod error;
mod secret;
mod security;

#[cfg(feature = "http")]
mod body;
#[cfg(feature = "http")]
pub mod tls;
#[cfg(feature = "http")]
mod token;

pub use chain::error_chain;
pub use challenge::{AuthChallenge, BearerChallenge, Challenge, parse_challenges};
pub use credentials::Credentials;
pub use error::Error;
pub use secret::Secret;
pub use security::Security;

#[cfg(feature = "http")]
pub use body::{ERROR_BODY_LIMIT, error_body, read_limited};
#[cfg(feature = "http")]
pub use tls::{TlsOptions, TrustRoots};
#[cfg(feature = "http")]
pub use token::{
    DEFAULT_TOKEN_LIFETIME, TOKEN_RESPONSE_LIMIT, Token, TokenCache, TokenKey, TokenRequest,
};
