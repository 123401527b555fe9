//! The `hyper-protect-basic.<b64 password>.<b64 data>` codec: RSA PKCS#1 v1.5 of a random
//! 32-byte password, and `openssl enc -aes-256-cbc -pbkdf2` framing of the data
//! (`Salted__` + 8-byte salt + AES-256-CBC/PKCS#7 ciphertext, key and IV derived together by
//! PBKDF2-HMAC-SHA256 with 10000 iterations). No I/O.

use std::fmt;

use aes::cipher::{
    BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _, block_padding::Pkcs7,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The prefix of every encrypted section.
pub const PREFIX: &str = "hyper-protect-basic";
const MAGIC: &[u8; 8] = b"Salted__";
const PBKDF2_ITERATIONS: u32 = 10_000;
const PASSWORD_LEN: usize = 32;

/// An RSA public key to encrypt sections to: the HPCR encryption certificate, or an
/// attestation public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaRecipient {
    key: RsaPublicKey,
}

impl RsaRecipient {
    /// Reads a PEM X.509 certificate (`BEGIN CERTIFICATE`) or public key (`BEGIN PUBLIC KEY`).
    pub fn from_pem(pem_text: &[u8]) -> Result<Self> {
        let malformed = |reason: String| Error::MalformedCertificate { reason };
        let text = std::str::from_utf8(pem_text).map_err(|e| malformed(e.to_string()))?;
        let spki = if text.contains("BEGIN CERTIFICATE") {
            let (_, pem) = x509_parser::pem::parse_x509_pem(pem_text)
                .map_err(|e| malformed(format!("not a pem certificate: {e}")))?;
            let cert = pem
                .parse_x509()
                .map_err(|e| malformed(format!("not an x.509 certificate: {e}")))?;
            cert.public_key().raw.to_vec()
        } else {
            let block = pem::parse(text).map_err(|e| malformed(format!("not pem: {e}")))?;
            block.into_contents()
        };
        let key = RsaPublicKey::from_public_key_der(&spki)
            .map_err(|e| malformed(format!("not an rsa public key: {e}")))?;
        Ok(Self { key })
    }

    /// The public key as `BEGIN PUBLIC KEY` PEM.
    pub fn to_pem(&self) -> Result<String> {
        public_pem(&self.key)
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.key.n().bits()
    }
}

/// An RSA private key: the contract signing key, or the attestation key that decrypts the
/// attestation record. `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct RsaSecretKey {
    key: RsaPrivateKey,
}

impl fmt::Debug for RsaSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaSecretKey([redacted])")
    }
}

impl RsaSecretKey {
    /// Reads an unencrypted PKCS#8 (`BEGIN PRIVATE KEY`, openssl 3's default) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`) PEM. Encrypted keys and other algorithms are refused with
    /// [`Error::UnsupportedKey`], which says what to do.
    pub fn from_pem(pem_text: &str) -> Result<Self> {
        let malformed = |reason: String| Error::MalformedRsaKey { reason };
        let label = pem_label(pem_text).ok_or_else(|| {
            malformed("no pem block: expected -----BEGIN PRIVATE KEY-----".to_owned())
        })?;
        let key = match label {
            "RSA PRIVATE KEY" if pem_text.contains("Proc-Type: 4,ENCRYPTED") => {
                return Err(unsupported("an encrypted rsa key", DECRYPT_HINT));
            }
            "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_pem(pem_text).map_err(|e| e.to_string()),
            "PRIVATE KEY" => {
                check_pkcs8_algorithm(pem_text)?;
                RsaPrivateKey::from_pkcs8_pem(pem_text).map_err(|e| e.to_string())
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(unsupported("an encrypted pkcs#8 key", DECRYPT_HINT));
            }
            "EC PRIVATE KEY" => return Err(unsupported("an ec key", RSA_HINT)),
            "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => {
                return Err(unsupported(
                    &format!("a {} (no private key)", label.to_lowercase()),
                    RSA_HINT,
                ));
            }
            other => {
                return Err(unsupported(
                    &format!("a pem block '{}'", other.to_lowercase()),
                    RSA_HINT,
                ));
            }
        }
        .map_err(malformed)?;
        Ok(Self { key })
    }

    /// Generates a key of `bits` (2048 or more).
    pub fn generate(bits: usize) -> Result<Self> {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), bits).map_err(|e| Error::Rsa {
            operation: "key generation",
            reason: e.to_string(),
        })?;
        Ok(Self { key })
    }

    /// The public key as `BEGIN PUBLIC KEY` PEM (what `env.signingKey` carries).
    pub fn public_key_pem(&self) -> Result<String> {
        public_pem(&self.key.to_public_key())
    }

    /// The public key as a recipient.
    pub fn recipient(&self) -> RsaRecipient {
        RsaRecipient {
            key: self.key.to_public_key(),
        }
    }

    /// RSA PKCS#1 v1.5 SHA-256 signature, as `openssl dgst -sha256 -sign`.
    pub fn sign_sha256(&self, message: &[u8]) -> Vec<u8> {
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.key.clone());
        signer.sign(message).to_vec()
    }

    fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.key
            .decrypt(Pkcs1v15Encrypt, ciphertext)
            .map(Zeroizing::new)
            .map_err(|e| Error::Rsa {
                operation: "decryption",
                reason: e.to_string(),
            })
    }
}

