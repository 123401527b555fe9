//! OpenPGP keys (rPGP): generation, import of gpg's armored exports, export gpg can import,
//! and the choice of which component signs and which encrypts.

use std::fmt;

use pgp::composed::{
    ArmorOptions, Deserializable, EncryptionCaps, KeyType, SecretKeyParamsBuilder,
    SignedKeyDetails, SignedPublicKey, SignedPublicSubKey, SignedSecretKey, SubkeyParamsBuilder,
};
use pgp::crypto::ecc_curve::ECCCurve;
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::packet::KeyFlags;
use pgp::types::{KeyDetails, KeyId, Password, SigningKey};

use crate::error::{Error, Result};
use crate::secret::Secret;

/// The algorithms [`SecretKey::generate`] offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyKind {
    /// RSA 4096 primary key (certify + sign) with an RSA 4096 encryption subkey: the lab's
    /// `gpg --batch --generate-key` choice. Slow to generate (seconds).
    Rsa4096,
    /// Ed25519 primary key (certify + sign) with a Curve25519 (cv25519) encryption subkey, in
    /// the v4 formats GnuPG 2.2 reads.
    Ed25519,
}

impl KeyKind {
    /// Parses `rsa4096` or `ed25519`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "rsa4096" => Some(Self::Rsa4096),
            "ed25519" => Some(Self::Ed25519),
            _ => None,
        }
    }
}

/// An OpenPGP public key (certificate): the appliance's (to encrypt to) or the vendor's (to
/// verify with). Its self-signatures have been verified.
#[derive(Clone)]
pub struct PublicKey {
    key: SignedPublicKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl PublicKey {
    /// Reads an armored (or binary) public key, e.g. `gpg --armor --export`.
    pub fn from_armored(text: &[u8]) -> Result<Self> {
        let (key, _) = SignedPublicKey::from_reader_single(text).map_err(malformed_key)?;
        key.verify_bindings().map_err(malformed_key)?;
        Ok(Self { key })
    }

    /// The armored public key block, importable with `gpg --import`.
    pub fn to_armored(&self) -> Result<String> {
        self.key
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| openpgp_error("public key export", e))
    }

    /// The primary key's fingerprint as gpg prints it (upper-case hex).
    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.key.primary_key.fingerprint().as_bytes())
    }

    /// The 16-hex key IDs of the primary key and every subkey.
    pub fn key_ids(&self) -> Vec<String> {
        std::iter::once(self.key.primary_key.legacy_key_id())
            .chain(
                self.key
                    .public_subkeys
                    .iter()
                    .map(|s| s.key.legacy_key_id()),
            )
            .map(key_id_hex)
            .collect()
    }

    /// The first subkey flagged for encryption, else the primary key if it is.
    pub(crate) fn encryption_subkey(&self) -> Result<EncryptionTarget<'_>> {
        if let Some(sub) = self
            .key
            .public_subkeys
            .iter()
            .find(|s| s.signatures.iter().any(|sig| can_encrypt(&sig.key_flags())))
        {
            return Ok(EncryptionTarget::Subkey(sub));
        }
        if can_encrypt(&primary_flags(&self.key.details)) {
            return Ok(EncryptionTarget::Primary(&self.key.primary_key));
        }
        Err(Error::NoEncryptionKey {
            fingerprint: self.fingerprint(),
        })
    }

    /// The components whose signatures count as this key's: the primary key and every
    /// subkey flagged for signing.
    pub(crate) fn verifiers(&self) -> Vec<&dyn pgp::types::VerifyingKey> {
        let mut keys: Vec<&dyn pgp::types::VerifyingKey> = vec![&self.key.primary_key];
        for sub in &self.key.public_subkeys {
            if sub.signatures.iter().any(|sig| sig.key_flags().sign()) {
                keys.push(sub);
            }
        }
        keys
    }
}

