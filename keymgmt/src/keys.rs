//! Key types, notary key JSON and key IDs, signing and verification.
//!
//! Notary describes a public key as `{"keytype":T,"keyval":{"private":null,"public":B64}}` and
//! names it by the hex SHA-256 of that object's canonical JSON. X.509 keys (`ecdsa-x509`,
//! `rsa-x509`) carry the PEM certificate; their *canonical* ID is the ID of the plain key inside,
//! which is how private key files are named.

use std::fmt;

use crate::error::{Error, Result};

mod private;
mod public;

pub(crate) use private::Material;
pub use private::PrivateKey;
pub use public::PublicKey;

/// Smallest RSA modulus notary accepts.
pub const MIN_RSA_BITS: usize = 2048;

/// PSS salt length notary uses with RSA keys.
const PSS_SALT_LEN: usize = 32;

/// A key type as notary names it in key JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA P-256, public part as DER SubjectPublicKeyInfo.
    Ecdsa,
    /// ECDSA P-256 inside a PEM X.509 certificate.
    EcdsaX509,
    /// RSA, public part as DER SubjectPublicKeyInfo.
    Rsa,
    /// RSA inside a PEM X.509 certificate.
    RsaX509,
    /// Ed25519, public part as the 32 raw bytes.
    Ed25519,
}

impl KeyAlgorithm {
    /// The name used in key JSON (`ecdsa`, `ecdsa-x509`, `rsa`, `rsa-x509`, `ed25519`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ecdsa => "ecdsa",
            Self::EcdsaX509 => "ecdsa-x509",
            Self::Rsa => "rsa",
            Self::RsaX509 => "rsa-x509",
            Self::Ed25519 => "ed25519",
        }
    }

    /// Parses a key JSON type name.
    pub fn parse(keytype: &str) -> Result<Self> {
        Ok(match keytype {
            "ecdsa" => Self::Ecdsa,
            "ecdsa-x509" => Self::EcdsaX509,
            "rsa" => Self::Rsa,
            "rsa-x509" => Self::RsaX509,
            "ed25519" => Self::Ed25519,
            other => {
                return Err(Error::UnsupportedKeyType {
                    keytype: other.to_owned(),
                });
            }
        })
    }

    /// Whether the public part is an X.509 certificate.
    pub fn is_x509(self) -> bool {
        matches!(self, Self::EcdsaX509 | Self::RsaX509)
    }

    /// The algorithm without the certificate wrapper.
    pub fn plain(self) -> Self {
        match self {
            Self::EcdsaX509 => Self::Ecdsa,
            Self::RsaX509 => Self::Rsa,
            other => other,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signature method as notary names it in a signature's `method` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureMethod {
    /// ECDSA P-256 over SHA-256, raw `r || s` (64 bytes).
    Ecdsa,
    /// RSA-PSS with SHA-256 and a 32-byte salt.
    RsaPss,
    /// RSA PKCS#1 v1.5 with SHA-256 (verified, used for build manifests).
    RsaPkcs1v15,
    /// Ed25519 over the raw message.
    Eddsa,
}

impl SignatureMethod {
    /// The name used in metadata (`ecdsa`, `rsapss`, `rsapkcs1v15`, `eddsa`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ecdsa => "ecdsa",
            Self::RsaPss => "rsapss",
            Self::RsaPkcs1v15 => "rsapkcs1v15",
            Self::Eddsa => "eddsa",
        }
    }

    /// Parses a metadata method name.
    pub fn parse(method: &str) -> Result<Self> {
        Ok(match method {
            "ecdsa" => Self::Ecdsa,
            "rsapss" => Self::RsaPss,
            "rsapkcs1v15" => Self::RsaPkcs1v15,
            "eddsa" => Self::Eddsa,
            other => {
                return Err(Error::UnknownSignatureMethod {
                    method: other.to_owned(),
                });
            }
        })
    }

    /// Whether a signature of this method may be checked with a key of `algorithm`.
    pub fn fits(self, algorithm: KeyAlgorithm) -> bool {
        matches!(
            (self, algorithm.plain()),
            (Self::Ecdsa, KeyAlgorithm::Ecdsa)
                | (Self::RsaPss | Self::RsaPkcs1v15, KeyAlgorithm::Rsa)
                | (Self::Eddsa, KeyAlgorithm::Ed25519)
        )
    }
}

