//! X.509 certificates for notary: the self-signed DCT root certificate and its validation.
//!
//! Notary wraps every root key in a self-signed certificate whose common name is the GUN and
//! lists the certificate (key type `ecdsa-x509`) in `root.json`. [`generate_root_certificate`]
//! writes notary's profile: CN = GUN, a random serial below 2^128, ten years of validity,
//! KeyUsage digitalSignature|keyEncipherment (critical), ExtKeyUsage codeSigning,
//! BasicConstraints CA:FALSE (critical), ecdsa-with-SHA256.
//! [`validate_root_certificate`] applies the checks a notary client makes before trusting one.
//!
//! ```
//! use keymgmt::{PrivateKey, x509};
//!
//! let key = PrivateKey::generate_ecdsa();
//! let cert = x509::generate_root_certificate("registry.example.com/app", &key)?;
//! assert_eq!(cert.algorithm(), keymgmt::KeyAlgorithm::EcdsaX509);
//! // The private key file is named by the canonical ID: the plain key inside the certificate.
//! assert_eq!(cert.canonical_key_id(), key.key_id());
//! x509::validate_root_certificate(cert.public_bytes(), "registry.example.com/app", time::OffsetDateTime::now_utc())?;
//! # Ok::<(), keymgmt::Error>(())
//! ```

use p256::pkcs8::EncodePrivateKey as _;
use rand::RngCore as _;
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::keys::{Material, PrivateKey, PublicKey};

/// Validity of a root certificate notary makes: ten years of 365 days.
pub const ROOT_CERT_VALIDITY: Duration = Duration::days(3650);

/// Signature algorithms notary refuses in certificates (SHA-1, MD5, MD2 based), as OIDs.
const WEAK_SIGNATURE_ALGORITHMS: [&str; 7] = [
    "1.2.840.113549.1.1.5", // sha1WithRSAEncryption
    "1.3.14.3.2.29",        // sha1WithRSA (OIW)
    "1.2.840.10045.4.1",    // ecdsa-with-SHA1
    "1.2.840.10040.4.3",    // dsa-with-sha1
    "1.2.840.113549.1.1.4", // md5WithRSAEncryption
    "1.3.14.3.2.25",        // md5WithRSA (OIW)
    "1.2.840.113549.1.1.2", // md2WithRSAEncryption
];

/// Generates notary's self-signed root certificate for `gun` around `key` (ECDSA P-256 or RSA),
/// valid from now for [`ROOT_CERT_VALIDITY`].
///
/// Returns the certificate as an `ecdsa-x509` (or `rsa-x509`) [`PublicKey`], ready for
/// `root.json`; its [`canonical_key_id`](PublicKey::canonical_key_id) names the key file.
pub fn generate_root_certificate(gun: &str, key: &PrivateKey) -> Result<PublicKey> {
    let now = OffsetDateTime::now_utc();
    generate_root_certificate_valid(gun, key, now, now + ROOT_CERT_VALIDITY)
}

/// Like [`generate_root_certificate`] with an explicit validity window (tests of expiry).
fn generate_root_certificate_valid(
    gun: &str,
    key: &PrivateKey,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<PublicKey> {
    let failed = |reason: String| Error::CertificateGeneration {
        what: format!("root certificate for {gun:?}"),
        reason,
    };
    if gun.is_empty() {
        return Err(Error::InvalidGun {
            gun: gun.to_owned(),
            reason: "a root certificate needs a non-empty GUN as common name",
        });
    }
    let der = match key.material() {
        Material::Ecdsa(k) => k.key.to_pkcs8_der().map_err(|e| failed(e.to_string()))?,
        Material::Rsa(k) => k.to_pkcs8_der().map_err(|e| failed(e.to_string()))?,
        Material::Ed25519(_) => {
            return Err(Error::UnsupportedKeyType {
                keytype: "ed25519 (notary root certificates hold ECDSA or RSA keys)".to_owned(),
            });
        }
    };
    // rcgen picks ecdsa-with-SHA256 for P-256 and sha256WithRSAEncryption for RSA.
    let key_pair = rcgen::KeyPair::try_from(der.as_bytes()).map_err(|e| failed(e.to_string()))?;

    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, gun);
    params.not_before = not_before;
    params.not_after = not_after;
    let mut serial = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut serial);
    // Go draws from [0, 2^128); keeping the top bit clear keeps the DER integer 16 bytes.
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| failed(e.to_string()))?;
    PublicKey::from_certificate_pem(cert.pem().as_bytes())
}