/// Where a session key gets encrypted to.
pub(crate) enum EncryptionTarget<'a> {
    Primary(&'a pgp::packet::PublicKey),
    Subkey(&'a SignedPublicSubKey),
}

/// An OpenPGP secret key, unlocked: the vendor's (to sign) or the appliance's (to decrypt).
///
/// Like gpg-agent's cache, the key is unlocked once (when imported or generated), so the slow
/// passphrase derivation does not run on every operation; exports stay protected with the
/// passphrase. `Debug` shows only the fingerprint.
#[derive(Clone)]
pub struct SecretKey {
    /// As imported or generated (protected with the passphrase).
    key: SignedSecretKey,
    /// The same key with its secret material decrypted.
    unlocked: SignedSecretKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("fingerprint", &self.fingerprint())
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl SecretKey {
    /// Generates a key of `kind` for `user_id` (e.g. `Vendor <vendor@example.com>`), protected
    /// with `passphrase` (an empty passphrase leaves it unprotected, like gpg's `%no-protection`).
    /// An empty user ID, or one with control characters, is refused.
    pub fn generate(kind: KeyKind, user_id: &str, passphrase: Secret) -> Result<Self> {
        let invalid = |reason| Error::InvalidUserId {
            user_id: user_id.to_owned(),
            reason,
        };
        if user_id.trim().is_empty() {
            return Err(invalid("it is empty"));
        }
        if user_id.chars().any(char::is_control) {
            return Err(invalid("it contains control characters"));
        }
        let (primary, sub) = match kind {
            KeyKind::Rsa4096 => (KeyType::Rsa(4096), KeyType::Rsa(4096)),
            KeyKind::Ed25519 => (
                KeyType::Ed25519Legacy,
                KeyType::ECDH(ECCCurve::Curve25519Legacy),
            ),
        };
        let pw = (!passphrase.is_empty()).then(|| passphrase.expose().to_owned());
        let generation = |e: String| Error::OpenPgp {
            operation: "key generation",
            reason: e,
        };
        let subkey = SubkeyParamsBuilder::default()
            .key_type(sub)
            .can_encrypt(EncryptionCaps::All)
            .passphrase(pw.clone())
            .build()
            .map_err(|e| generation(e.to_string()))?;
        let params = SecretKeyParamsBuilder::default()
            .key_type(primary)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(user_id.to_owned())
            .passphrase(pw)
            .preferred_symmetric_algorithms(
                [
                    SymmetricKeyAlgorithm::AES256,
                    SymmetricKeyAlgorithm::AES192,
                    SymmetricKeyAlgorithm::AES128,
                ][..]
                    .into(),
            )
            .preferred_hash_algorithms(
                [
                    HashAlgorithm::Sha512,
                    HashAlgorithm::Sha384,
                    HashAlgorithm::Sha256,
                ][..]
                    .into(),
            )
            .subkey(subkey)
            .build()
            .map_err(|e| generation(e.to_string()))?;
        let key = params
            .generate(rand::thread_rng())
            .map_err(|e| generation(e.to_string()))?;
        Self::unlock(key, &passphrase)
    }

    /// Reads an armored (or binary) secret key, e.g. `gpg --armor --export-secret-keys`, and
    /// checks right away that `passphrase` unlocks every secret component.
    pub fn from_armored(text: &[u8], passphrase: Secret) -> Result<Self> {
        let (key, _) = SignedSecretKey::from_reader_single(text).map_err(malformed_key)?;
        key.verify_bindings().map_err(malformed_key)?;
        Self::unlock(key, &passphrase)
    }

    /// Decrypts every secret component with `passphrase`; a wrong one fails here.
    fn unlock(key: SignedSecretKey, passphrase: &Secret) -> Result<Self> {
        let pw = Password::from(passphrase.expose());
        let wrong = || Error::WrongPassphrase {
            fingerprint: hex::encode_upper(key.primary_key.fingerprint().as_bytes()),
        };
        let mut unlocked = key.clone();
        unlocked
            .primary_key
            .remove_password(&pw)
            .map_err(|_| wrong())?;
        for sub in &mut unlocked.secret_subkeys {
            sub.key.remove_password(&pw).map_err(|_| wrong())?;
        }
        Ok(Self { key, unlocked })
    }

    /// The armored secret key block, still protected with its passphrase; gpg imports it with
    /// `gpg --batch --pinentry-mode loopback --passphrase P --import`.
    pub fn to_armored(&self) -> Result<String> {
        self.key
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| openpgp_error("secret key export", e))
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: self.key.to_public_key(),
        }
    }

    /// The primary key's fingerprint (upper-case hex).
    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.key.primary_key.fingerprint().as_bytes())
    }

    /// The 16-hex key IDs of the primary key and every subkey.
    pub fn key_ids(&self) -> Vec<String> {
        self.legacy_key_ids().into_iter().map(key_id_hex).collect()
    }

    pub(crate) fn legacy_key_ids(&self) -> Vec<KeyId> {
        std::iter::once(self.key.primary_key.legacy_key_id())
            .chain(
                self.key
                    .secret_subkeys
                    .iter()
                    .map(|s| s.key.legacy_key_id()),
            )
            .collect()
    }

    /// The unlocked key.
    pub(crate) fn inner(&self) -> &SignedSecretKey {
        &self.unlocked
    }

    /// The password for the unlocked key (none).
    pub(crate) fn password(&self) -> Password {
        Password::empty()
    }

    /// The primary key if it may sign, else the first signing subkey.
    pub(crate) fn signing_key(&self) -> Result<&dyn SigningKey> {
        if primary_flags(&self.unlocked.details).sign() {
            return Ok(&self.unlocked.primary_key);
        }
        self.unlocked
            .secret_subkeys
            .iter()
            .find(|s| s.signatures.iter().any(|sig| sig.key_flags().sign()))
            .map(|s| &s.key as &dyn SigningKey)
            .ok_or_else(|| Error::NoSigningKey {
                fingerprint: self.fingerprint(),
            })
    }
}

fn primary_flags(details: &SignedKeyDetails) -> KeyFlags {
    details
        .users
        .iter()
        .flat_map(|u| u.signatures.iter())
        .chain(details.direct_signatures.iter())
        .map(|sig| sig.key_flags())
        .find(|flags| flags.sign() || flags.certify() || can_encrypt(flags))
        .unwrap_or_default()
}

fn can_encrypt(flags: &KeyFlags) -> bool {
    flags.encrypt_comms() || flags.encrypt_storage()
}

pub(crate) fn key_id_hex(id: KeyId) -> String {
    hex::encode_upper(id.as_ref())
}

fn malformed_key(e: pgp::errors::Error) -> Error {
    Error::MalformedOpenPgpKey {
        reason: e.to_string(),
    }
}

pub(crate) fn openpgp_error(operation: &'static str, e: pgp::errors::Error) -> Error {
    Error::OpenPgp {
        operation,
        reason: e.to_string(),
    }
}
