//! This crate provides HPVS repository registration files and HPCR contracts.
//!
//! - [`registration`]: the cleartext registration ([`Registration`]): repository name,
//!   registry credentials, environment whitelist (the appliance's reserved names always
//!   added, never accepted from the user), the DCT root key it pins ([`RootKey`], from a
//!   notary `root.json` or given explicitly), the vendor's OpenPGP key, `cap_add`, secrets.
//! - [`openpgp`]: OpenPGP keys with rPGP ([`SecretKey`], [`PublicKey`]): RSA 4096 (the lab's
//!   choice) or Ed25519/Curve25519 generation, import of gpg's armored exports with a
//!   passphrase, export that gpg imports.
//! - [`seal`]: [`seal()`](seal::seal) encrypts a registration to the appliance and signs it
//!   with the vendor key, like `gpg --encrypt --sign --armor`; [`open()`](seal::open) decrypts
//!   it as the appliance does, verifies that the vendor named inside signed it (and the vendor
//!   the caller expects, and the registered vendor for an update) and returns the
//!   registration and the signer's fingerprint ([`Opened`]).
//! - [`contract`] and [`basic`]: HPCR contracts: `hyper-protect-basic.<b64 password>.<b64
//!   data>` sections byte-compatible with `openssl pkeyutl` + `openssl enc -aes-256-cbc
//!   -pbkdf2`, `envWorkloadSignature`, `env.signingKey`, the contract YAML ([`Contract`]), and
//!   a `workload` section pinning DCT images ([`Workload`]).
//! - [`attestation`]: decrypting an attestation record and checking its contract checksums
//!   ([`AttestationRecord`]).
//!
//! It does no file or network I/O and prints nothing (it logs with `tracing`); the `regfile`
//! program in `examples` is the command-line front end. It does not evaluate OpenPGP key
//! expiry or revocation, nor web-of-trust: the vendor is identified by the exact key named in
//! the registration (and by the caller).
//!
//! ```text
//! vendor SecretKey ──sign──┐
//! Registration ──json──> seal() ──armored .enc──> open() ──> Opened { registration, signer }
//! appliance PublicKey ─enc─┘                        └── appliance SecretKey decrypts
//! ```
//!
//! # Example
//!
//! ```
//! use ssc_register::{KeyKind, OpenOptions, Registration, RootKey, Secret, SecretKey};
//!
//! let vendor = SecretKey::generate(KeyKind::Ed25519, "Vendor <v@example.com>", Secret::new("pw"))?;
//! let appliance = SecretKey::generate(KeyKind::Ed25519, "Appliance", Secret::default())?;
//! let root = RootKey::new("ab".repeat(32), "cm9vdCBrZXk=")?;
//!
//! let registration = Registration::builder("docker.io/user/app", root)
//!     .env_whitelist(["LOG_LEVEL"])
//!     .build(&vendor.public_key())?;
//! assert!(registration.envs_whitelist.iter().any(|e| e == "RUNQ_ROOTDISK"));
//!
//! let sealed = ssc_register::seal::seal(&registration, &vendor, &appliance.public_key())?;
//! assert!(sealed.starts_with("-----BEGIN PGP MESSAGE-----"));
//!
//! let opened = ssc_register::seal::open(sealed.as_bytes(), &appliance, &OpenOptions::default())?;
//! assert_eq!(opened.registration, registration);
//! assert_eq!(opened.signer_fingerprint, vendor.fingerprint());
//! # Ok::<(), ssc_register::Error>(())
//! ```
//!
//! # Features
//!
//! - `notary` (default): checks DCT root key IDs with `keymgmt` (a `root.json` root key must
//!   hash to its listed ID; an explicit certificate key to the given ID). Without it, IDs are
//!   only checked for shape.
//!
//! # Errors
//!
//! One [`Error`] enum, `#[non_exhaustive]`, whose variants name the failed check: wrong
//! passphrase, not encrypted to this appliance, a corrupt (cut short or damaged) file,
//! unsigned, signed by a key other than the vendor, tampered ciphertext, malformed JSON,
//! missing field, reserved env name, an unsupported key kind (encrypted or not RSA), and so on.

pub mod attestation;
pub mod basic;
pub mod contract;
pub mod error;
pub mod openpgp;
pub mod registration;
pub mod seal;
pub mod secret;

pub use attestation::AttestationRecord;
pub use basic::{RsaRecipient, RsaSecretKey};
pub use contract::{Contract, Workload};
pub use error::{Blame, Error, Result};
pub use openpgp::{KeyKind, PublicKey, SecretKey};
pub use registration::{RESERVED_ENV_NAMES, Registration, RootKey, Secrets};
pub use seal::{OpenOptions, Opened};
pub use secret::Secret;

#[cfg(test)]
mod seal_tests;
