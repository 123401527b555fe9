//! Mutual-TLS material for the Secure Build Server: a CA, a server certificate and a client
//! certificate, in the PEM files and base64 environment variables the HPVS secure build lab
//! produces with `openssl`.
//!
//! All keys are ECDSA P-256 and all certificates are signed with ECDSA-SHA256:
//!
//! - [`CertificateAuthority`]: a self-signed CA (`CA:TRUE`, `keyCertSign`, `cRLSign`, about
//!   ten years of validity, random serial). It can be loaded back from PEM with
//!   [`CertificateAuthority::from_pem`] to issue more certificates later.
//! - [`IssuedCertificate`]: a server certificate (`serverAuth`, with IP and DNS subject
//!   alternative names) or a client certificate (`clientAuth`).
//! - [`MtlsMaterial`]: CA + server + client in one bundle, written as PEM files with
//!   [`MtlsMaterial::write_pem_files`] or turned into the lab's one-line environment values
//!   (`CLIENT_CRT`, `CLIENT_CA`, `SERVER_CRT`, `SERVER_KEY`) with [`MtlsMaterial::lab_env`].
//!
//! Private keys are held in [`Zeroizing`] strings, are never printed by `Debug`, and are
//! written to disk atomically with mode 0600.
//!
//! # Example
//!
//! ```
//! use base64::Engine as _;
//! use keymgmt::mtls::{MtlsMaterial, SubjectAltName};
//!
//! let material = MtlsMaterial::generate("sbs.example", &SubjectAltName::loopback())?;
//! let env = material.lab_env();
//! for (name, value) in env.vars() {
//!     assert!(!value.contains('\n'), "{name} is one line");
//! }
//! // The values are the base64 of the PEM text.
//! let ca_pem = base64::engine::general_purpose::STANDARD.decode(&env.client_ca).unwrap();
//! assert_eq!(ca_pem, material.ca().certificate_pem().as_bytes());
//! assert!(material.server().private_key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
//! # Ok::<(), keymgmt::Error>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::RngCore as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SanType,
    SerialNumber,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

/// How long a generated CA is valid (about ten years).
const CA_VALIDITY: Duration = Duration::days(3650);
/// How long an issued server or client certificate is valid (about two years, capped at the
/// CA's end of validity).
const LEAF_VALIDITY: Duration = Duration::days(825);
/// How far back `notBefore` is set, to tolerate clock skew between peers.
const BACKDATE: Duration = Duration::hours(1);

/// A subject alternative name of a server certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubjectAltName {
    /// An IP address (IPv4 or IPv6), e.g. `127.0.0.1` or `::1`.
    Ip(IpAddr),
    /// A DNS name, e.g. `localhost` or `sbs.example.com`.
    Dns(String),
}

impl SubjectAltName {
    /// The names a server on loopback answers to: `127.0.0.1`, `::1` and `localhost`.
    pub fn loopback() -> Vec<SubjectAltName> {
        vec![
            SubjectAltName::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SubjectAltName::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            SubjectAltName::Dns("localhost".to_owned()),
        ]
    }

    /// Parses an IP address, or else takes the text as a DNS name.
    pub fn parse(text: &str) -> SubjectAltName {
        match text.parse::<IpAddr>() {
            Ok(ip) => SubjectAltName::Ip(ip),
            Err(_) => SubjectAltName::Dns(text.to_owned()),
        }
    }

    fn to_rcgen(&self, what: &str) -> Result<SanType> {
        match self {
            SubjectAltName::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            SubjectAltName::Dns(name) => {
                let ia5 = name
                    .as_str()
                    .try_into()
                    .map_err(|e| Error::CertificateGeneration {
                        what: what.to_owned(),
                        reason: format!(
                            "DNS name {name:?} is not ASCII ({e}): use its punycode form"
                        ),
                    })?;
                Ok(SanType::DnsName(ia5))
            }
        }
    }
}

impl From<IpAddr> for SubjectAltName {
    fn from(ip: IpAddr) -> Self {
        SubjectAltName::Ip(ip)
    }
}

