//! Key types, notary key JSON and key IDs, signing and verification.
//!
//! Notary describes a public key as `{"keytype":T,"keyval":{"private":null,"public":B64}}` and
//! names it by the hex SHA-256 of that object's canonical JSON. X.509 keys (`ecdsa-x509`,
//! `rsa-x509`) carry the PEM certificate; their *canonical* ID is the ID of the plain key inside,
//! which is how private key files are named.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

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

/// A public key as notary describes it: a key type and its public bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: KeyAlgorithm,
    public: Vec<u8>,
    /// The plain key inside (the DER SPKI for ecdsa/rsa, raw bytes for ed25519).
    inner: Verifier,
}

#[derive(Clone, PartialEq, Eq)]
enum Verifier {
    Ecdsa(p256::ecdsa::VerifyingKey),
    Rsa(Box<rsa::RsaPublicKey>),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id().0)
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
                let spki = crate::x509::spki_from_certificate_pem(&public)
                    .map_err(|e| malformed(e.to_string()))?;
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

    /// Wraps a PEM X.509 certificate as an `ecdsa-x509` or `rsa-x509` key.
    pub fn from_certificate_pem(pem: &[u8]) -> Result<Self> {
        let spki = crate::x509::spki_from_certificate_pem(pem)?;
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
            key_id: self.key_id().0,
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

/// A signature together with the method that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// How it was made.
    pub method: SignatureMethod,
    /// The raw signature bytes (base64 them for metadata).
    pub bytes: Vec<u8>,
}

/// A private key of any type notary uses: ECDSA P-256, Ed25519 or RSA.
///
/// Opaque on purpose: the crates behind it are an implementation detail. Secret material is
/// zeroized on drop by the underlying crates; `Debug` shows only the type and key ID.
#[derive(Clone)]
pub struct PrivateKey(Material);

/// The key material behind a [`PrivateKey`].
#[derive(Clone)]
pub(crate) enum Material {
    Ecdsa(EcdsaKey),
    Ed25519(ed25519_dalek::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

/// A P-256 key: the RustCrypto key for encodings, and ring's key pair for fast signing
/// (ring's assembly P-256 is several times faster than the portable implementation).
#[derive(Clone)]
pub(crate) struct EcdsaKey {
    pub(crate) key: p256::ecdsa::SigningKey,
    fast: Option<Arc<ring::signature::EcdsaKeyPair>>,
}

impl EcdsaKey {
    fn new(key: p256::ecdsa::SigningKey) -> Self {
        let public = key.verifying_key().to_encoded_point(false);
        let fast = ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            key.to_bytes().as_slice(),
            public.as_bytes(),
            &ring::rand::SystemRandom::new(),
        )
        .ok()
        .map(Arc::new);
        Self { key, fast }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        if let Some(Ok(sig)) = self
            .fast
            .as_ref()
            .map(|fast| fast.sign(&ring::rand::SystemRandom::new(), message))
        {
            return sig.as_ref().to_vec();
        }
        let sig: p256::ecdsa::Signature = self.key.sign(message);
        sig.to_bytes().to_vec()
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey({} {}, [redacted])",
            self.algorithm(),
            self.key_id()
        )
    }
}

impl PrivateKey {
    pub(crate) fn from_p256(key: p256::ecdsa::SigningKey) -> Self {
        Self(Material::Ecdsa(EcdsaKey::new(key)))
    }

    pub(crate) fn from_ed25519(key: ed25519_dalek::SigningKey) -> Self {
        Self(Material::Ed25519(key))
    }

    pub(crate) fn from_rsa(key: rsa::RsaPrivateKey) -> Self {
        Self(Material::Rsa(Box::new(key)))
    }

    pub(crate) fn material(&self) -> &Material {
        &self.0
    }

    /// A new random ECDSA P-256 key (what notary generates for every role).
    pub fn generate_ecdsa() -> Self {
        Self::from_p256(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
    }

    /// A new random Ed25519 key.
    pub fn generate_ed25519() -> Self {
        Self(Material::Ed25519(ed25519_dalek::SigningKey::generate(
            &mut rand::rngs::OsRng,
        )))
    }

    /// A new random RSA key of `bits` (2048 or more), e.g. for the build-manifest key.
    pub fn generate_rsa(bits: usize) -> Result<Self> {
        if bits < MIN_RSA_BITS {
            return Err(Error::WeakRsaKey {
                bits,
                minimum: MIN_RSA_BITS,
            });
        }
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).map_err(|e| {
            Error::CorruptPrivateKey {
                key_id: None,
                path: None,
                reason: format!("RSA generation failed: {e}"),
            }
        })?;
        Ok(Self(Material::Rsa(Box::new(key))))
    }

