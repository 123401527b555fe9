//! This crate provides a Docker Content Trust (Notary v1) client, byte-compatible with the Go
//! `notary` client 0.7 and notary-server.
//!
//! - [`canonical`]: docker/go canonical JSON and Go's time format (no I/O).
//! - [`metadata`]: notary's TUF dialect (Root, Targets and delegations, Snapshot, Timestamp),
//!   the signed envelope, signing (no I/O).
//! - [`verify`]: each security check once: signature thresholds, expiry, rollback, root
//!   certificates, trust pinning, root rotation.
//! - [`update`]: the client update flow, bounded downloads, cache written only after
//!   everything verified.
//! - [`repository`]: init, stage targets and delegations (persisted changelist, Go's format),
//!   publish, list, lookup, delete; [`transport`] speaks notary-server's HTTP API over HTTP(S), mutual TLS and basic
//!   auth.
//!
//! Keys come from [`keymgmt`]'s trust-dir key store, so the Go client and this crate can share
//! one trust dir.
//!
//! # Example
//!
//! ```no_run
//! use notary_client::metadata::FileMeta;
//! use notary_client::repository::{Client, InitOptions};
//! use notary_client::transport::ServerConfig;
//! use keymgmt::passphrase::NotaryEnv;
//!
//! # async fn run() -> notary_client::Result<()> {
//! let server = ServerConfig { url: "https://notary.example.com".into(), ..Default::default() };
//! let client = Client::new("/home/me/.notary", &server, NotaryEnv::new())?;
//! let repo = client.repository("registry.example.com/team/app")?;
//! repo.init(&InitOptions::default()).await?;
//! repo.add_target("v1", FileMeta::of_bytes(b"manifest bytes"), &[])?;
//! repo.publish().await?;
//! let v1 = repo.lookup("v1").await?;
//! assert_eq!(v1.length, 14);
//! # Ok(()) }
//! ```
//!
//! [`inspect`] gives the `docker trust inspect` view. Not yet: key rotation and registry-style
//! token auth.

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

pub use error::{Error, Result};
pub use target::TargetInfo;