/// Checks a root certificate the way a notary client does before trusting it for `gun`:
/// common name equal to the GUN (or a `prefix*` wildcard covering it), inside its validity
/// period at `now`, not signed with SHA-1 or MD5, holding a P-256 or an RSA >= 2048 key.
///
/// Returns the certificate as a [`PublicKey`] of type `ecdsa-x509` or `rsa-x509`.
pub fn validate_root_certificate(pem: &[u8], gun: &str, now: OffsetDateTime) -> Result<PublicKey> {
    let (_, parsed_pem) =
        x509_parser::pem::parse_x509_pem(pem).map_err(|e| Error::MalformedCertificate {
            reason: format!("not a PEM certificate: {e}"),
        })?;
    let cert = parsed_pem
        .parse_x509()
        .map_err(|e| Error::MalformedCertificate {
            reason: format!("not an X.509 certificate: {e}"),
        })?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !common_name_covers(&common_name, gun) {
        return Err(Error::CertificateNameMismatch {
            common_name,
            gun: gun.to_owned(),
        });
    }
    let validity = cert.validity();
    let not_before = validity.not_before.to_datetime();
    let not_after = validity.not_after.to_datetime();
    if now < not_before || now > not_after {
        return Err(Error::CertificateExpired {
            common_name,
            now,
            not_before,
            not_after,
        });
    }
    let algorithm = cert.signature_algorithm.algorithm.to_id_string();
    if WEAK_SIGNATURE_ALGORITHMS.contains(&algorithm.as_str()) {
        return Err(Error::WeakCertificateSignature {
            common_name,
            algorithm,
        });
    }
    // Key size and type checks live in PublicKey::from_parts.
    PublicKey::from_certificate_pem(pem)
}

/// Whether a certificate's CN covers `gun`: equal, or a trailing-`*` prefix wildcard.
fn common_name_covers(common_name: &str, gun: &str) -> bool {
    match common_name.strip_suffix('*') {
        Some(prefix) => gun.starts_with(prefix),
        None => common_name == gun,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyAlgorithm;

    const GUN: &str = "registry.example.com/team/app";

    #[test]
    fn generated_root_validates_and_ids_link() {
        let key = PrivateKey::generate_ecdsa();
        let cert = generate_root_certificate(GUN, &key).unwrap();
        assert_eq!(cert.algorithm(), KeyAlgorithm::EcdsaX509);
        assert_eq!(cert.canonical_key_id(), key.key_id());
        assert_ne!(cert.key_id(), key.key_id());
        let again =
            validate_root_certificate(cert.public_bytes(), GUN, OffsetDateTime::now_utc()).unwrap();
        assert_eq!(again.key_id(), cert.key_id());
        // The certificate verifies signatures made with the key.
        let sig = key.sign(b"root.json");
        cert.verify(sig.method, b"root.json", &sig.bytes).unwrap();
    }

    #[test]
    fn wrong_cn_is_refused_and_wildcard_accepted() {
        let key = PrivateKey::generate_ecdsa();
        let cert = generate_root_certificate(GUN, &key).unwrap();
        let err = validate_root_certificate(
            cert.public_bytes(),
            "registry.example.com/other",
            OffsetDateTime::now_utc(),
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::CertificateNameMismatch { .. }),
            "{err}"
        );
        let wildcard = generate_root_certificate("registry.example.com/team/*", &key).unwrap();
        validate_root_certificate(wildcard.public_bytes(), GUN, OffsetDateTime::now_utc()).unwrap();
        assert!(
            validate_root_certificate(
                wildcard.public_bytes(),
                "registry.example.com/x",
                OffsetDateTime::now_utc()
            )
            .is_err()
        );
    }

    #[test]
    fn expired_root_is_refused() {
        let key = PrivateKey::generate_ecdsa();
        let start = OffsetDateTime::now_utc() - Duration::days(20);
        let cert =
            generate_root_certificate_valid(GUN, &key, start, start + Duration::days(10)).unwrap();
        let err = validate_root_certificate(cert.public_bytes(), GUN, OffsetDateTime::now_utc())
            .unwrap_err();
        assert!(matches!(err, Error::CertificateExpired { .. }), "{err}");
    }

    #[test]
    fn ed25519_cannot_be_a_root_certificate() {
        let key = PrivateKey::generate_ed25519();
        assert!(matches!(
            generate_root_certificate(GUN, &key),
            Err(Error::UnsupportedKeyType { .. })
        ));
    }
}
