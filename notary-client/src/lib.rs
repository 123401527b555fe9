//! Docker Content Trust (Notary v1) client: metadata, canonical JSON, publish and verify.
//!
//! **Not implemented yet.** This crate is reserved in the workspace layout so that the crate map
//! is stable; its API arrives with issue 3. Nothing here works today.
