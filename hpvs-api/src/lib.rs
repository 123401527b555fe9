//! This crate provides the typed side of the HPVS appliance API (`shared/spec/appliance.md`):
//! the request and answer bodies ([`wire`]), shared with the emulator `hpvs-sim`. The async
//! client follows.
//!
//! # Example
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
//! # Ok::<(), hpvs_api::wire::ParseError>(())
//! ```
//!
//! # Features
//!
//! - `openapi`: `utoipa::ToSchema` on every wire type.

pub mod wire;
