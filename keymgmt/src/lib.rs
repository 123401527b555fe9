//! This crate provides every key of the HPVS secure build flow.
//!
//! (crate documentation is completed with the modules below)

pub mod error;
pub mod keyfile;
pub mod keys;
pub mod keystore;
pub mod mtls;
pub mod passphrase;
pub mod x509;

pub use error::{Error, Result};
pub use keys::{KeyAlgorithm, KeyId, PrivateKey, PublicKey, Signature, SignatureMethod};
