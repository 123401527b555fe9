//! The DER layer of notary key files: notary's own "PKCS#8" plaintext, standard PKCS#8, and
//! PBES2 (PBKDF2 + AES-CBC) encryption as in `EncryptedPrivateKeyInfo`.
//!
//! Notary's plaintext is `SEQUENCE { INTEGER version, SEQUENCE OF OID, OCTET STRING key }`:
//! ECDSA with version 1 and `{ecPublicKey, prime256v1}`, RSA with version 0 and `{rsaEncryption}`
//! (no NULL), Ed25519 with version 0 and `{1.3.6.1.4.1.11591.15.1}` and 96 raw bytes
//! (`public || seed || public`). Standard PKCS#8 differs only in the parameters (NULL for RSA),
//! optional trailing attributes / public key, and Ed25519 (`1.3.101.112`, nested OCTET STRING).

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _};
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef};
use der::{Decode as _, Reader as _, Sequence};
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
use rsa::traits::PublicKeyParts as _;
use zeroize::Zeroizing;

use crate::keys::{MIN_RSA_BITS, Material, PrivateKey};

/// PBKDF2 iteration count notary writes.
pub(super) const NOTARY_ITERATIONS: u32 = 2048;
/// Iteration counts above this are refused (a file could otherwise stall the reader).
pub(super) const MAX_ITERATIONS: u32 = 10_000_000;

const OID_PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const OID_PBKDF2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.12");
const OID_HMAC_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.7");
const OID_HMAC_SHA224: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.8");
const OID_HMAC_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.9");
const OID_HMAC_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.10");
const OID_HMAC_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.11");
const OID_AES128_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
const OID_AES192_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.22");
const OID_AES256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_NOTARY_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11591.15.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Why a DER blob could not be used. The caller turns it into the crate error with context.
#[derive(Debug)]
pub(super) enum Failure {
    /// Structurally broken (or, after decryption, the sign of a wrong passphrase).
    Malformed(String),
    /// Well-formed but not something we can use (curve, cipher, weak RSA...).
    Unsupported(String),
    /// Bad padding after decryption: wrong passphrase (or a damaged ciphertext).
    BadPadding,
    /// An RSA key below the minimum size.
    WeakRsa(usize),
}

type Res<T> = std::result::Result<T, Failure>;

fn malformed(what: &str) -> impl Fn(der::Error) -> Failure + '_ {
    move |e| Failure::Malformed(format!("{what}: {e}"))
}

/// `AlgorithmIdentifier` with optional parameters of any type (OID, NULL, SEQUENCE).
#[derive(Sequence)]
struct AlgId<'a> {
    oid: ObjectIdentifier,
    params: Option<AnyRef<'a>>,
}

#[derive(Sequence)]
struct EncryptedPrivateKeyInfo<'a> {
    algorithm: AlgId<'a>,
    data: OctetStringRef<'a>,
}

#[derive(Sequence)]
struct Pbes2Params<'a> {
    kdf: AlgId<'a>,
    encryption: AlgId<'a>,
}

#[derive(Sequence)]
struct Pbkdf2Params<'a> {
    salt: OctetStringRef<'a>,
    iterations: u32,
    key_length: Option<u32>,
    prf: Option<AlgId<'a>>,
}

/// The plaintext `(version, algorithm, privateKey)` triple.
#[derive(Sequence)]
struct NotaryPrivateKeyInfo<'a> {
    version: u8,
    algorithm: AlgId<'a>,
    private_key: OctetStringRef<'a>,
}

fn to_der(value: &impl der::Encode) -> Res<Vec<u8>> {
    value
        .to_der()
        .map_err(|e| Failure::Malformed(format!("DER encoding failed: {e}")))
}

fn any_from_der(bytes: &[u8]) -> Res<AnyRef<'_>> {
    AnyRef::from_der(bytes).map_err(malformed("DER encoding failed"))
}

