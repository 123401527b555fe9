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
use rcgen::SanType;
use time::Duration;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsutil::{Existing, write_atomic};

mod authority;
#[cfg(test)]
mod tests;

pub use authority::{CertificateAuthority, IssuedCertificate};

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

    fn to_rcgen(&self) -> Result<SanType> {
        match self {
            SubjectAltName::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            SubjectAltName::Dns(name) => {
                let ia5 = name
                    .as_str()
                    .try_into()
                    .map_err(|_| Error::NonAsciiDnsName { name: name.clone() })?;
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
            write_atomic(path, contents.as_bytes(), mode, Existing::Replace)?;
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
