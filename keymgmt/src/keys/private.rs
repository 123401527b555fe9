//! [`PrivateKey`]: generation, import, signing.

use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::sync::Arc;

use super::public::Verifier;
use super::{
    KeyAlgorithm, KeyId, MIN_RSA_BITS, PSS_SALT_LEN, PublicKey, Signature, SignatureMethod,
};
use crate::error::{Error, Result};

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
                    key_id: Some(self.key_id().to_string()),
                    path: None,
                    reason: format!("RSA signing failed: {e}"),
                })?
            }
        };
        Ok(Signature { method, bytes })
    }
}
