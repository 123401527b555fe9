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
//!   one platform's image only; [`Client::resolve`] gives a reference's digest.
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
//! authentication and TLS are written here on `reqwest` with rustls and the ring provider.
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
//! # Features
//!
//! - `zstd` (default): zstd-compressed layers, built ([`Compression::Zstd`]) and unpacked.

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
pub use error::Error;
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
