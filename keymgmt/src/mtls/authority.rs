//! [`CertificateAuthority`] and the certificates it issues.

use std::fmt;

use rand::RngCore as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SanType,
    SerialNumber,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{BACKDATE, CA_VALIDITY, LEAF_VALIDITY, SubjectAltName};
use crate::error::{Error, Result};

/// A certificate authority that issues the server and client certificates.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    certificate_pem: String,
    private_key_pem: Zeroizing<String>,
    common_name: String,
    not_after: OffsetDateTime,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("common_name", &self.common_name)
            .field("not_after", &self.not_after)
            .field("private_key_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Generates a self-signed CA: P-256 key, ECDSA-SHA256, `CA:TRUE` (path length 0),
    /// `keyCertSign` and `cRLSign`, valid for about ten years from now, random serial.
    pub fn generate(common_name: &str) -> Result<CertificateAuthority> {
        let what = format!("CA {common_name:?}");
        let key = generate_key(&what)?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_only(common_name);
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        params.serial_number = Some(random_serial());
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let certificate = params.self_signed(&key).map_err(generation(&what))?;
        let private_key_pem = Zeroizing::new(key.serialize_pem());
        let not_after = params.not_after;
        tracing::debug!(common_name, "generated mTLS CA");
        Ok(CertificateAuthority {
            issuer: Issuer::new(params, key),
            certificate_pem: certificate.pem(),
            private_key_pem,
            common_name: common_name.to_owned(),
            not_after,
        })
    }

    /// Loads a CA from its certificate and PKCS#8 private key (PEM), to issue more certificates.
    ///
    /// The certificate must be a CA (`CA:TRUE`) and the key must belong to it. The issued
    /// certificates carry the CA's subject as issuer and its subject key identifier as
    /// authority key identifier.
    pub fn from_pem(certificate_pem: &str, private_key_pem: &str) -> Result<CertificateAuthority> {
        let der = pem::parse(certificate_pem).map_err(|e| Error::MalformedCertificate {
            reason: format!("CA certificate is not PEM: {e}"),
        })?;
        if der.tag() != "CERTIFICATE" {
            return Err(Error::MalformedCertificate {
                reason: format!("expected a PEM CERTIFICATE block, found {}", der.tag()),
            });
        }
        let (_, cert) = x509_parser::parse_x509_certificate(der.contents()).map_err(|e| {
            Error::MalformedCertificate {
                reason: format!("CA certificate: {e}"),
            }
        })?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_owned();
        let what = format!("CA {common_name:?}");
        let is_ca = cert
            .basic_constraints()
            .map_err(|e| Error::MalformedCertificate {
                reason: format!("basic constraints: {e}"),
            })?
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(Error::NotCertificateAuthority { common_name });
        }
        let key = KeyPair::from_pem(private_key_pem).map_err(|e| Error::CorruptPrivateKey {
            key_id: None,
            path: None,
            reason: format!("CA private key: {e}"),
        })?;
        if key.public_key_raw() != cert.public_key().subject_public_key.data.as_ref() {
            return Err(Error::CaKeyMismatch { common_name });
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(cert.subject(), &what)?;
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        // Keep the CA's own subject key identifier, so that the authority key identifier of
        // issued certificates matches it whatever method computed it.
        for ext in cert.extensions() {
            if let x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(ski) =
                ext.parsed_extension()
            {
                params.key_identifier_method = KeyIdMethod::PreSpecified(ski.0.to_vec());
            }
        }
        let not_after = cert.validity().not_after.to_datetime();
        Ok(CertificateAuthority {
            issuer: Issuer::new(params, key),
            certificate_pem: certificate_pem.to_owned(),
            private_key_pem: Zeroizing::new(private_key_pem.to_owned()),
            common_name,
            not_after,
        })
    }

    /// Issues a server certificate (`serverAuth`) for `common_name` with the given subject
    /// alternative names (IP addresses and DNS names; TLS clients check these, not the CN).
    pub fn issue_server(
        &self,
        common_name: &str,
        subject_alt_names: &[SubjectAltName],
    ) -> Result<IssuedCertificate> {
        let what = format!("server {common_name:?}");
        let sans = subject_alt_names
            .iter()
            .map(SubjectAltName::to_rcgen)
            .collect::<Result<Vec<_>>>()?;
        self.issue(
            &what,
            common_name,
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// Issues a client certificate (`clientAuth`) for `common_name`.
    pub fn issue_client(&self, common_name: &str) -> Result<IssuedCertificate> {
        let what = format!("client {common_name:?}");
        self.issue(
            &what,
            common_name,
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn issue(
        &self,
        what: &str,
        common_name: &str,
        subject_alt_names: Vec<SanType>,
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<IssuedCertificate> {
        let key = generate_key(what)?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_only(common_name);
        params.subject_alt_names = subject_alt_names;
        params.not_before = now - BACKDATE;
        params.not_after = (now + LEAF_VALIDITY).min(self.not_after);
        params.serial_number = Some(random_serial());
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let certificate = params
            .signed_by(&key, &self.issuer)
            .map_err(generation(what))?;
        tracing::debug!(what, ca = %self.common_name, "issued mTLS certificate");
        Ok(IssuedCertificate {
            certificate_pem: certificate.pem(),
            private_key_pem: Zeroizing::new(key.serialize_pem()),
            common_name: common_name.to_owned(),
        })
    }

    /// The CA certificate (PEM).
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The CA private key (PKCS#8 PEM, `PRIVATE KEY`).
    pub fn private_key_pem(&self) -> &Zeroizing<String> {
        &self.private_key_pem
    }

    /// The CA's common name.
    pub fn common_name(&self) -> &str {
        &self.common_name
    }
}

/// A certificate issued by a [`CertificateAuthority`], with its private key.
#[derive(Clone)]
pub struct IssuedCertificate {
    certificate_pem: String,
    private_key_pem: Zeroizing<String>,
    common_name: String,
}

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("common_name", &self.common_name)
            .field("certificate_pem", &self.certificate_pem)
            .field("private_key_pem", &"[redacted]")
            .finish()
    }
}

impl IssuedCertificate {
    /// The certificate (PEM).
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The private key (PKCS#8 PEM, `PRIVATE KEY`).
    pub fn private_key_pem(&self) -> &Zeroizing<String> {
        &self.private_key_pem
    }

    /// The subject common name.
    pub fn common_name(&self) -> &str {
        &self.common_name
    }
}

fn generate_key(what: &str) -> Result<KeyPair> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(generation(what))
}

fn generation(what: &str) -> impl FnOnce(rcgen::Error) -> Error + '_ {
    move |e| Error::CertificateGeneration {
        what: what.to_owned(),
        reason: e.to_string(),
    }
}

fn common_name_only(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// A positive, non-zero 128-bit serial number from the OS random generator.
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

/// Rebuilds a parsed subject as an rcgen name, attribute by attribute and in order.
fn distinguished_name(
    subject: &x509_parser::x509::X509Name<'_>,
    what: &str,
) -> Result<DistinguishedName> {
    use x509_parser::oid_registry as oids;
    let mut name = DistinguishedName::new();
    for attr in subject.iter_attributes() {
        let oid = attr.attr_type();
        let kind = if *oid == oids::OID_X509_COMMON_NAME {
            DnType::CommonName
        } else if *oid == oids::OID_X509_COUNTRY_NAME {
            DnType::CountryName
        } else if *oid == oids::OID_X509_LOCALITY_NAME {
            DnType::LocalityName
        } else if *oid == oids::OID_X509_STATE_OR_PROVINCE_NAME {
            DnType::StateOrProvinceName
        } else if *oid == oids::OID_X509_ORGANIZATION_NAME {
            DnType::OrganizationName
        } else if *oid == oids::OID_X509_ORGANIZATIONAL_UNIT {
            DnType::OrganizationalUnitName
        } else {
            let arcs = oid
                .iter()
                .map(|arcs| arcs.collect::<Vec<u64>>())
                .ok_or_else(|| Error::CertificateGeneration {
                    what: what.to_owned(),
                    reason: format!("subject attribute {oid} has an OID arc too large to copy"),
                })?;
            DnType::CustomDnType(arcs)
        };
        let text = attr.as_str().map_err(|e| Error::CertificateGeneration {
            what: what.to_owned(),
            reason: format!(
                "subject attribute {oid} is not a string ({e}): use a CA with a text subject"
            ),
        })?;
        let value =
            if attr.attr_value().tag() == x509_parser::der_parser::asn1_rs::Tag::PrintableString {
                match rcgen::string::PrintableString::try_from(text) {
                    Ok(printable) => DnValue::PrintableString(printable),
                    Err(_) => DnValue::Utf8String(text.to_owned()),
                }
            } else {
                DnValue::Utf8String(text.to_owned())
            };
        name.push(kind, value);
    }
    Ok(name)
}
