//! This crate provides the emulator of the HPVS appliance: the API of
//! `shared/spec/appliance.md` as JSON over HTTPS ([`api`], [`serve`]), backed by an
//! [`Appliance`] that keeps its state in SQLite ([`store`]), opens registration files with
//! its own OpenPGP key, and deploys virtual servers for real ([`deploy`]): the tag resolved
//! through Notary with the root pinned to the registration, the image pulled by digest and
//! verified, unpacked, and run under runc by the [`runtime`].
//!
//! ```text
//! hpvs (CLI) / hpvs-api ──HTTPS + bearer token──> api ──> Appliance ──> store (SQLite)
//!                                                              └──> deploy: notary-client
//!                                                                   -> oci-push -> runtime (runc)
//! ```
//!
//! # Main types
//!
//! - [`Appliance`]: every call of the API, independent of HTTP; [`Appliance::reconcile`]
//!   after a restart.
//! - [`api::router`]: the axum routes; [`serve::serve`]: HTTPS in front of them;
//!   [`api::openapi_document`]: the OpenAPI document, from the handlers' wire types.
//! - [`ApplianceError`]: one error type; [`ApplianceError::code`] is its API error code.
//! - [`runtime::Runtime`]: creates, starts, stops, inspects and deletes virtual servers as
//!   runc containers, each in its own PID, mount, IPC, UTS, cgroup and network namespaces,
//!   with loop-mounted quota filesystems; finds and removes what a crash left behind
//!   ([`runtime::Runtime::orphans`]).
//! - [`runtime::ImageConfig`], [`runtime::ServerSettings`], [`runtime::QuotaMount`]: what a
//!   server runs and with what; [`runtime::bundle::generate`] turns them into runc's
//!   `config.json` ([`runtime::spec::Spec`]) without touching the host.
//! - [`runtime::PortForwarder`]: a host loopback port relayed into a server's namespace.
//! - [`runtime::RuntimeError`]: one error type; variants are named after the failed check.
//!
//! # Example
//!
//! Run a server from an unpacked root filesystem, reach its port from the host, remove it
//! (needs root and `runc`; `scripts/install-peers.sh` installs it):
//!
//! ```no_run
//! use std::path::Path;
//! use std::time::Duration;
//! use hpvs_sim::runtime::{Filesystem, ImageConfig, QuotaMount, Runtime, ServerSettings};
//!
//! # async fn demo() -> Result<(), hpvs_sim::runtime::RuntimeError> {
//! let runtime = Runtime::open(Path::new("/var/lib/hpvs-sim"))?;
//! let image = ImageConfig::from_document(br#"{"config":{"Cmd":["httpd","-f","-p","8080"]}}"#)?;
//! let settings = ServerSettings {
//!     name: "web".parse()?,
//!     env: vec![("GREETING".into(), "hello".into())],
//!     cpus: 1,
//!     ram_mib: 256,
//!     cap_add: vec![],
//!     mounts: vec![QuotaMount {
//!         mount_id: "data".parse()?,
//!         mount: "/data".into(),
//!         filesystem: Filesystem::Ext4,
//!         size: 64 << 20,
//!         reset_root: true,
//!     }],
//! };
//! runtime.create(Path::new("/var/lib/hpvs-sim/rootfs/web"), &image, &settings)?;
//! runtime.start(&settings.name)?;
//! let forwarder = runtime
//!     .forward(&settings.name, "127.0.0.1:30000".parse().unwrap(), 8080)
//!     .await?;
//! assert_eq!(forwarder.local_addr().port(), 30000);
//! // ... clients reach the workload at 127.0.0.1:30000 ...
//! runtime.stop(&settings.name, Duration::from_secs(10))?;
//! drop(forwarder);
//! runtime.delete(&settings.name)?;
//! # Ok(())
//! # }
//! ```
//!
//! # What it does not do
//!
//! No seccomp profile and no user namespace (workloads run as the image's user, root by
//! default, like `runc spec` without them); no networking beyond loopback inside each
//! server's namespace, reached through port forwarders. Servers of the built-in repository
//! `SecureDockerBuild` run the Secure Build Server ([`sbs`]) as a task of hpvs-sim, not
//! under runc (their state on host-mounted quota volumes). It needs root (runc, loop mounts,
//! namespaces).
//!
//! # Features
//!
//! None.

pub mod api;
mod appliance;
mod build_servers;
pub mod deploy;
mod error;
mod lifecycle;
mod logs;
mod rootfs;
pub mod runtime;
pub mod sbs;
mod seal;
pub mod serve;
mod state_files;
pub mod store;

pub use appliance::{Appliance, ApplianceOptions};
pub use error::{ApplianceError, Result};
