//! Mutual TLS for the SBS listener: rustls with the ring provider named explicitly (no
//! process-wide provider), the server identity of the env, and a client certificate verifier
//! that accepts the lab's X.509 **v1** client certificates.
//!
//! The lab makes its client certificate with `openssl x509 -req` and no extensions, which is
//! X.509 v1; rustls's WebPKI verifier refuses every v1 certificate. [`ClientCaVerifier`]
//! checks what matters for one CA that issues client certificates directly:
//!
//! 1. the certificate parses as X.509 (v1 or v3) with no trailing data;
//! 2. its issuer is `CLIENT_CA`'s subject, byte for byte;
//! 3. its signature verifies with `CLIENT_CA`'s public key (x509-parser over ring);
//! 4. now is inside its validity period, and inside the CA's;
//! 5. for v3: not a CA certificate, an extended key usage (if any) allows client
//!    authentication, a key usage (if any) allows digital signatures, and no critical
//!    extension it does not understand.
//!
//! Intermediates the client sends are ignored: only `CLIENT_CA` issues. Any certificate
//! `CLIENT_CA` issued is accepted; `CLIENT_CRT` is not pinned ([`super::identity`]).
//!
//! **TLS 1.3 only.** The handshake signature is checked against the client certificate's
//! public key with [`rustls::crypto::verify_tls13_signature_with_raw_key`]; rustls 0.23 has
//! no TLS 1.2 equivalent that does not parse the certificate with WebPKI (which refuses v1),
//! so the SBS listener offers TLS 1.3 alone. `build.py` (python-requests over OpenSSL 1.1.1
//! or later) and curl speak it.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer as _;
use x509_parser::time::ASN1Time;
use x509_parser::x509::X509Version;

use super::error::SbsError;
use super::identity::SbsIdentity;

/// The rustls configuration of the SBS listener: TLS 1.3, the env's server identity, client
/// certificates required and checked by [`ClientCaVerifier`].
pub fn server_config(identity: &SbsIdentity) -> Result<Arc<rustls::ServerConfig>, SbsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = ClientCaVerifier::with_provider(&identity.client_ca, Arc::clone(&provider))?;
    let signing = provider
        .key_provider
        .load_private_key(identity.server_key.clone_key())
        .map_err(|e| tls_error("server key", &e))?;
    let certified = Arc::new(CertifiedKey::new(identity.server_chain.clone(), signing));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_error("protocol versions", &e))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(Arc::new(OneCert(certified)));
    Ok(Arc::new(config))
}

fn tls_error(what: &str, error: &rustls::Error) -> SbsError {
    SbsError::Tls {
        reason: format!("{what}: {error}"),
    }
}

/// Always answers with the one certificate: no WebPKI parse of the server's own
/// certificate, so a v1 server certificate works as well as the lab's v3 one.
#[derive(Debug)]
struct OneCert(Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for OneCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// Accepts client certificates (v1 or v3) that one CA issued directly; see the module doc
/// for the checks.
#[derive(Debug)]
pub struct ClientCaVerifier {
    ca_der: Vec<u8>,
    hints: Vec<DistinguishedName>,
    provider: Arc<CryptoProvider>,
}

impl ClientCaVerifier {
    /// A verifier for certificates `ca` issued, with the ring provider.
    pub fn new(ca: &CertificateDer<'_>) -> Result<Self, SbsError> {
        Self::with_provider(ca, Arc::new(rustls::crypto::ring::default_provider()))
    }

    fn with_provider(
        ca: &CertificateDer<'_>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, SbsError> {
        let (rest, parsed) = X509Certificate::from_der(ca).map_err(|e| SbsError::EnvNotPem {
            name: super::identity::CLIENT_CA,
            expected: "certificate",
            reason: format!("not X.509: {e}"),
        })?;
        if !rest.is_empty() {
            return Err(SbsError::EnvNotPem {
                name: super::identity::CLIENT_CA,
                expected: "certificate",
                reason: "trailing data after the certificate".to_owned(),
            });
        }
        let hints = vec![DistinguishedName::from(parsed.subject().as_raw().to_vec())];
        Ok(Self {
            ca_der: ca.as_ref().to_vec(),
            hints,
            provider,
        })
    }

    fn ca(&self) -> Result<X509Certificate<'_>, rustls::Error> {
        X509Certificate::from_der(&self.ca_der)
            .map(|(_, ca)| ca)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))
    }
}

/// The certificate, parsed whole: trailing bytes are an encoding error.
fn parse(der: &[u8]) -> Result<X509Certificate<'_>, rustls::Error> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        _ => Err(rustls::Error::InvalidCertificate(
            CertificateError::BadEncoding,
        )),
    }
}

/// Step 4: `now` inside the validity period of `cert`.
fn check_validity(cert: &X509Certificate<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let time = ASN1Time::from_timestamp(seconds)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let validity = cert.validity();
    let unix = |t: &ASN1Time| {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(t.timestamp()).unwrap_or(0),
        ))
    };
    if time < validity.not_before {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYetContext {
                time: now,
                not_before: unix(&validity.not_before),
            },
        ));
    }
    if time > validity.not_after {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::ExpiredContext {
                time: now,
                not_after: unix(&validity.not_after),
            },
        ));
    }
    Ok(())
}

/// Step 5: the v3 extensions of a client certificate.
fn check_extensions(cert: &X509Certificate<'_>) -> Result<(), rustls::Error> {
    if cert.version() == X509Version::V1 {
        return Ok(());
    }
    let bad = || rustls::Error::InvalidCertificate(CertificateError::BadEncoding);
    let purpose = || rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose);
    if let Some(constraints) = cert.basic_constraints().map_err(|_| bad())?
        && constraints.value.ca
    {
        return Err(purpose());
    }
    if let Some(usage) = cert.extended_key_usage().map_err(|_| bad())?
        && !usage.value.any
        && !usage.value.client_auth
    {
        return Err(purpose());
    }
    if let Some(usage) = cert.key_usage().map_err(|_| bad())?
        && !usage.value.digital_signature()
    {
        return Err(purpose());
    }
    for extension in cert.extensions() {
        let understood = !matches!(
            extension.parsed_extension(),
            ParsedExtension::UnsupportedExtension { .. } | ParsedExtension::ParseError { .. }
        );
        if extension.critical && !understood {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnhandledCriticalExtension,
            ));
        }
    }
    Ok(())
}

impl ClientCertVerifier for ClientCaVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Step 1.
        let cert = parse(end_entity)?;
        let ca = self.ca()?;
        // Step 2.
        if cert.issuer().as_raw() != ca.subject().as_raw() {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        }
        // Step 3.
        cert.verify_signature(Some(ca.public_key()))
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadSignature))?;
        // Step 4.
        check_validity(&cert, now)?;
        check_validity(&ca, now)?;
        // Step 5.
        check_extensions(&cert)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The listener offers TLS 1.3 only (see the module doc).
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOfferedOrEnabled,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let cert = parse(cert)?;
        let spki = SubjectPublicKeyInfoDer::from(cert.public_key().raw);
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &spki,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