    /// Imports an unencrypted RSA private key from PEM (`RSA PRIVATE KEY` or `PRIVATE KEY`).
    pub fn import_rsa_pem(pem_text: &str) -> Result<Self> {
        let corrupt = |reason: String| Error::CorruptPrivateKey {
            key_id: None,
            path: None,
            reason,
        };
        let key = rsa::RsaPrivateKey::from_pkcs1_pem(pem_text)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(pem_text))
            .map_err(|e| {
                corrupt(format!(
                    "not an RSA private key in PKCS#1 or PKCS#8 PEM: {e}"
                ))
            })?;
        let bits = key.n().bits();
        if bits < MIN_RSA_BITS {
            return Err(Error::WeakRsaKey {
                bits,
                minimum: MIN_RSA_BITS,
            });
        }
        Ok(Self(Material::Rsa(Box::new(key))))
    }

    /// The plain key type (`ecdsa`, `rsa` or `ed25519`).
    pub fn algorithm(&self) -> KeyAlgorithm {
        match &self.0 {
            Material::Ecdsa(_) => KeyAlgorithm::Ecdsa,
            Material::Ed25519(_) => KeyAlgorithm::Ed25519,
            Material::Rsa(_) => KeyAlgorithm::Rsa,
        }
    }

    /// The matching public key in its plain form.
    pub fn public_key(&self) -> PublicKey {
        let (algorithm, public, inner) = match &self.0 {
            Material::Ecdsa(k) => {
                let v = *k.key.verifying_key();
                (
                    KeyAlgorithm::Ecdsa,
                    v.to_public_key_der().map(|d| d.into_vec()),
                    Verifier::Ecdsa(v),
                )
            }
            Material::Ed25519(k) => {
                let v = k.verifying_key();
                (
                    KeyAlgorithm::Ed25519,
                    Ok(v.to_bytes().to_vec()),
                    Verifier::Ed25519(v),
                )
            }
            Material::Rsa(k) => {
                let v = k.to_public_key();
                (
                    KeyAlgorithm::Rsa,
                    v.to_public_key_der().map(|d| d.into_vec()),
                    Verifier::Rsa(Box::new(v)),
                )
            }
        };
        // Encoding a valid in-memory public key to DER cannot fail.
        PublicKey {
            algorithm,
            public: public.unwrap_or_default(),
            inner,
        }
    }

    /// The canonical key ID (names the key file in a trust dir).
    pub fn key_id(&self) -> KeyId {
        self.public_key().key_id()
    }

    /// The method [`sign`](Self::sign) uses: `ecdsa`, `eddsa`, or `rsapss` for RSA (notary's).
    pub fn default_method(&self) -> SignatureMethod {
        match &self.0 {
            Material::Ecdsa(_) => SignatureMethod::Ecdsa,
            Material::Ed25519(_) => SignatureMethod::Eddsa,
            Material::Rsa(_) => SignatureMethod::RsaPss,
        }
    }

    /// Signs `message` the way notary does for this key type.
    pub fn sign(&self, message: &[u8]) -> Signature {
        match self.sign_with(self.default_method(), message) {
            Ok(sig) => sig,
            // default_method always fits the key and only RSA signing can fail
            // (on a key that cannot hold the padding: impossible at >= 2048 bits).
            Err(_) => Signature {
                method: self.default_method(),
                bytes: Vec::new(),
            },
        }
    }

    /// Signs `message` with an explicit method (e.g. `rsapkcs1v15` for build manifests).
    pub fn sign_with(&self, method: SignatureMethod, message: &[u8]) -> Result<Signature> {
        if !method.fits(self.algorithm()) {
            return Err(Error::MethodMismatch {
                method: method.as_str().to_owned(),
                keytype: self.algorithm().as_str(),
            });
        }
        let bytes = match &self.0 {
            Material::Ecdsa(k) => k.sign(message),
            Material::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            Material::Rsa(k) => {
                let digest = Sha256::digest(message);
                let result = if method == SignatureMethod::RsaPss {
                    k.sign_with_rng(
                        &mut rand::rngs::OsRng,
                        rsa::Pss::new_with_salt::<Sha256>(PSS_SALT_LEN),
                        &digest,
                    )
                } else {
                    k.sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest)
                };
                result.map_err(|e| Error::CorruptPrivateKey {
                    key_id: Some(self.key_id().0),
                    path: None,
                    reason: format!("RSA signing failed: {e}"),
                })?
            }
        };
        Ok(Signature { method, bytes })
    }
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
