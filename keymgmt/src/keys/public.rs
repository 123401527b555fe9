//! [`PublicKey`]: notary key JSON, key IDs, PEM public keys and certificates, verification.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use rsa::traits::PublicKeyParts as _;
use sha2::{Digest as _, Sha256};
use std::fmt;

use super::{KeyAlgorithm, KeyId, MIN_RSA_BITS, PSS_SALT_LEN, SignatureMethod};
use crate::error::{Error, Result};

/// Object identifiers of the SubjectPublicKeyInfo algorithms notary keys use.
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// A public key as notary describes it: a key type and its public bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub(super) algorithm: KeyAlgorithm,
    pub(super) public: Vec<u8>,
    /// The plain key inside (the DER SPKI for ecdsa/rsa, raw bytes for ed25519).
    pub(super) inner: Verifier,
}

#[derive(Clone, PartialEq, Eq)]
pub(super) enum Verifier {
    Ecdsa(p256::ecdsa::VerifyingKey),
    Rsa(Box<rsa::RsaPublicKey>),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id().to_string())
            .finish()
    }
}

impl PublicKey {
    /// Builds a key from its key JSON type and the decoded `keyval.public` bytes, checking that
    /// the bytes parse as that type.
    pub fn from_parts(algorithm: KeyAlgorithm, public: Vec<u8>) -> Result<Self> {
        let malformed = |reason: String| Error::MalformedPublicKey {
            keytype: algorithm.as_str(),
            reason,
        };
        let inner = match algorithm {
            KeyAlgorithm::Ecdsa => Verifier::Ecdsa(
                p256::ecdsa::VerifyingKey::from_public_key_der(&public)
                    .map_err(|e| malformed(format!("not a P-256 SubjectPublicKeyInfo: {e}")))?,
            ),
            KeyAlgorithm::Rsa => Verifier::Rsa(Box::new(
                rsa::RsaPublicKey::from_public_key_der(&public)
                    .map_err(|e| malformed(format!("not an RSA SubjectPublicKeyInfo: {e}")))?,
            )),
            KeyAlgorithm::Ed25519 => {
                let raw: [u8; 32] = public.as_slice().try_into().map_err(|_| {
                    malformed(format!("expected 32 raw bytes, got {}", public.len()))
                })?;
                Verifier::Ed25519(
                    ed25519_dalek::VerifyingKey::from_bytes(&raw)
                        .map_err(|e| malformed(format!("not an Ed25519 point: {e}")))?,
                )
            }
            KeyAlgorithm::EcdsaX509 | KeyAlgorithm::RsaX509 => {
                let spki =
                    spki_from_certificate_pem(&public).map_err(|e| malformed(e.to_string()))?;
                match PublicKey::from_parts(algorithm.plain(), spki) {
                    Ok(plain) => plain.inner,
                    Err(_) => {
                        return Err(malformed(format!(
                            "certificate does not hold a {} key",
                            algorithm.plain()
                        )));
                    }
                }
            }
        };
        if let Verifier::Rsa(key) = &inner {
            let bits = key.n().bits();
            if bits < MIN_RSA_BITS {
                return Err(Error::WeakRsaKey {
                    bits,
                    minimum: MIN_RSA_BITS,
                });
            }
        }
        Ok(Self {
            algorithm,
            public,
            inner,
        })
    }

    /// Builds a key from notary key JSON fields: the type name and base64 `keyval.public`.
    pub fn from_json_fields(keytype: &str, public_b64: &str) -> Result<Self> {
        let algorithm = KeyAlgorithm::parse(keytype)?;
        let public = B64
            .decode(public_b64)
            .map_err(|e| Error::MalformedPublicKey {
                keytype: algorithm.as_str(),
                reason: format!("keyval.public is not base64: {e}"),
            })?;
        Self::from_parts(algorithm, public)
    }

    /// Reads a PEM `PUBLIC KEY` (DER SubjectPublicKeyInfo of a P-256 or RSA key, as
    /// `openssl pkey -pubout` and `docker trust key generate` write it) as an `ecdsa` or `rsa`
    /// key, or a PEM `CERTIFICATE` as an `ecdsa-x509` or `rsa-x509` key; the first PEM block
    /// counts, and PEM headers such as `role:` are ignored.
    ///
    /// Errors: [`Error::UnexpectedPem`] naming the block found when it is neither,
    /// [`Error::UnsupportedKeyType`] with the key's algorithm OID for other key types,
    /// [`Error::MalformedPublicKey`], [`Error::MalformedCertificate`], [`Error::WeakRsaKey`].
    pub fn from_pem(pem_text: &[u8]) -> Result<Self> {
        let unexpected = |found| Error::UnexpectedPem {
            expected: "PUBLIC KEY or CERTIFICATE",
            found,
        };
        let block = pem::parse(pem_text).map_err(|_| unexpected(None))?;
        match block.tag() {
            "CERTIFICATE" => Self::from_certificate_pem(pem_text),
            "PUBLIC KEY" => {
                let algorithm = spki_algorithm(block.contents())?;
                Self::from_parts(algorithm, block.into_contents())
            }
            other => Err(unexpected(Some(other.to_owned()))),
        }
    }

    /// Wraps a PEM X.509 certificate as an `ecdsa-x509` or `rsa-x509` key.
    pub fn from_certificate_pem(pem: &[u8]) -> Result<Self> {
        let spki = spki_from_certificate_pem(pem)?;
        let algorithm = if p256::ecdsa::VerifyingKey::from_public_key_der(&spki).is_ok() {
            KeyAlgorithm::EcdsaX509
        } else {
            KeyAlgorithm::RsaX509
        };
        Self::from_parts(algorithm, pem.to_vec())
    }

