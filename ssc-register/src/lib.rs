//! Repository registration files (OpenPGP) and HPVS contracts.
//!
//! **Not implemented yet.** This crate is reserved in the workspace layout so that the crate map
//! is stable; its API arrives with issue 5. Nothing here works today.
