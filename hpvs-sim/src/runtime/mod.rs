//! The workload runtime: virtual servers as runc containers on this host.
//!
//! A [`Runtime`] owns a state directory. For each server it makes a network namespace
//! (`ip netns`), one loop-mounted filesystem per quotagroup mount, and a runc bundle whose
//! `config.json` comes from the image config and the [`ServerSettings`] ([`bundle::generate`]);
//! runc keeps its container state under the same directory. Every host resource is named
//! after the state directory (a prefix derived from its path), so [`Runtime::orphans`] only
//! ever finds, and [`Runtime::remove_orphans`] only ever removes, what this runtime made.
//!
//! ```text
//! <state>/runc/                     runc --root
//! <state>/servers/<name>/bundle/    config.json (root.path = the caller's unpacked rootfs)
//! <state>/servers/<name>/volumes/   <mountid>.img (sparse) and <mountid>/ (its mount point)
//! <state>/servers/<name>/console.log   the workload's stdout and stderr, appended
//! /run/netns/hpvs-<tag>-<name>      the server's network namespace (loopback only)
//! ```
//!
//! Calls block (they run host tools) and are not serialised per server: the caller runs them
//! off its async threads and one at a time for a given server.

pub mod bundle;
mod caps;
mod error;
mod forward;
mod host_volume;
pub mod image;
mod names;
mod netns;
mod reconcile;
mod runc;
mod server;
pub mod spec;
mod tool;
mod user;
pub mod volume;

pub use bundle::{Limits, ServerSettings};
pub use error::{Result, RuntimeError};
pub use forward::PortForwarder;
pub use image::ImageConfig;
pub use names::{MountId, ServerName};
pub use netns::NetNamespace;
pub use server::{Orphans, Runtime, ServerState};
pub use volume::{Filesystem, QuotaMount};
