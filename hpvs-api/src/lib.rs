//! This crate provides the typed side of the HPVS appliance API (`shared/spec/appliance.md`):
//! the request and answer bodies ([`wire`]), shared with the emulator `hpvs-sim`, and an
//! async [`Client`] with one method per call; and the async [`SbsClient`] of the Secure
//! Build Server (`shared/spec/sbs.md`) over mutual TLS, with its answers in [`sbs_wire`] and
//! the verifier of its signed build manifest in [`manifest`].
//!
//! ```text
//! ApplianceConfig (HPVS_URL, HPVS_TOKEN, HPVS_CACERT)
//!        |  Client::new: https (only the given CA) or http to loopback; no proxy, no redirects
//!        v
//! Client --(bearer token, percent-encoded names, JSON wire types)--> appliance /api/v1
//!        <--(answer read with a 16 MiB bound, then parsed)--
//!           2xx: the wire type;  error: Error::Api { code, .. } or Error::UnexpectedAnswer
//! ```
//!
//! What it does not do: it never installs a process-wide rustls provider (the TLS
//! configuration names ring), never retries a call (the appliance's calls are not all
//! idempotent), and never prints the token (`Debug` of [`ApplianceConfig`] and [`Client`]
//! redacts it).
//!
//! # Main types
//!
//! - [`Client`] and its [`ApplianceConfig`]: the calls, e.g. [`Client::create_virtual_server`]
//!   and [`Client::wait_until_settled`]; [`Force`] for deleting a repository with what was
//!   made from it.
//! - [`Error`]: every failure; [`Error::Api`] carries the appliance's [`wire::ErrorCode`].
//! - [`wire::NewVirtualServer`], [`wire::VirtualServer`], [`wire::NewRegistry`],
//!   [`wire::Registry`], [`wire::NewRepository`], [`wire::Repository`],
//!   [`wire::NewQuotagroup`], [`wire::Quotagroup`], [`wire::Image`]: the resources.
//! - [`SbsClient`] and its [`SbsConfig`]: the Secure Build Server's calls, e.g.
//!   [`SbsClient::init`], [`SbsClient::build`] and [`SbsClient::wait_for_build`]; it presents
//!   the lab's X.509 v1 client certificates (see [`SbsClient`] for how). Its answers:
//!   [`sbs_wire::BuildStatus`], [`sbs_wire::ManifestAnswer`], [`sbs_wire::PublicKeyAnswer`],
//!   [`sbs_wire::RegistrationData`], [`sbs_wire::StateImage`]; its refusals:
//!   [`Error::SbsRefused`].
//! - [`wire::ApiError`] and [`wire::ErrorCode`]: every error answer, with its stable code and
//!   HTTP status.
//! - [`manifest::verify`] and [`manifest::verify_encoded`]: the build manifest checked as the
//!   lab's `openssl` commands check it, giving a [`manifest::VerifiedManifest`] (its files and
//!   signed `build.json`) or a [`manifest::ManifestError`] naming the check that failed.
//!
//! # Example
//!
//! The request bodies are plain values:
//!
//! ```
//! use hpvs_api::wire::{Mount, NewVirtualServer, PortMapping, Protocol, parse_size};
//! let server = NewVirtualServer {
//!     name: "wallet".into(),
//!     repo: "wallet-repo".into(),
//!     tag: "latest".into(),
//!     cpu: 2,
//!     ram: 2048,
//!     quotagroups: vec![Mount {
//!         quotagroup: "wallet-qg".into(),
//!         mountid: "data".into(),
//!         mount: "/data".into(),
//!         filesystem: "ext4".parse()?,
//!         size: parse_size("1GB")?,
//!         reset_root: false,
//!     }],
//!     env: Default::default(),
//!     ports: vec![PortMapping { containerport: 443, protocol: Protocol::Tcp, hostport: 30100 }],
//! };
//! let json = serde_json::to_value(&server).unwrap();
//! assert_eq!(json["quotagroups"][0]["mountid"], "data");
//! assert_eq!(json["ports"][0]["protocol"], "tcp");
//! # Ok::<(), hpvs_api::wire::ParseError>(())
//! ```
//!
//! A client is built from the environment (or an [`ApplianceConfig`]); a refused call names
//! the appliance's code:
//!
//! ```no_run
//! use std::time::Duration;
//! use hpvs_api::{ApplianceConfig, Client, Error, wire::ErrorCode};
//!
//! # async fn deploy(server: hpvs_api::wire::NewVirtualServer) -> Result<(), Error> {
//! let client = Client::new(ApplianceConfig::from_env()?)?;
//! match client.create_virtual_server(&server).await {
//!     Err(Error::Api { code: ErrorCode::PortTaken, message, .. }) => eprintln!("{message}"),
//!     other => {
//!         other?;
//!         let settled = client
//!             .wait_until_settled(&server.name, Duration::from_secs(600), |s| {
//!                 eprintln!("{}: {}", s.state, s.reason.as_deref().unwrap_or(""))
//!             })
//!             .await?;
//!         println!("{} is {}", settled.name, settled.state);
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! And a misconfiguration is an error naming the setting, before anything is sent:
//!
//! ```
//! use hpvs_api::{ApplianceConfig, Client, Error, Secret};
//! let config = ApplianceConfig::new("http://192.0.2.7:8080", Secret::new("t0ken"));
//! assert!(matches!(Client::new(config), Err(Error::InvalidConfig { .. })));
//! let config = ApplianceConfig::new("http://127.0.0.1:8080", Secret::new("t0ken"));
//! let client = Client::new(config)?;
//! assert!(!format!("{client:?}").contains("t0ken"));
//! # Ok::<(), Error>(())
//! ```
//!
//! # Features
//!
//! - `openapi`: `utoipa::ToSchema` on every wire type (the emulator serves the API's OpenAPI
//!   document from them).

mod client;
mod config;
mod error;
pub mod manifest;
mod sbs;
pub mod sbs_wire;
pub mod wire;

pub use client::{ANSWER_LIMIT, Client, ERROR_ANSWER_LIMIT, Force, SETTLE_POLL_INTERVAL};
pub use config::{ApplianceConfig, DEFAULT_REQUEST_TIMEOUT, ENV_CACERT, ENV_TOKEN, ENV_URL};
pub use error::Error;
pub use registry_http::Secret;
pub use sbs::{SBS_ANSWER_LIMIT, SBS_POLL_INTERVAL, SBS_REQUEST_TIMEOUT, SbsClient, SbsConfig};
