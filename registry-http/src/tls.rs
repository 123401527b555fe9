//! TLS client configuration with an explicit crypto provider.
//!
//! One rule for custom CAs in every client: **a configured CA replaces the platform's
//! roots**, it does not add to them. A supply-chain tool that is told which CA signs its
//! registry's or notary server's certificate should not also accept every public CA for
//! that connection (notary's `--tlscacert` means exactly this). To trust both, pass a
//! bundle that holds the platform's roots too.
//!
//! The configuration names its provider (ring) instead of installing a process-wide
//! default, so an application that installs another provider is not overridden.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, Secret};

/// Which certificate authorities a client trusts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TrustRoots {
    /// The platform's roots (the default).
    #[default]
    Platform,
    /// Only these CA certificates (PEM, one or more), instead of the platform's.
    CustomCa(Vec<u8>),
    /// None at all: for a client that only speaks plain HTTP, which then skips loading the
    /// platform's roots (tens of milliseconds); any HTTPS connection it tries fails.
    Nothing,
}

/// A client's TLS settings.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// The CAs to trust.
    pub roots: TrustRoots,
    /// Client certificate chain and private key (PEM, concatenated) for mutual TLS.
    pub client_identity_pem: Option<Secret>,
}

impl TlsOptions {
    /// A rustls configuration for these options with ring as its provider.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, Error> {
        self.client_config_with(Arc::new(rustls::crypto::ring::default_provider()))
    }

    /// A rustls configuration for these options with `provider`.
    pub fn client_config_with(
        &self,
        provider: Arc<CryptoProvider>,
    ) -> Result<rustls::ClientConfig, Error> {
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("protocol versions", &e))?;
        let builder = match &self.roots {
            TrustRoots::Platform => {
                let verifier = rustls_platform_verifier::Verifier::new(provider)
                    .map_err(|e| tls_error("platform roots", &e))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
            }
            TrustRoots::CustomCa(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in certificates(pem, "CA certificate")? {
                    roots
                        .add(cert)
                        .map_err(|e| tls_error("CA certificate", &e))?;
                }
                builder.with_root_certificates(roots)
            }
            TrustRoots::Nothing => builder.with_root_certificates(rustls::RootCertStore::empty()),
        };
        match &self.client_identity_pem {
            None => Ok(builder.with_no_client_auth()),
            Some(pem) => {
                let pem = pem.expose().as_bytes();
                let chain = certificates(pem, "client identity")?;
                let key = PrivateKeyDer::from_pem_slice(pem)
                    .map_err(|e| tls_error("client identity", &e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| tls_error("client identity", &e))
            }
        }
    }

    /// A reqwest client builder that uses [`TlsOptions::client_config`].
    pub fn reqwest_builder(&self) -> Result<reqwest::ClientBuilder, Error> {
        Ok(reqwest::Client::builder().tls_backend_preconfigured(self.client_config()?))
    }
}

/// The certificates of `pem`; at least one.
fn certificates(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(what, &e))?;
    if certs.is_empty() {
        return Err(Error::Tls {
            what,
            reason: "no PEM certificate found".to_owned(),
        });
    }
    Ok(certs)
}

fn tls_error(what: &'static str, error: &dyn std::error::Error) -> Error {
    Error::Tls {
        what,
        reason: crate::error_chain(error),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[test]
    fn unusable_material_is_refused_with_its_name() {
        let options = TlsOptions {
            roots: TrustRoots::CustomCa(b"not a certificate".to_vec()),
            client_identity_pem: None,
        };
        match options.client_config() {
            Err(Error::Tls { what, .. }) => assert_eq!(what, "CA certificate"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        let options = TlsOptions {
            roots: TrustRoots::Nothing,
            client_identity_pem: Some(Secret::new("-----BEGIN PRIVATE KEY-----\n")),
        };
        match options.client_config() {
            Err(Error::Tls { what, .. }) => assert_eq!(what, "client identity"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn plain_http_clients_need_no_roots() {
        let options = TlsOptions {
            roots: TrustRoots::Nothing,
            client_identity_pem: None,
        };
        assert!(options.reqwest_builder().unwrap().build().is_ok());
    }
}
