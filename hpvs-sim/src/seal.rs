//! Secrets at rest: AES-256-GCM under a key kept in the state directory (0600), so the
//! database alone (a backup, a copied file) holds no registry password, pull credential or
//! server env value in clear.

use std::path::Path;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::error::{ApplianceError, Result};
use crate::state_files;

const KEY_LEN: usize = 32;

/// Seals and opens the appliance's secrets.
pub struct Sealer {
    key: LessSafeKey,
    derivation: ring::hkdf::Prk,
    random: SystemRandom,
}

impl Sealer {
    /// The sealer whose key is in `path`, made (32 random bytes, 0600) if the file does not
    /// exist yet.
    pub fn open_or_create(path: &Path) -> Result<Self> {
        let random = SystemRandom::new();
        let bytes = match state_files::read_secret(path)? {
            Some(bytes) => bytes,
            None => {
                let mut fresh = Zeroizing::new(vec![0u8; KEY_LEN]);
                random.fill(&mut fresh).map_err(|_| random_failed(path))?;
                state_files::write_secret(path, &fresh)?;
                fresh
            }
        };
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| ApplianceError::StateFile {
            action: "read the sealing key",
            path: path.to_owned(),
            source: std::io::Error::other(format!("expected {KEY_LEN} bytes")),
        })?;
        Ok(Self {
            key: LessSafeKey::new(key),
            derivation: ring::hkdf::Prk::new_less_safe(ring::hkdf::HKDF_SHA256, &bytes),
            random,
        })
    }

    /// A 32-byte key for `purpose`, derived with HKDF-SHA256 (info = `purpose`) from the
    /// sealing key: a secret of the appliance's own that never leaves it, the same after a
    /// restart, different for each purpose.
    pub fn derive_key(&self, purpose: &'static str) -> Result<Zeroizing<[u8; KEY_LEN]>> {
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        let info = [purpose.as_bytes()];
        self.derivation
            .expand(&info, ring::hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut out[..]))
            .map_err(|_| ApplianceError::Unseal { what: purpose })?;
        Ok(out)
    }

    /// `plaintext` sealed: a random nonce, then the ciphertext and tag. `what` names the
    /// secret and is bound to it, so a sealed password cannot be swapped in as an env.
    pub fn seal(&self, what: &'static str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| ApplianceError::Unseal { what })?;
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(what.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| ApplianceError::Unseal { what })?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`Sealer::seal`] sealed under the same `what`.
    pub fn open(&self, what: &'static str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN {
            return Err(ApplianceError::Unseal { what });
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| ApplianceError::Unseal { what })?;
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(what.as_bytes()), &mut buffer)
            .map_err(|_| ApplianceError::Unseal { what })?
            .len();
        buffer.truncate(plain_len);
        Ok(buffer)
    }
}

fn random_failed(path: &Path) -> ApplianceError {
    ApplianceError::StateFile {
        action: "make the sealing key",
        path: path.to_owned(),
        source: std::io::Error::other("the system random generator failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_under_their_name_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seal.key");
        let sealer = Sealer::open_or_create(&path).unwrap();
        let sealed = sealer.seal("password", b"hunter2").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(&*sealer.open("password", &sealed).unwrap(), b"hunter2");
        assert!(matches!(
            sealer.open("env", &sealed),
            Err(ApplianceError::Unseal { what: "env" })
        ));
        let again = Sealer::open_or_create(&path).unwrap();
        assert_eq!(&*again.open("password", &sealed).unwrap(), b"hunter2");
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(sealer.open("password", &tampered).is_err());
        std::fs::write(&path, [7u8; KEY_LEN]).unwrap();
        let other = Sealer::open_or_create(&path).unwrap();
        assert!(other.open("password", &sealed).is_err());
    }

    #[test]
    fn derived_keys_are_stable_per_purpose_and_per_appliance() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = Sealer::open_or_create(&dir.path().join("a.key")).unwrap();
        let again = Sealer::open_or_create(&dir.path().join("a.key")).unwrap();
        let other = Sealer::open_or_create(&dir.path().join("b.key")).unwrap();
        let key = sealer.derive_key("sbs state image").unwrap();
        assert_eq!(*key, *again.derive_key("sbs state image").unwrap());
        assert_ne!(*key, *sealer.derive_key("another purpose").unwrap());
        assert_ne!(*key, *other.derive_key("sbs state image").unwrap());
    }
}
