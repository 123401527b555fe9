//! Unit tests of the mTLS material: certificate profiles, serials, redaction, file modes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use time::OffsetDateTime;
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
    let years =
        (cert.validity().not_after.to_datetime() - OffsetDateTime::now_utc()).whole_days() / 365;
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
    assert!(
        matches!(err, Error::NonAsciiDnsName { ref name } if name == "bücher.example"),
        "{err}"
    );
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
    let err = CertificateAuthority::from_pem(a.certificate_pem(), b.private_key_pem()).unwrap_err();
    assert!(
        matches!(err, Error::CaKeyMismatch { ref common_name } if common_name == "a"),
        "{err}"
    );
    let leaf = a.issue_client("leaf").unwrap();
    let err =
        CertificateAuthority::from_pem(leaf.certificate_pem(), leaf.private_key_pem()).unwrap_err();
    assert!(
        matches!(err, Error::NotCertificateAuthority { ref common_name } if common_name == "leaf"),
        "{err}"
    );
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
