//! Emulator of the HPVS appliance and the Secure Build Server, as real HTTP servers.
//!
//! **Not implemented yet.** This crate is reserved in the workspace layout so that the crate map
//! is stable; its API arrives with issue for the appliance (see shared/spec/appliance.md). Nothing here works today.