impl fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Ip(ip) => write!(f, "IP:{ip}"),
            SubjectAltName::Dns(name) => write!(f, "DNS:{name}"),
        }
    }
}

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
            return Err(Error::CertificateGeneration {
                what,
                reason: "the certificate is not a CA (no basicConstraints CA:TRUE): load a CA certificate".to_owned(),
            });
        }
        let key = KeyPair::from_pem(private_key_pem).map_err(|e| Error::CorruptPrivateKey {
            key_id: None,
            path: None,
            reason: format!("CA private key: {e}"),
        })?;
        if key.public_key_raw() != cert.public_key().subject_public_key.data.as_ref() {
            return Err(Error::CertificateGeneration {
                what,
                reason:
                    "the private key does not belong to the CA certificate: pass the matching key"
                        .to_owned(),
            });
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
            .map(|san| san.to_rcgen(&what))
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

/// A CA with one server and one client certificate: everything both ends of a mutual-TLS
/// connection need.
#[derive(Debug)]
pub struct MtlsMaterial {
    ca: CertificateAuthority,
    server: IssuedCertificate,
    client: IssuedCertificate,
}

/// Where [`MtlsMaterial::write_pem_files`] put each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtlsPaths {
    /// `ca.pem`: the CA certificate.
    pub ca_cert: PathBuf,
    /// `server.pem`: the server certificate.
    pub server_cert: PathBuf,
    /// `server-key.pem`: the server private key (mode 0600).
    pub server_key: PathBuf,
    /// `client.pem`: the client certificate.
    pub client_cert: PathBuf,
    /// `client-key.pem`: the client private key (mode 0600).
    pub client_key: PathBuf,
}

/// The one-line forms (base64 of the PEM text, standard alphabet, no newlines) that the lab
/// passes to the Secure Build Server and its client as environment variables.
#[derive(Clone)]
pub struct LabEnv {
    /// `CLIENT_CRT`: the client certificate.
    pub client_crt: String,
    /// `CLIENT_CA`: the CA certificate that verifies client certificates.
    pub client_ca: String,
    /// `SERVER_CRT`: the server certificate.
    pub server_crt: String,
    /// `SERVER_KEY`: the server private key.
    pub server_key: Zeroizing<String>,
}

impl fmt::Debug for LabEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabEnv")
            .field("client_crt", &self.client_crt)
            .field("client_ca", &self.client_ca)
            .field("server_crt", &self.server_crt)
            .field("server_key", &"[redacted]")
            .finish()
    }
}

impl LabEnv {
    /// The variables as `(name, value)` pairs: `CLIENT_CRT`, `CLIENT_CA`, `SERVER_CRT`,
    /// `SERVER_KEY`, in that order.
    pub fn vars(&self) -> [(&'static str, &str); 4] {
        [
            ("CLIENT_CRT", self.client_crt.as_str()),
            ("CLIENT_CA", self.client_ca.as_str()),
            ("SERVER_CRT", self.server_crt.as_str()),
            ("SERVER_KEY", self.server_key.as_str()),
        ]
    }
}

impl MtlsMaterial {
    /// Generates a CA named after the server, a server certificate for `server_name` with the
    /// given subject alternative names, and a client certificate.
    pub fn generate(server_name: &str, server_sans: &[SubjectAltName]) -> Result<MtlsMaterial> {
        let ca = CertificateAuthority::generate(&format!("{server_name} CA"))?;
        let server = ca.issue_server(server_name, server_sans)?;
        let client = ca.issue_client(&format!("{server_name} client"))?;
        Ok(MtlsMaterial { ca, server, client })
    }

    /// Bundles certificates issued elsewhere (e.g. by a CA loaded with
    /// [`CertificateAuthority::from_pem`]).
    pub fn from_parts(
        ca: CertificateAuthority,
        server: IssuedCertificate,
        client: IssuedCertificate,
    ) -> MtlsMaterial {
        MtlsMaterial { ca, server, client }
    }

    /// The CA.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The server certificate and key.
    pub fn server(&self) -> &IssuedCertificate {
        &self.server
    }