impl fmt::Display for SignatureMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A notary/TUF key ID: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Checks that `id` is 64 lowercase hex digits, the only form notary produces.
    pub fn parse(id: &str) -> Option<Self> {
        (id.len() == 64
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(id.to_owned()))
    }

    /// The ID as hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A signature together with the method that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// How it was made.
    pub method: SignatureMethod,
    /// The raw signature bytes (base64 them for metadata).
    pub bytes: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_sign_verify_and_tamper() {
        let key = PrivateKey::generate_ecdsa();
        let sig = key.sign(b"hello");
        assert_eq!(sig.method, SignatureMethod::Ecdsa);
        assert_eq!(sig.bytes.len(), 64);
        let public = key.public_key();
        public.verify(sig.method, b"hello", &sig.bytes).unwrap();
        assert!(matches!(
            public.verify(sig.method, b"hellO", &sig.bytes),
            Err(Error::BadSignature { .. })
        ));
        assert!(matches!(
            public.verify(SignatureMethod::Eddsa, b"hello", &sig.bytes),
            Err(Error::MethodMismatch { .. })
        ));
        assert!(matches!(
            public.verify(sig.method, b"hello", &sig.bytes[..63]),
            Err(Error::SignatureLength { actual: 63, .. })
        ));
    }

    #[test]
    fn ed25519_sign_verify() {
        let key = PrivateKey::generate_ed25519();
        let sig = key.sign(b"m");
        key.public_key()
            .verify(SignatureMethod::Eddsa, b"m", &sig.bytes)
            .unwrap();
        assert!(
            key.public_key()
                .verify(SignatureMethod::Ecdsa, b"m", &sig.bytes)
                .is_err()
        );
    }

    #[test]
    fn key_json_round_trip_and_id() {
        let key = PrivateKey::generate_ed25519();
        let public = key.public_key();
        let again = PublicKey::from_json_fields("ed25519", &public.public_base64()).unwrap();
        assert_eq!(again.key_id(), public.key_id());
        let json = String::from_utf8(public.canonical_json()).unwrap();
        assert!(json.starts_with(r#"{"keytype":"ed25519","keyval":{"private":null,"public":""#));
        assert_eq!(public.key_id().as_str().len(), 64);
    }

    #[test]
    fn pem_public_keys_and_certificates_are_read() {
        let key = PrivateKey::generate_ecdsa();
        let pem_text = crate::keyfile::public_key_pem(&key.public_key(), "alice");
        let read = PublicKey::from_pem(pem_text.as_bytes()).unwrap();
        assert_eq!(read, key.public_key());

        let cert = crate::x509::generate_root_certificate("example.com/app", &key).unwrap();
        let read = PublicKey::from_pem(cert.public_bytes()).unwrap();
        assert_eq!(read.algorithm(), KeyAlgorithm::EcdsaX509);
        assert_eq!(read.key_id(), cert.key_id());

        let private = crate::keyfile::encode_unencrypted(&key, "root", None).unwrap();
        assert!(matches!(
            PublicKey::from_pem(private.as_bytes()),
            Err(Error::UnexpectedPem { found: Some(tag), .. }) if tag == "PRIVATE KEY"
        ));
        assert!(matches!(
            PublicKey::from_pem(b"not pem"),
            Err(Error::UnexpectedPem { found: None, .. })
        ));
        // Ed25519 public keys are raw bytes, not a SubjectPublicKeyInfo.
        let ed = crate::keyfile::public_key_pem(&PrivateKey::generate_ed25519().public_key(), "x");
        assert!(matches!(
            PublicKey::from_pem(ed.as_bytes()),
            Err(Error::MalformedPublicKey { .. })
        ));
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!(matches!(
            KeyAlgorithm::parse("dsa"),
            Err(Error::UnsupportedKeyType { .. })
        ));
        assert!(matches!(
            SignatureMethod::parse("hmac"),
            Err(Error::UnknownSignatureMethod { .. })
        ));
        assert!(KeyId::parse("ABC").is_none());
    }
}