/// Encodes `key` in notary's PKCS#8 dialect (what notary encrypts).
pub(super) fn encode_notary_pkcs8(key: &PrivateKey) -> Res<Zeroizing<Vec<u8>>> {
    let (version, oids, body): (u8, Vec<ObjectIdentifier>, Zeroizing<Vec<u8>>) =
        match key.material() {
            Material::Ecdsa(k) => (1, vec![OID_EC_PUBLIC_KEY, OID_P256], encode_sec1(&k.key)?),
            Material::Rsa(k) => {
                let doc = k
                    .to_pkcs1_der()
                    .map_err(|e| Failure::Malformed(format!("PKCS#1 encoding failed: {e}")))?;
                (0, vec![OID_RSA], Zeroizing::new(doc.as_bytes().to_vec()))
            }
            Material::Ed25519(k) => {
                let public = k.verifying_key().to_bytes();
                let seed = Zeroizing::new(k.to_bytes());
                let mut raw = Zeroizing::new(Vec::with_capacity(96));
                raw.extend_from_slice(&public);
                raw.extend_from_slice(seed.as_slice());
                raw.extend_from_slice(&public);
                (0, vec![OID_NOTARY_ED25519], raw)
            }
        };
    // Notary writes a SEQUENCE OF OID; with at most two OIDs that is an AlgorithmIdentifier
    // whose parameters are the second OID.
    let params = oids.get(1).map(AnyRef::from);
    let first = oids.first().copied().unwrap_or(OID_RSA);
    let info = NotaryPrivateKeyInfo {
        version,
        algorithm: AlgId { oid: first, params },
        private_key: OctetStringRef::new(&body).map_err(malformed("private key"))?,
    };
    Ok(Zeroizing::new(to_der(&info)?))
}

/// SEC1 `ECPrivateKey` with the `[0]` parameters and `[1]` public key, as Go's
/// `x509.MarshalECPrivateKey` writes it (RustCrypto's `to_sec1_der` leaves the curve out).
#[derive(Sequence)]
struct EcPrivateKey<'a> {
    version: u8,
    private_key: OctetStringRef<'a>,
    #[asn1(context_specific = "0", optional = "true")]
    parameters: Option<ObjectIdentifier>,
    #[asn1(context_specific = "1", optional = "true")]
    public_key: Option<BitStringRef<'a>>,
}

fn encode_sec1(key: &p256::ecdsa::SigningKey) -> Res<Zeroizing<Vec<u8>>> {
    let scalar = Zeroizing::new(key.to_bytes());
    let point = key.verifying_key().to_encoded_point(false);
    let sec1 = EcPrivateKey {
        version: 1,
        private_key: OctetStringRef::new(scalar.as_slice()).map_err(malformed("EC key"))?,
        parameters: Some(OID_P256),
        public_key: Some(
            BitStringRef::from_bytes(point.as_bytes()).map_err(malformed("EC point"))?,
        ),
    };
    Ok(Zeroizing::new(to_der(&sec1)?))
}

/// Decodes notary's or standard PKCS#8 plaintext into a key.
pub(super) fn decode_pkcs8(der_bytes: &[u8]) -> Res<PrivateKey> {
    let mut reader = der::SliceReader::new(der_bytes).map_err(malformed("PKCS#8"))?;
    let (version, oid, params, body) = reader
        .sequence(|r| {
            let version: u8 = r.decode()?;
            let algorithm: AlgId<'_> = r.decode()?;
            let body: OctetStringRef<'_> = r.decode()?;
            // Standard PKCS#8 may carry [0] attributes and [1] publicKey: skip them.
            while !r.is_finished() {
                let _: AnyRef<'_> = r.decode()?;
            }
            Ok((version, algorithm.oid, algorithm.params, body.as_bytes()))
        })
        .map_err(malformed("PKCS#8 PrivateKeyInfo"))?;
    reader
        .finish(())
        .map_err(malformed("PKCS#8 PrivateKeyInfo"))?;
    if version > 1 {
        return Err(Failure::Malformed(format!("PKCS#8 version {version}")));
    }
    if oid == OID_EC_PUBLIC_KEY {
        if let Some(params) = params {
            let curve: ObjectIdentifier = params.decode_as().map_err(malformed("EC curve"))?;
            if curve != OID_P256 {
                return Err(Failure::Unsupported(format!(
                    "EC curve {curve}: only P-256 (prime256v1) is supported"
                )));
            }
        }
        decode_sec1(body)
    } else if oid == OID_RSA {
        if params.is_some_and(|p| !p.is_null()) {
            return Err(Failure::Malformed(
                "RSA algorithm parameters are not NULL".into(),
            ));
        }
        decode_pkcs1(body)
    } else if oid == OID_NOTARY_ED25519 {
        decode_notary_ed25519(body)
    } else if oid == OID_ED25519 {
        let seed = OctetStringRef::from_der(body).map_err(malformed("Ed25519 key"))?;
        let seed: &[u8; 32] = seed
            .as_bytes()
            .try_into()
            .map_err(|_| Failure::Malformed("Ed25519 seed is not 32 bytes".into()))?;
        Ok(PrivateKey::from_ed25519(
            ed25519_dalek::SigningKey::from_bytes(seed),
        ))
    } else {
        Err(Failure::Unsupported(format!(
            "private key algorithm {oid}: expected ECDSA P-256, RSA or Ed25519"
        )))
    }
}

