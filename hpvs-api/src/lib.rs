//! Typed clients for the HPVS appliance lifecycle API and the Secure Build Server API.
//!
//! **Not implemented yet.** This crate is reserved in the workspace layout so that the crate map
//! is stable; its API arrives with issue for the appliance (see shared/spec/appliance.md). Nothing here works today.
