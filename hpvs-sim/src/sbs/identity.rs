//! The server's TLS identity from its env, as the lab sets it: `SERVER_CRT`, `SERVER_KEY`,
//! `CLIENT_CA`, `CLIENT_CRT`, each the standard base64 of PEM text on one line.
//!
//! `CLIENT_CRT` is read and checked to be a certificate, but not pinned: older SBS versions
//! accepted only that certificate, the spec's version accepts any certificate `CLIENT_CA`
//! issued, and so does this server ([`super::tls`]).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::FromDer as _;
use zeroize::Zeroizing;

use super::error::SbsError;

/// The server certificate chain (PEM), base64.
pub const SERVER_CRT: &str = "SERVER_CRT";
/// The server's private key (PEM), base64.
pub const SERVER_KEY: &str = "SERVER_KEY";
/// The CA that issues client certificates (PEM), base64.
pub const CLIENT_CA: &str = "CLIENT_CA";
/// The client certificate (PEM), base64; documented, not pinned.
pub const CLIENT_CRT: &str = "CLIENT_CRT";

/// The server's identity and the CA it trusts for clients.
pub struct SbsIdentity {
    /// The server's certificate chain, its own first.
    pub server_chain: Vec<CertificateDer<'static>>,
    /// The server's private key.
    pub server_key: PrivateKeyDer<'static>,
    /// The CA whose certificates clients must present.
    pub client_ca: CertificateDer<'static>,
    /// The client certificate the env names (kept for the record; not pinned).
    pub client_crt: CertificateDer<'static>,
}

impl fmt::Debug for SbsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SbsIdentity")
            .field("server_chain", &self.server_chain.len())
            .field("server_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl SbsIdentity {
    /// The identity in a server's env map; each error names the variable at fault.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Self, SbsError> {
        let server_chain = certificates(SERVER_CRT, &decoded(env, SERVER_CRT)?)?;
        let key_pem = decoded(env, SERVER_KEY)?;
        let server_key =
            PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| SbsError::EnvNotPem {
                name: SERVER_KEY,
                expected: "private key",
                reason: e.to_string(),
            })?;
        let client_ca = single_certificate(CLIENT_CA, &decoded(env, CLIENT_CA)?)?;
        let client_crt = single_certificate(CLIENT_CRT, &decoded(env, CLIENT_CRT)?)?;
        let identity = Self {
            server_chain,
            server_key,
            client_ca,
            client_crt,
        };
        identity.check_key_matches()?;
        Ok(identity)
    }

    /// Compares the public key of `SERVER_KEY` with the one `SERVER_CRT` certifies.
    fn check_key_matches(&self) -> Result<(), SbsError> {
        let provider = rustls::crypto::ring::default_provider();
        let signing = provider
            .key_provider
            .load_private_key(self.server_key.clone_key())
            .map_err(|e| SbsError::EnvNotPem {
                name: SERVER_KEY,
                expected: "private key",
                reason: format!("unusable: {e}"),
            })?;
        let Some(key_spki) = signing.public_key() else {
            return Err(SbsError::KeyMismatch {
                reason: "the key's public half cannot be computed".to_owned(),
            });
        };
        let Some(leaf) = self.server_chain.first() else {
            return Err(SbsError::EnvNotPem {
                name: SERVER_CRT,
                expected: "certificate",
                reason: "no certificate".to_owned(),
            });
        };
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf).map_err(|e| {
            SbsError::EnvNotPem {
                name: SERVER_CRT,
                expected: "certificate",
                reason: format!("not X.509: {e}"),
            }
        })?;
        if cert.public_key().raw != key_spki.as_ref() {
            return Err(SbsError::KeyMismatch {
                reason: format!(
                    "the certificate of {} holds another public key",
                    cert.subject()
                ),
            });
        }
        Ok(())
    }
}

/// The decoded PEM text of `name`.
fn decoded(
    env: &BTreeMap<String, String>,
    name: &'static str,
) -> Result<Zeroizing<Vec<u8>>, SbsError> {
    let value = env.get(name).ok_or(SbsError::EnvMissing { name })?;
    let value = value.trim();
    if value.is_empty() {
        return Err(SbsError::EnvMissing { name });
    }
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .map(Zeroizing::new)
        .map_err(|e| SbsError::EnvNotBase64 {
            name,
            reason: e.to_string(),
        })
}

fn certificates(name: &'static str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, SbsError> {
    let not_pem = |reason: String| SbsError::EnvNotPem {
        name,
        expected: "certificate",
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| not_pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(not_pem("no CERTIFICATE block".to_owned()));
    }
    for cert in &certs {
        match x509_parser::certificate::X509Certificate::from_der(cert) {
            Ok(([], _)) => {}
            Ok(_) => return Err(not_pem("trailing data after the certificate".to_owned())),
            Err(e) => return Err(not_pem(format!("not X.509: {e}"))),
        }
    }
    Ok(certs)
}

fn single_certificate(name: &'static str, pem: &[u8]) -> Result<CertificateDer<'static>, SbsError> {
    let mut certs = certificates(name, pem)?;
    if certs.len() != 1 {
        return Err(SbsError::EnvNotPem {
            name,
            expected: "certificate",
            reason: format!("got {} certificates, expected 1", certs.len()),
        });
    }
    Ok(certs.remove(0))
}

/// The value the lab puts in the env for PEM text: standard base64 on one line.
pub fn env_value(pem: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(pem)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[test]
    fn each_error_names_its_variable() {
        let mut env = BTreeMap::new();
        match SbsIdentity::from_env(&env) {
            Err(SbsError::EnvMissing { name }) => assert_eq!(name, SERVER_CRT),
            other => panic!("{other:?}"),
        }
        env.insert(SERVER_CRT.to_owned(), "not base64!".to_owned());
        match SbsIdentity::from_env(&env) {
            Err(SbsError::EnvNotBase64 { name, .. }) => assert_eq!(name, SERVER_CRT),
            other => panic!("{other:?}"),
        }
        env.insert(SERVER_CRT.to_owned(), env_value(b"hello"));
        match SbsIdentity::from_env(&env) {
            Err(SbsError::EnvNotPem { name, expected, .. }) => {
                assert_eq!((name, expected), (SERVER_CRT, "certificate"))
            }
            other => panic!("{other:?}"),
        }
        let junk = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        env.insert(SERVER_CRT.to_owned(), env_value(junk));
        match SbsIdentity::from_env(&env) {
            Err(SbsError::EnvNotPem { name, reason, .. }) => {
                assert_eq!(name, SERVER_CRT);
                assert!(reason.contains("X.509"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