/// A SEC1 `ECPrivateKey` (P-256).
pub(super) fn decode_sec1(der_bytes: &[u8]) -> Res<PrivateKey> {
    let secret = p256::SecretKey::from_sec1_der(der_bytes).map_err(|_| {
        Failure::Malformed("not a P-256 SEC1 ECPrivateKey (or a key on another curve)".into())
    })?;
    Ok(PrivateKey::from_p256(p256::ecdsa::SigningKey::from(secret)))
}

/// A PKCS#1 `RSAPrivateKey` of at least [`MIN_RSA_BITS`].
pub(super) fn decode_pkcs1(der_bytes: &[u8]) -> Res<PrivateKey> {
    let key = rsa::RsaPrivateKey::from_pkcs1_der(der_bytes)
        .map_err(|e| Failure::Malformed(format!("not a PKCS#1 RSAPrivateKey: {e}")))?;
    let bits = key.n().bits();
    if bits < MIN_RSA_BITS {
        return Err(Failure::WeakRsa(bits));
    }
    Ok(PrivateKey::from_rsa(key))
}

/// Notary's 96-byte Ed25519 form: `public || seed || public`, checked for consistency.
pub(super) fn decode_notary_ed25519(raw: &[u8]) -> Res<PrivateKey> {
    if raw.len() != 96 {
        return Err(Failure::Malformed(format!(
            "Ed25519 key is {} bytes, expected 96 (public || seed || public)",
            raw.len()
        )));
    }
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&raw[32..64]);
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = key.verifying_key().to_bytes();
    if raw[..32] != public || raw[64..] != public {
        return Err(Failure::Malformed(
            "Ed25519 public key does not match the seed".into(),
        ));
    }
    Ok(PrivateKey::from_ed25519(key))
}

/// Encrypts `plaintext` as notary does: PBES2, PBKDF2-HMAC-SHA1 (no PRF field), 2048
/// iterations, 8-byte salt, AES-256-CBC with a random IV. Returns `EncryptedPrivateKeyInfo` DER.
pub(super) fn encrypt_pbes2(plaintext: &[u8], passphrase: &[u8]) -> Res<Vec<u8>> {
    use rand::RngCore as _;
    let mut salt = [0u8; 8];
    let mut iv = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut iv);
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(passphrase, &salt, NOTARY_ITERATIONS, key.as_mut_slice());
    let ciphertext = cbc::Encryptor::<aes::Aes256>::new(key.as_slice().into(), (&iv).into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext);

    let kdf_params = to_der(&Pbkdf2Params {
        salt: OctetStringRef::new(&salt).map_err(malformed("salt"))?,
        iterations: NOTARY_ITERATIONS,
        key_length: None,
        prf: None,
    })?;
    let iv_der = to_der(&OctetStringRef::new(&iv).map_err(malformed("IV"))?)?;
    let pbes2 = to_der(&Pbes2Params {
        kdf: AlgId {
            oid: OID_PBKDF2,
            params: Some(any_from_der(&kdf_params)?),
        },
        encryption: AlgId {
            oid: OID_AES256_CBC,
            params: Some(any_from_der(&iv_der)?),
        },
    })?;
    to_der(&EncryptedPrivateKeyInfo {
        algorithm: AlgId {
            oid: OID_PBES2,
            params: Some(any_from_der(&pbes2)?),
        },
        data: OctetStringRef::new(&ciphertext).map_err(malformed("ciphertext"))?,
    })
}

