//! This crate provides a Docker Content Trust (Notary v1) client, byte-compatible with the Go
//! `notary` client 0.7 and notary-server.
//!
//! The core, which works without the network stack (`default-features = false`):
//!
//! - [`canonical`]: docker/go canonical JSON and Go's time format.
//! - [`metadata`]: notary's TUF dialect (Root, Targets and delegations, Snapshot, Timestamp),
//!   the signed envelope, signing; [`metadata::FileMeta`] is what a target is signed as.
//! - [`verify`]: each security check once: signature thresholds, expiry, rollback, root
//!   certificates, trust pinning ([`pinning`]), root rotation; [`limits`] bounds every read.
//! - [`names`]: [`names::Gun`], [`names::TargetsRole`] and [`names::DelegationName`], checked
//!   once where a name enters.
//! - [`target`]: [`TargetInfo`], a signed target as a lookup returns it.
//!
//! The client (default feature `client`: reqwest, rustls, tokio):
//!
//! - [`repository`]: [`repository::Client`] and [`repository::Repository`]: init (root key
//!   reuse), stage targets and delegations ([`changelist`], Go's format), publish, list,
//!   lookup, delete, key rotation ([`repository::KeyRotation`]), with the key holders and
//!   first-use policy as enums ([`repository::KeyHolder`], [`pinning::FirstUse`]).
//! - [`update`]: the client update flow, generic over where the files come from ([`fetch`]:
//!   the HTTP server, or [`fetch::InMemory`] in tests and offline tools); bounded downloads,
//!   the [`cache`] written only after everything verified.
//! - [`transport`]: notary-server's HTTP API over HTTP(S), mutual TLS, basic auth and
//!   registry-style token auth (on `registry-http`); [`transport::ServerConfig::from_url`]
//!   and `NOTARY_AUTH` ([`transport::ServerConfig::with_notary_auth_from_env`]).
//! - [`inspect`]: the `docker trust inspect` view.
//!
//! Keys come from [`keymgmt`]'s trust-dir key store, so the Go client and this crate can share
//! one trust dir.
//!
//! # Example
//!
//! Staging runs offline, as with the Go client; nothing is sent to the server until a publish:
//!
//! ```
//! use keymgmt::passphrase::{Fixed, Passphrase};
//! use notary_client::metadata::FileMeta;
//! use notary_client::repository::Client;
//! use notary_client::transport::ServerConfig;
//!
//! let trust_dir = tempfile::tempdir()?;
//! let server = ServerConfig::from_url("https://notary.example.com")?;
//! let client = Client::new(trust_dir.path(), &server, Fixed(Passphrase::new("unused")))?;
//! let repo = client.repository("registry.example.com/team/app")?;
//!
//! let manifest = b"manifest bytes";
//! repo.add_target("v1", FileMeta::of_bytes(manifest), &[])?;
//! let staged = repo.status()?;
//! assert_eq!((staged[0].role.as_str(), staged[0].path.as_str()), ("targets", "v1"));
//!
//! // A GUN is checked before it touches a path or a URL.
//! assert!(client.repository("registry.example.com/../etc").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Publishing and looking up talk to the server:
//!
//! ```no_run
//! use keymgmt::passphrase::Chain;
//! use notary_client::metadata::FileMeta;
//! use notary_client::repository::{Client, InitOptions};
//! use notary_client::transport::ServerConfig;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ServerConfig::from_url("https://notary.example.com")?.with_notary_auth_from_env()?;
//! let client = Client::new("/home/me/.notary", &server, Chain::cli_environment())?;
//! let repo = client.repository("registry.example.com/team/app")?;
//! repo.init(&InitOptions::default()).await?;
//! repo.add_target("v1", FileMeta::of_bytes(b"manifest bytes"), &[])?;
//! repo.publish().await?;
//! let v1 = repo.lookup("v1").await?;
//! assert_eq!(v1.length, 14);
//! # Ok(()) }
//! ```
//!
//! Signing an image that `oci-push` pushed and pulling the one a lookup resolves need no
//! conversion by hand: with its `notary` feature, `FileMeta::from(&pushed)` and
//! `oci_push::Digest::try_from(&target_info)`; `oci-push`'s crate documentation shows the
//! whole round trip.
//!
//! # Errors
//!
//! One [`Error`] enum, `#[non_exhaustive]`, with a variant per failed check (each attack of
//! the TUF threat list has its own: a rollback, a freeze and a substitution differ), carrying
//! the roles, versions and key IDs compared; key store errors are [`Error::Key`].
//! [`Error::blame`] says whose fault it is ([`Blame`]: the server or its data, bad input,
//! caller misuse or the environment), with `keymgmt`'s and `oci-push`'s four answers.

#[cfg(feature = "client")]
pub mod cache;
pub mod canonical;
#[cfg(feature = "client")]
pub mod changelist;
pub mod error;
#[cfg(feature = "client")]
pub mod fetch;
#[cfg(feature = "client")]
pub mod inspect;
pub mod limits;
pub mod metadata;
pub mod names;
pub mod pinning;
#[cfg(feature = "client")]
pub mod repository;
pub mod target;
#[cfg(feature = "client")]
pub mod transport;
#[cfg(feature = "client")]
pub mod update;
pub mod verify;

pub use error::{Blame, Error, Result};
pub use target::TargetInfo;
