//! This crate provides every key of the HPVS secure build flow, byte-compatible with the Go
//! `notary` client and Docker's trust directories.
//!
//! - [`keys`]: ECDSA P-256, Ed25519 and RSA keys ([`PrivateKey`], [`PublicKey`]); notary key
//!   JSON, PEM public keys and certificates ([`PublicKey::from_pem`]) and key IDs ([`KeyId`]),
//!   including the *canonical* ID of certificate keys; signing and
//!   verification with notary's methods ([`SignatureMethod`]: raw `r||s` ECDSA, RSA-PSS with a
//!   32-byte salt, RSA PKCS#1 v1.5, Ed25519).
//! - [`x509`]: the self-signed DCT root certificate with notary's exact profile, and the checks a
//!   client makes before trusting one (CN = GUN or `prefix*`, validity, no SHA-1, RSA >= 2048).
//! - [`keystore`]: a key store over a notary/Docker trust dir (`<dir>/private/<id>.key`), with
//!   atomic writes and 0700/0600 permissions; [`keyfile`] is its wire codec: encrypted PKCS#8 PEM
//!   with `gun:`/`role:` headers exactly as notary writes it, and the pre-0.6 formats it reads.
//! - [`passphrase`]: where passphrases come from: notary's and docker's variables, a fixed
//!   value, or a callback (for prompts), chained in the CLIs' order by
//!   [`passphrase::Chain::cli_environment`]; [`passphrase::Passphrase`] never prints its secret.
//! - [`mtls`]: mutual-TLS material for the Secure Build Server (CA, server and client
//!   certificates, and the lab's one-line `CLIENT_CRT`/`CLIENT_CA`/`SERVER_CRT`/`SERVER_KEY`).
//! - [`ssh`]: the build's GitHub deploy key as an OpenSSH key pair ([`ssh::DeployKey`], Ed25519
//!   or RSA 4096), read and written exactly as `ssh-keygen -N ''` does, with its `.pub` line and
//!   `SHA256:` fingerprint.
//! - [`fsutil`]: [`fsutil::write_atomic`], the atomic write with an exact mode that the key
//!   store and the mTLS files use, for callers' own key files ([`fsutil::Existing`] says
//!   whether a file may be replaced).
//!
//! It does not talk to any server: publishing metadata is `notary-client`'s job, and OpenPGP
//! keys live in `ssc-register`.
//!
//! # Example
//!
//! Create a repository's root and targets keys in a trust dir, the way `notary init` does, and
//! read one back:
//!
//! ```
//! use keymgmt::keystore::KeyStore;
//! use keymgmt::passphrase::{Fixed, Passphrase};
//! use keymgmt::{PrivateKey, x509};
//!
//! let trust_dir = tempfile::tempdir()?;
//! let store = KeyStore::open(trust_dir.path())?;
//! let passphrase = Fixed(Passphrase::new("correct horse battery staple"));
//! let gun = "registry.example.com/team/app";
//!
//! let root = PrivateKey::generate_ecdsa();
//! let root_id = store.add(&root, "root", None, &passphrase)?;
//! let root_cert = x509::generate_root_certificate(gun, &root)?; // goes into root.json
//! assert_eq!(root_cert.canonical_key_id(), root_id);
//!
//! let targets = PrivateKey::generate_ecdsa();
//! let targets_id = store.add(&targets, "targets", Some(gun), &passphrase)?;
//!
//! let loaded = store.get(&targets_id, &passphrase)?;
//! assert_eq!((loaded.role.as_str(), loaded.gun.as_deref()), ("targets", Some(gun)));
//! let signature = loaded.key.sign(b"targets.json bytes");
//! targets.public_key().verify(signature.method, b"targets.json bytes", &signature.bytes)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors
//!
//! One [`Error`] enum, `#[non_exhaustive]`, whose variants name the failed check and carry the
//! key ID, role, GUN, path or times involved; [`Error::blame`] says whose fault it is
//! ([`Blame`]: bad input, caller misuse or the environment). A failed operation leaves the key
//! store as it was.

pub mod error;
pub mod fsutil;
pub mod keyfile;
pub mod keys;
pub mod keystore;
pub mod mtls;
pub mod passphrase;
pub mod ssh;
pub mod x509;

pub use error::{Blame, Error, Result};
pub use keys::{KeyAlgorithm, KeyId, PrivateKey, PublicKey, Signature, SignatureMethod};