/// Which HMAC PBKDF2 uses.
#[derive(Clone, Copy)]
enum Prf {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// The parsed parameters of a PBES2 `EncryptedPrivateKeyInfo`.
pub(super) struct Pbes2<'a> {
    salt: &'a [u8],
    iterations: u32,
    prf: Prf,
    key_len: usize,
    iv: &'a [u8],
    ciphertext: &'a [u8],
}

/// Parses (without decrypting) an `EncryptedPrivateKeyInfo`, checking every bound.
pub(super) fn parse_pbes2(der_bytes: &[u8]) -> Res<Pbes2<'_>> {
    let info = EncryptedPrivateKeyInfo::from_der(der_bytes)
        .map_err(malformed("EncryptedPrivateKeyInfo"))?;
    if info.algorithm.oid != OID_PBES2 {
        return Err(Failure::Unsupported(format!(
            "encryption scheme {}: only PBES2 is supported",
            info.algorithm.oid
        )));
    }
    let params: Pbes2Params<'_> = info
        .algorithm
        .params
        .ok_or_else(|| Failure::Malformed("PBES2 parameters missing".into()))?
        .decode_as()
        .map_err(malformed("PBES2 parameters"))?;
    if params.kdf.oid != OID_PBKDF2 {
        return Err(Failure::Unsupported(format!(
            "key derivation {}: only PBKDF2 is supported",
            params.kdf.oid
        )));
    }
    let kdf: Pbkdf2Params<'_> = params
        .kdf
        .params
        .ok_or_else(|| Failure::Malformed("PBKDF2 parameters missing".into()))?
        .decode_as()
        .map_err(malformed("PBKDF2 parameters"))?;
    let prf = match &kdf.prf {
        None => Prf::Sha1,
        Some(p) if p.params.is_some_and(|x| !x.is_null()) => {
            return Err(Failure::Malformed("PRF parameters are not NULL".into()));
        }
        Some(p) if p.oid == OID_HMAC_SHA1 => Prf::Sha1,
        Some(p) if p.oid == OID_HMAC_SHA224 => Prf::Sha224,
        Some(p) if p.oid == OID_HMAC_SHA256 => Prf::Sha256,
        Some(p) if p.oid == OID_HMAC_SHA384 => Prf::Sha384,
        Some(p) if p.oid == OID_HMAC_SHA512 => Prf::Sha512,
        Some(p) => {
            return Err(Failure::Unsupported(format!("PBKDF2 PRF {}", p.oid)));
        }
    };
    if kdf.iterations == 0 || kdf.iterations > MAX_ITERATIONS {
        return Err(Failure::Unsupported(format!(
            "PBKDF2 iteration count {} is outside 1..={MAX_ITERATIONS}",
            kdf.iterations
        )));
    }
    let salt = kdf.salt.as_bytes();
    if salt.is_empty() || salt.len() > 1024 {
        return Err(Failure::Malformed(format!(
            "PBKDF2 salt of {} bytes",
            salt.len()
        )));
    }
    let key_len = match params.encryption.oid {
        o if o == OID_AES128_CBC => 16,
        o if o == OID_AES192_CBC => 24,
        o if o == OID_AES256_CBC => 32,
        other => {
            return Err(Failure::Unsupported(format!(
                "cipher {other}: only AES-128/192/256-CBC are supported"
            )));
        }
    };
    if let Some(len) = kdf.key_length
        && usize::try_from(len).ok() != Some(key_len)
    {
        return Err(Failure::Malformed(format!(
            "PBKDF2 key length {len} does not fit the cipher ({key_len} bytes)"
        )));
    }
    let iv: OctetStringRef<'_> = params
        .encryption
        .params
        .ok_or_else(|| Failure::Malformed("cipher IV missing".into()))?
        .decode_as()
        .map_err(malformed("cipher IV"))?;
    let ciphertext = info.data.as_bytes();
    if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
        return Err(Failure::Malformed(format!(
            "ciphertext of {} bytes is not a whole number of AES blocks",
            ciphertext.len()
        )));
    }
    Ok(Pbes2 {
        salt,
        iterations: kdf.iterations,
        prf,
        key_len,
        iv: iv.as_bytes(),
        ciphertext,
    })
}