    /// The client certificate and key.
    pub fn client(&self) -> &IssuedCertificate {
        &self.client
    }

    /// Writes `ca.pem`, `server.pem`, `server-key.pem`, `client.pem` and `client-key.pem`
    /// into `dir` (created if missing). Every file is written atomically (temporary file in
    /// `dir`, then renamed); key files have mode 0600, certificates 0644.
    pub fn write_pem_files(&self, dir: &Path) -> Result<MtlsPaths> {
        std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        let paths = MtlsPaths {
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        };
        const CERT: u32 = 0o644;
        const SECRET: u32 = 0o600;
        for (path, contents, mode) in [
            (&paths.ca_cert, self.ca.certificate_pem(), CERT),
            (&paths.server_cert, self.server.certificate_pem(), CERT),
            (
                &paths.server_key,
                self.server.private_key_pem().as_str(),
                SECRET,
            ),
            (&paths.client_cert, self.client.certificate_pem(), CERT),
            (
                &paths.client_key,
                self.client.private_key_pem().as_str(),
                SECRET,
            ),
        ] {
            write_atomic(path, contents.as_bytes(), mode, true)?;
        }
        Ok(paths)
    }

    /// The lab's environment values: `CLIENT_CRT`, `CLIENT_CA`, `SERVER_CRT`, `SERVER_KEY`.
    pub fn lab_env(&self) -> LabEnv {
        let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        LabEnv {
            client_crt: b64(self.client.certificate_pem()),
            client_ca: b64(self.ca.certificate_pem()),
            server_crt: b64(self.server.certificate_pem()),
            server_key: Zeroizing::new(b64(self.server.private_key_pem())),
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use x509_parser::extensions::GeneralName;

    fn parse(pem_text: &str) -> Vec<u8> {
        pem::parse(pem_text).unwrap().contents().to_vec()
    }

    #[test]
    fn ca_is_a_ten_year_p256_ca() {
        let ca = CertificateAuthority::generate("test CA").unwrap();
        let der = parse(ca.certificate_pem());
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert!(cert.basic_constraints().unwrap().unwrap().value.ca);
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign());
        assert_eq!(
            cert.signature_algorithm.algorithm,
            x509_parser::oid_registry::OID_SIG_ECDSA_WITH_SHA256
        );
        let years = (cert.validity().not_after.to_datetime() - OffsetDateTime::now_utc())
            .whole_days()
            / 365;
        assert_eq!(years, 9, "valid for about ten years from now");
        assert!(
            ca.private_key_pem()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        assert_eq!(
            cert.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "test CA"
        );
    }

    #[test]
    fn serials_are_random_and_positive() {
        let a = CertificateAuthority::generate("a").unwrap();
        let b = CertificateAuthority::generate("a").unwrap();
        let der_ca = parse(a.certificate_pem());
        let (_, ca) = x509_parser::parse_x509_certificate(&der_ca).unwrap();
        let der_cb = parse(b.certificate_pem());
        let (_, cb) = x509_parser::parse_x509_certificate(&der_cb).unwrap();
        assert_ne!(ca.raw_serial(), cb.raw_serial());
        assert!(ca.raw_serial()[0] < 0x80);
    }

    #[test]
    fn server_certificate_has_sans_and_server_auth() {
        let ca = CertificateAuthority::generate("ca").unwrap();
        let mut sans = SubjectAltName::loopback();
        sans.push(SubjectAltName::parse("sbs.example.com"));
        let server = ca.issue_server("sbs", &sans).unwrap();
        let der = parse(server.certificate_pem());
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let names = &cert
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names;
        assert!(names.contains(&GeneralName::IPAddress(&[127, 0, 0, 1])));
        assert!(names.contains(&GeneralName::DNSName("localhost")));
        assert!(names.contains(&GeneralName::DNSName("sbs.example.com")));
        assert_eq!(names.len(), 4);
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
        assert_eq!(
            cert.issuer()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "ca"
        );
    }

    #[test]
    fn client_certificate_has_client_auth() {
        let ca = CertificateAuthority::generate("ca").unwrap();
        let client = ca.issue_client("me").unwrap();
        let der_cert = parse(client.certificate_pem());
        let (_, cert) = x509_parser::parse_x509_certificate(&der_cert).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
    }

    #[test]
    fn non_ascii_dns_name_is_refused() {
        let ca = CertificateAuthority::generate("ca").unwrap();
        let err = ca
            .issue_server("x", &[SubjectAltName::Dns("bücher.example".into())])
            .unwrap_err();
        assert!(matches!(err, Error::CertificateGeneration { .. }), "{err}");
        assert!(err.to_string().contains("punycode"));
    }

    #[test]
    fn debug_redacts_keys() {
        let material = MtlsMaterial::generate("s", &SubjectAltName::loopback()).unwrap();
        let text = format!("{material:?} {:?}", material.lab_env());
        assert!(text.contains("[redacted]"));
        assert!(!text.contains("PRIVATE KEY"));
        assert!(!text.contains(material.lab_env().server_key.as_str()));
    }

    #[test]
    fn loaded_ca_issues_certificates_chaining_to_it() {
        let ca = CertificateAuthority::generate("reloaded").unwrap();
        let loaded =
            CertificateAuthority::from_pem(ca.certificate_pem(), ca.private_key_pem()).unwrap();
        assert_eq!(loaded.common_name(), "reloaded");
        let client = loaded.issue_client("c").unwrap();
        let der_ca_cert = parse(ca.certificate_pem());
        let (_, ca_cert) = x509_parser::parse_x509_certificate(&der_ca_cert).unwrap();
        let der_cert = parse(client.certificate_pem());
        let (_, cert) = x509_parser::parse_x509_certificate(&der_cert).unwrap();
        assert_eq!(cert.issuer().as_raw(), ca_cert.subject().as_raw());
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
    }

    #[test]
    fn from_pem_refuses_mismatched_key_and_non_ca() {
        let a = CertificateAuthority::generate("a").unwrap();
        let b = CertificateAuthority::generate("b").unwrap();
        let err =
            CertificateAuthority::from_pem(a.certificate_pem(), b.private_key_pem()).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
        let leaf = a.issue_client("leaf").unwrap();
        let err = CertificateAuthority::from_pem(leaf.certificate_pem(), leaf.private_key_pem())
            .unwrap_err();
        assert!(err.to_string().contains("not a CA"), "{err}");
        let err = CertificateAuthority::from_pem("junk", a.private_key_pem()).unwrap_err();
        assert!(matches!(err, Error::MalformedCertificate { .. }), "{err}");
    }

    #[test]
    fn lab_env_is_base64_of_pem() {
        let material = MtlsMaterial::generate("s", &SubjectAltName::loopback()).unwrap();
        let env = material.lab_env();
        let decode = |v: &str| {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(v).unwrap()).unwrap()
        };
        assert_eq!(decode(&env.client_crt), material.client().certificate_pem());
        assert_eq!(decode(&env.client_ca), material.ca().certificate_pem());
        assert_eq!(decode(&env.server_crt), material.server().certificate_pem());
        assert_eq!(
            decode(&env.server_key),
            material.server().private_key_pem().as_str()
        );
        let names: Vec<_> = env.vars().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["CLIENT_CRT", "CLIENT_CA", "SERVER_CRT", "SERVER_KEY"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn pem_files_have_safe_modes() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let material = MtlsMaterial::generate("s", &SubjectAltName::loopback()).unwrap();
        let paths = material.write_pem_files(&dir.path().join("tls")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&paths.server_key), 0o600);
        assert_eq!(mode(&paths.client_key), 0o600);
        assert_eq!(mode(&paths.ca_cert), 0o644);
        assert_eq!(
            std::fs::read_to_string(&paths.client_cert).unwrap(),
            material.client().certificate_pem()
        );
        let leftovers = std::fs::read_dir(dir.path().join("tls")).unwrap().count();
        assert_eq!(leftovers, 5, "no temporary files left behind");
    }
}