    /// The key type.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The `keyval.public` bytes (before base64).
    pub fn public_bytes(&self) -> &[u8] {
        &self.public
    }

    /// `keyval.public` as notary writes it (standard base64).
    pub fn public_base64(&self) -> String {
        B64.encode(&self.public)
    }

    /// The canonical JSON of the key object with `"private":null`, exactly as notary hashes it.
    pub fn canonical_json(&self) -> Vec<u8> {
        // Keys are already in canonical (bytewise) order and base64 needs no escaping.
        format!(
            r#"{{"keytype":"{}","keyval":{{"private":null,"public":"{}"}}}}"#,
            self.algorithm.as_str(),
            self.public_base64()
        )
        .into_bytes()
    }

    /// The TUF key ID: hex SHA-256 of [`canonical_json`](Self::canonical_json).
    pub fn key_id(&self) -> KeyId {
        KeyId(hex::encode(Sha256::digest(self.canonical_json())))
    }

    /// The plain (non-certificate) key: itself for `ecdsa`/`rsa`/`ed25519`.
    pub fn plain(&self) -> PublicKey {
        if !self.algorithm.is_x509() {
            return self.clone();
        }
        let public = match &self.inner {
            Verifier::Ecdsa(k) => k.to_public_key_der().map(|d| d.into_vec()),
            Verifier::Rsa(k) => k.to_public_key_der().map(|d| d.into_vec()),
            Verifier::Ed25519(k) => Ok(k.to_bytes().to_vec()),
        };
        Self {
            algorithm: self.algorithm.plain(),
            public: public.unwrap_or_default(),
            inner: self.inner.clone(),
        }
    }

    /// The canonical key ID: for `*-x509` keys the ID of the plain key inside the certificate,
    /// which names the private key file; otherwise the same as [`key_id`](Self::key_id).
    pub fn canonical_key_id(&self) -> KeyId {
        self.plain().key_id()
    }

    /// Verifies `signature` over `message` made with `method`.
    ///
    /// The method must fit the key type, ECDSA signatures must be raw `r || s` (64 bytes),
    /// RSA keys must have at least 2048 bits.
    pub fn verify(&self, method: SignatureMethod, message: &[u8], signature: &[u8]) -> Result<()> {
        if !method.fits(self.algorithm) {
            return Err(Error::MethodMismatch {
                method: method.as_str().to_owned(),
                keytype: self.algorithm.as_str(),
            });
        }
        let bad = || Error::BadSignature {
            key_id: self.key_id().to_string(),
            method: method.as_str(),
        };
        match (&self.inner, method) {
            (Verifier::Ecdsa(key), SignatureMethod::Ecdsa) => {
                if signature.len() != 64 {
                    return Err(Error::SignatureLength {
                        method: "ecdsa",
                        expected: 64,
                        actual: signature.len(),
                    });
                }
                let point = key.to_encoded_point(false);
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    point.as_bytes(),
                )
                .verify(message, signature)
                .map_err(|_| bad())
            }
            (Verifier::Ed25519(key), SignatureMethod::Eddsa) => {
                let sig = ed25519_dalek::Signature::from_slice(signature).map_err(|_| {
                    Error::SignatureLength {
                        method: "eddsa",
                        expected: 64,
                        actual: signature.len(),
                    }
                })?;
                key.verify_strict(message, &sig).map_err(|_| bad())
            }
            (Verifier::Rsa(key), SignatureMethod::RsaPss) => {
                let digest = Sha256::digest(message);
                key.verify(
                    rsa::Pss::new_with_salt::<Sha256>(PSS_SALT_LEN),
                    &digest,
                    signature,
                )
                .map_err(|_| bad())
            }
            (Verifier::Rsa(key), SignatureMethod::RsaPkcs1v15) => {
                let digest = Sha256::digest(message);
                key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, signature)
                    .map_err(|_| bad())
            }
            _ => Err(Error::MethodMismatch {
                method: method.as_str().to_owned(),
                keytype: self.algorithm.as_str(),
            }),
        }
    }
}

/// Extracts the DER SubjectPublicKeyInfo from a PEM certificate.
fn spki_from_certificate_pem(pem_bytes: &[u8]) -> Result<Vec<u8>> {
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(pem_bytes).map_err(|e| Error::MalformedCertificate {
            reason: format!("not a PEM certificate: {e}"),
        })?;
    let cert = pem.parse_x509().map_err(|e| Error::MalformedCertificate {
        reason: format!("not an X.509 certificate: {e}"),
    })?;
    Ok(cert.public_key().raw.to_vec())
}

/// The key type of a DER SubjectPublicKeyInfo, from its algorithm OID.
fn spki_algorithm(spki: &[u8]) -> Result<KeyAlgorithm> {
    use x509_parser::prelude::FromDer as _;
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki).map_err(|e| {
        Error::MalformedPublicKey {
            keytype: "PUBLIC KEY",
            reason: format!("not a DER SubjectPublicKeyInfo: {e}"),
        }
    })?;
    match info.algorithm.algorithm.to_id_string().as_str() {
        OID_EC_PUBLIC_KEY => Ok(KeyAlgorithm::Ecdsa),
        OID_RSA_ENCRYPTION => Ok(KeyAlgorithm::Rsa),
        other => Err(Error::UnsupportedKeyType {
            keytype: format!("public key algorithm {other}"),
        }),
    }
}