impl Pbes2<'_> {
    /// Derives the key and decrypts; `BadPadding` signals a wrong passphrase.
    pub(super) fn decrypt(&self, passphrase: &[u8]) -> Res<Zeroizing<Vec<u8>>> {
        let mut key = Zeroizing::new(vec![0u8; self.key_len]);
        let (salt, n) = (self.salt, self.iterations);
        match self.prf {
            Prf::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(passphrase, salt, n, &mut key),
            Prf::Sha224 => pbkdf2::pbkdf2_hmac::<sha2::Sha224>(passphrase, salt, n, &mut key),
            Prf::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase, salt, n, &mut key),
            Prf::Sha384 => pbkdf2::pbkdf2_hmac::<sha2::Sha384>(passphrase, salt, n, &mut key),
            Prf::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(passphrase, salt, n, &mut key),
        }
        aes_cbc_decrypt(&key, self.iv, self.ciphertext)
    }
}

/// AES-CBC decryption (key size from `key`) with PKCS#5 padding removal.
pub(super) fn aes_cbc_decrypt(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Res<Zeroizing<Vec<u8>>> {
    let bad_params = |_| Failure::Malformed("bad AES key or IV length".into());
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let len = match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map_err(bad_params)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(<[u8]>::len),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv)
            .map_err(bad_params)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(<[u8]>::len),
        _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map_err(bad_params)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(<[u8]>::len),
    }
    .map_err(|_| Failure::BadPadding)?;
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notary_plaintext_layout() {
        let key = PrivateKey::generate_ecdsa();
        let der_bytes = encode_notary_pkcs8(&key).unwrap();
        // SEQUENCE { INTEGER 1, SEQUENCE { OID ecPublicKey, OID prime256v1 }, OCTET STRING ... }
        let expected_prefix: &[u8] = &[
            0x02, 0x01, 0x01, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
            0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04,
        ];
        assert_eq!(&der_bytes[..3], &[0x30, 0x81, 0x93]);
        assert_eq!(&der_bytes[3..3 + expected_prefix.len()], expected_prefix);
        let back = decode_pkcs8(&der_bytes).unwrap();
        assert_eq!(back.key_id(), key.key_id());

        let ed = PrivateKey::generate_ed25519();
        let der_bytes = encode_notary_pkcs8(&ed).unwrap();
        // version 0, SEQUENCE { OID 1.3.6.1.4.1.11591.15.1 } with no NULL, 96-byte body.
        assert_eq!(&der_bytes[2..7], &[0x02, 0x01, 0x00, 0x30, 0x0b]);
        assert_eq!(
            &der_bytes[der_bytes.len() - 98..der_bytes.len() - 96],
            &[0x04, 96]
        );
        assert_eq!(decode_pkcs8(&der_bytes).unwrap().key_id(), ed.key_id());
    }

    #[test]
    fn pbes2_round_trip_and_wrong_passphrase() {
        let plain = b"0123456789abcdef0123";
        let enc = encrypt_pbes2(plain, b"correct horse").unwrap();
        let parsed = parse_pbes2(&enc).unwrap();
        assert_eq!(parsed.iterations, NOTARY_ITERATIONS);
        assert_eq!(parsed.salt.len(), 8);
        assert_eq!(parsed.ciphertext.len(), 32);
        assert_eq!(&parsed.decrypt(b"correct horse").unwrap()[..], plain);
        // With overwhelming probability the padding check catches a wrong passphrase.
        assert!(parsed.decrypt(b"wrong").is_err());
    }
}
