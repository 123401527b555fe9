//! Streaming OCI/Docker registry push and pull, and daemonless reproducible image builds.
//!
//! **Not implemented yet.** This crate is reserved in the workspace layout so that the crate map
//! is stable; its API arrives with issue 4. Nothing here works today.