const DECRYPT_HINT: &str =
    "decrypt it first, e.g. `openssl pkey -in KEY.pem -out PLAIN.pem` (keep PLAIN.pem private)";
const RSA_HINT: &str = "make an rsa key, e.g. `openssl genrsa -out KEY.pem 4096`";

fn unsupported(found: &str, hint: &'static str) -> Error {
    Error::UnsupportedKey {
        found: found.to_owned(),
        hint,
    }
}

/// The label of the first `-----BEGIN <label>-----` line.
fn pem_label(text: &str) -> Option<&str> {
    text.lines().find_map(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")?
            .strip_suffix("-----")
    })
}

/// A PKCS#8 key must be RSA: name the algorithm of any other (EC, Ed25519...).
fn check_pkcs8_algorithm(pem_text: &str) -> Result<()> {
    use rsa::pkcs8::der::Decode as _;
    let malformed = |reason: String| Error::MalformedRsaKey { reason };
    let block = pem::parse(pem_text).map_err(|e| malformed(format!("not pem: {e}")))?;
    let info = rsa::pkcs8::PrivateKeyInfo::from_der(block.contents())
        .map_err(|e| malformed(format!("not a pkcs#8 private key: {e}")))?;
    let found = match info.algorithm.oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => return Ok(()),
        "1.2.840.10045.2.1" => "an ec key".to_owned(),
        "1.3.101.112" => "an ed25519 key".to_owned(),
        "1.3.101.113" => "an ed448 key".to_owned(),
        "1.2.840.10040.4.1" => "a dsa key".to_owned(),
        "1.2.840.113549.1.1.10" => "an rsa-pss key".to_owned(),
        oid => format!("a key of algorithm {oid}"),
    };
    Err(Error::UnsupportedKey {
        found,
        hint: RSA_HINT,
    })
}

fn public_pem(key: &RsaPublicKey) -> Result<String> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| Error::Rsa {
            operation: "public key export",
            reason: e.to_string(),
        })
}

/// Verifies an RSA PKCS#1 v1.5 SHA-256 signature (`openssl dgst -sha256 -verify`).
pub fn verify_sha256(public: &RsaRecipient, message: &[u8], signature: &[u8]) -> bool {
    use rsa::signature::Verifier as _;
    let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature) else {
        return false;
    };
    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public.key.clone())
        .verify(message, &signature)
        .is_ok()
}

/// Encrypts `plaintext` into `hyper-protect-basic.<b64 password>.<b64 data>`.
///
/// The password holds no `0x00` or `0x0a` byte, so that `openssl enc -pass stdin` (which stops
/// at either) derives the same key from it as we do.
pub fn encrypt(plaintext: &[u8], recipient: &RsaRecipient) -> Result<String> {
    let mut rng = rand::thread_rng();
    let mut password = Zeroizing::new([0u8; PASSWORD_LEN]);
    for byte in password.iter_mut() {
        while *byte == 0 || *byte == b'\n' {
            *byte = (rng.next_u32() & 0xff) as u8;
        }
    }
    let encrypted_password = recipient
        .key
        .encrypt(&mut rng, Pkcs1v15Encrypt, password.as_slice())
        .map_err(|e| Error::Rsa {
            operation: "encryption",
            reason: e.to_string(),
        })?;
    let mut salt = [0u8; 8];
    rng.fill_bytes(&mut salt);
    let data = openssl_enc(password.as_slice(), &salt, plaintext);
    Ok(format!(
        "{PREFIX}.{}.{}",
        B64.encode(encrypted_password),
        B64.encode(data)
    ))
}

