//! This crate provides fast, streaming OCI/Docker registry push and pull, safe unpacking of
//! layers to a root filesystem, and daemonless, reproducible image builds from directory
//! trees or a Dockerfile subset.
//!
//! It returns what Docker Content Trust signs — a manifest's digest and size ([`Pushed`]) —
//! and leaves signing to `notary-client`.
//!
//! # Main types
//!
//! - [`Client`] ([`ClientOptions`]): talks to registries. [`Client::push_layout`] pushes an
//!   image (OCI or Docker schema 2 manifest, OCI index or manifest list) from an OCI image
//!   [`Layout`], preserving the manifest bytes and so its digest; [`Client::pull`] pulls by
//!   tag or digest into a layout (every platform of an index), [`Client::pull_platform`]
//!   one platform's image only; [`Client::push_manifest`] pushes one manifest of a layout
//!   by descriptor (one from [`Layout::select_platform`], say); [`Client::resolve`] gives a
//!   reference's digest.
//! - [`Layout`]: an OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/`),
//!   as skopeo, buildah and crane write it; [`Layout::write_blob`] streams content in,
//!   [`Layout::select_platform`] picks one platform's manifest from an index,
//!   [`Layout::remove_stale_files`] clears what interrupted pulls and writes left. An image
//!   assembled in memory is pushed by writing it into a (temporary) layout first.
//! - [`ImageBuilder`], [`LayerBuilder`]: deterministic image assembly;
//!   [`dockerfile::build`] drives them from a Dockerfile, leaving out what the context's
//!   `.dockerignore` excludes ([`DockerIgnore`]).
//! - [`unpack_image`]: layers to a root filesystem, refusing anything that could escape it;
//!   the manifest, config and every layer are hashed before the first entry is written, and
//!   a failed unpack is undone, leaving the root as it was.
//! - [`Credentials`], [`CredentialSource`], [`DockerConfig`], [`Secret`]: authentication;
//!   [`Progress`]: per-blob progress events (the library never prints).
//! - [`Error`]: one error type; variants are named after the failed check.
//!
//! # Data flow
//!
//! ```text
//! push:  layout blob --read thread (hash once)--> channel --> streamed PUT   (N blobs at once)
//!        HEAD first (skip), mount when asked, retry/restart or resume, manifests last
//! pull:  GET --> channel --> write thread (size+digest check) --> .partial-HEX --> rename
//!        (or delete); a transfer cut mid-blob resumes with `Range`, in this pull or, from
//!        the partial file a failed pull keeps, in the next one (N blobs at once); a blob
//!        already in the layout is hashed, and fetched again when it does not match
//! build: directory tree --> sorted tar (mtime, 0:0, modes) --> gzip/zstd --> blob,
//!        hashing the tar (diff ID) and the compressed bytes (digest) in the same pass
//! ```
//!
//! # What comes from `oci-client`, what does not
//!
//! [`oci-client`](https://docs.rs/oci-client) provides the reference grammar
//! ([`ImageRef::parse`]), the manifest and index spec types used to parse and to write
//! manifests, and the media type constants. Its `Client` is not used: it buffers whole
//! blobs in memory, and has no resumable or parallel uploads, progress or mutual TLS. The
//! blob path (streamed uploads and downloads, retries, resumed uploads and downloads),
//! authentication and TLS are written on `reqwest` and the shared `registry-http` crate
//! (rustls with an explicit ring provider; a custom CA replaces the platform's roots).
//! The image config
//! is written as JSON with sorted maps rather than with `oci-client`'s `ConfigFile`, whose
//! hash sets would make the bytes, and so the digest, vary between runs.
//!
//! # What it does not do
//!
//! It runs nothing: `RUN` and other instructions that need a container runtime are refused.
//! It does not sign (see `notary-client`), handles only sha256 digests, takes only numeric
//! 32-bit numeric IDs in `COPY --chown` (names would need the image's `/etc/passwd`), and
//! when unpacking resolves every symlink inside the root, as a runtime does (`..` stops at
//! `/`). Owners and setuid/setgid bits are kept only when unpacking as root.
//!
//! # Example
//!
//! Build a two-file image into a layout, twice, and get the same digest (no network):
//!
//! ```
//! use oci_push::{ImageBuilder, LayerBuilder, Layout, Platform};
//!
//! let context = tempfile::tempdir()?;
//! std::fs::write(context.path().join("app.sh"), "#!/bin/sh\necho hello\n")?;
//! let build = || -> Result<oci_push::Descriptor, oci_push::Error> {
//!     let out = tempfile::tempdir().expect("temporary directory");
//!     let layout = Layout::create(out.path())?;
//!     let mut image = ImageBuilder::scratch(Platform::parse("linux/s390x")?, 0);
//!     let mut layer = LayerBuilder::new();
//!     layer.add_path(context.path(), "/app")?;
//!     image.add_layer(&layout, &layer, "COPY . /app")?;
//!     image.config.entrypoint = Some(vec!["/app/app.sh".into()]);
//!     image.finish(&layout, "v1")
//! };
//! let first = build()?;
//! assert_eq!(first, build()?);
//! assert!(first.digest.as_str().starts_with("sha256:"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Pushing it is `client.push_layout(&layout, Some("v1"), &ImageRef::parse("host/repo:v1")?,
//! &PushOptions::default()).await?` with a [`Client`]; the tests in `tests/` do this against
//! docker-registry and check the result with skopeo.
//!
//! # Signing a pushed image and verifying a pulled one
//!
//! With the `notary` feature, a [`Pushed`] manifest is the `FileMeta` notary-client signs,
//! and the `TargetInfo` a Docker Content Trust lookup returns is the [`Digest`] to pull:
//!
//! ```no_run
//! # #[cfg(feature = "notary")]
//! async fn sign_then_deploy(
//!     registry: &oci_push::Client,
//!     trust: &notary_client::repository::Repository<'_>,
//!     built: &oci_push::Layout,
//!     deployed: &oci_push::Layout,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//!     use notary_client::metadata::FileMeta;
//!     use oci_push::{Digest, ImageRef, PullOptions, PushOptions};
//!
//!     let target = ImageRef::parse("registry.example/hpvs/app:v1")?;
//!     let pushed = registry
//!         .push_layout(built, Some("v1"), &target, &PushOptions::default())
//!         .await?;
//!     trust.add_target("v1", FileMeta::from(&pushed), &[])?;
//!     trust.publish().await?;
//!
//!     // Deploying: the tag as signed, then exactly that manifest (pull verifies the digest).
//!     let signed = trust.lookup("v1").await?;
//!     let pinned = target.pinned(Digest::try_from(&signed)?);
//!     let pulled = registry
//!         .pull(&pinned, deployed, "v1", &PullOptions::default())
//!         .await?;
//!     assert_eq!(pulled.digest, pushed.digest);
//!     Ok(())
//! }
//! ```
//!
//! # Modules
//!
//! The public API is what this page lists, plus [`dockerfile`] (the Dockerfile parser, its
//! typed [`dockerfile::Instruction`]s, and [`dockerfile::build`]) and [`dockerignore`]
//! (`.dockerignore` patterns). Inside, `spec` parses manifests without I/O, `tree` walks a
//! manifest to its blobs for push and pull alike, `push`/`pull` orchestrate and
//! `upload`/`download` move the blobs, `layer`/`image` assemble images, `layout` reads and
//! writes OCI layouts, `unpack` extracts layers, and `transport`/`auth` hold the HTTP client
//! and credentials (on `registry-http`).
//!
//! # Errors
//!
//! [`Error`] variants are named after the failed check and carry the compared values
//! (`DigestMismatch` holds both [`Digest`]s); [`Error::blame`] answers whose fault it is
//! ([`Blame::Peer`], [`Blame::Input`], [`Blame::Caller`], [`Blame::Environment`]).
//!
//! # Features
//!
//! - `zstd` (default): zstd-compressed layers, built ([`Compression::Zstd`]) and unpacked.
//! - `notary`: `From<&Pushed>` and `From<&Descriptor>` for notary-client's `FileMeta`, and
//!   `TryFrom<&TargetInfo>` for [`Digest`] (notary-client's core only, no network stack).

#![forbid(unsafe_code)]

mod auth;
mod digest;
pub mod dockerfile;
pub mod dockerignore;
mod download;
mod error;
mod image;
mod layer;
mod layout;
#[cfg(feature = "notary")]
mod notary;
mod partial;
mod progress;
mod pull;
mod push;
mod reference;
mod spec;
mod transport;
mod tree;
mod undo;
mod unpack;
mod upload;
mod upload_hash;

pub use auth::{CredentialSource, Credentials, DockerConfig, Secret};
pub use digest::Digest;
pub use dockerignore::DockerIgnore;
pub use error::{Blame, Error};
pub use image::{ImageBuilder, ImageConfig, source_date_epoch};
pub use layer::{Compression, LayerBuilder, Visit};
pub use layout::{Layout, REF_NAME};
pub use progress::{BlobOutcome, NoProgress, Progress};
pub use pull::PullOptions;
pub use push::{PushOptions, Pushed};
pub use reference::{DEFAULT_TAG, ImageRef};
pub use spec::{Descriptor, MAX_DOCUMENT_SIZE, Platform};
pub use transport::{Client, ClientOptions, Security, UploadMode};
pub use unpack::{UnpackOptions, UnpackStats, unpack_image, unpack_layer};

/// Media types of manifests, indexes, configs and layers.
pub mod media_type {
    pub use crate::spec::{
        DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST,
        OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD, OCI_MANIFEST,
    };
}