/// Decrypts a `hyper-protect-basic.<b64 password>.<b64 data>` section with `key`.
pub fn decrypt(section: &str, key: &RsaSecretKey) -> Result<Vec<u8>> {
    let malformed = |reason: String| Error::MalformedSection { reason };
    let mut parts = section.trim().split('.');
    let (Some(prefix), Some(password), Some(data), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(
            "expected hyper-protect-basic.<b64 password>.<b64 data>".to_owned(),
        ));
    };
    if prefix != PREFIX {
        return Err(malformed(format!(
            "got prefix {prefix:?}, expected {PREFIX:?}"
        )));
    }
    let password = B64
        .decode(password)
        .map_err(|e| malformed(format!("password is not base64: {e}")))?;
    let data = B64
        .decode(data)
        .map_err(|e| malformed(format!("data is not base64: {e}")))?;
    let password = key.decrypt(&password)?;
    openssl_dec(stdin_password(&password), &data)
}

/// What `openssl enc -pass stdin` makes of a password: the bytes before the first newline or
/// NUL (it reads one line into a C string).
fn stdin_password(password: &[u8]) -> &[u8] {
    let end = password
        .iter()
        .position(|b| *b == 0 || *b == b'\n')
        .unwrap_or(password.len());
    &password[..end]
}

fn derive(password: &[u8], salt: &[u8]) -> Zeroizing<[u8; 48]> {
    let mut key_iv = Zeroizing::new([0u8; 48]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, PBKDF2_ITERATIONS, key_iv.as_mut_slice());
    key_iv
}

/// `openssl enc -aes-256-cbc -pbkdf2 -S <salt hex>` output for `password`: `Salted__`, the
/// salt, the ciphertext (binary; `openssl enc -a` would base64 it in 64-column lines).
pub fn openssl_enc(password: &[u8], salt: &[u8; 8], plaintext: &[u8]) -> Vec<u8> {
    let key_iv = derive(password, salt);
    let cipher = cbc::Encryptor::<aes::Aes256>::new(key_iv[..32].into(), key_iv[32..].into());
    let ciphertext = cipher.encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let mut out = Vec::with_capacity(16 + ciphertext.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(salt);
    out.extend_from_slice(&ciphertext);
    out
}

/// Reverses [`openssl_enc`]: `openssl enc -d -aes-256-cbc -pbkdf2`.
pub fn openssl_dec(password: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::SectionDecryption { reason };
    if data.len() < 32 || !data.starts_with(MAGIC) || !(data.len() - 16).is_multiple_of(16) {
        return Err(fail(format!(
            "got {} bytes, expected 'Salted__', an 8-byte salt and whole AES blocks",
            data.len()
        )));
    }
    let key_iv = derive(password, &data[8..16]);
    let cipher = cbc::Decryptor::<aes::Aes256>::new(key_iv[..32].into(), key_iv[32..].into());
    cipher
        .decrypt_padded_vec_mut::<Pkcs7>(&data[16..])
        .map_err(|_| fail("bad padding: wrong password or modified data".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_framing_round_trips_and_rejects_a_wrong_password() {
        let data = openssl_enc(b"pw", b"saltsalt", b"hello");
        assert_eq!(&data[..16], b"Salted__saltsalt");
        assert_eq!(data.len(), 32);
        assert_eq!(openssl_dec(b"pw", &data).unwrap(), b"hello");
        assert!(openssl_dec(b"other", &data).is_err());
        assert!(matches!(
            openssl_dec(b"pw", &data[..20]),
            Err(Error::SectionDecryption { .. })
        ));
    }

    #[test]
    fn stdin_password_stops_at_newline_or_nul() {
        assert_eq!(stdin_password(b"ab\ncd"), b"ab");
        assert_eq!(stdin_password(b"ab\0cd"), b"ab");
        assert_eq!(stdin_password(b"abcd"), b"abcd");
    }

    #[test]
    fn malformed_sections_are_refused() {
        let key = RsaSecretKey::generate(2048).unwrap();
        for bad in ["x.y.z", "hyper-protect-basic.a", "hyper-protect-basic.!.x"] {
            assert!(matches!(
                decrypt(bad, &key),
                Err(Error::MalformedSection { .. })
            ));
        }
        let section = encrypt(b"workload", &key.recipient()).unwrap();
        assert_eq!(decrypt(&section, &key).unwrap(), b"workload");
        assert_eq!(format!("{key:?}"), "RsaSecretKey([redacted])");
    }
}
