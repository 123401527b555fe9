//! The state image (spec: "State image"): the server's `keys/` directory and its init
//! parameters, sealed under two secrets, the client's `SECRET` and the appliance's
//! [`ApplianceSecret`], which never leaves hpvs-sim; any change is detected. No I/O.
//!
//! # Format (version 2)
//!
//! `state` is the standard base64 of these bytes:
//!
//! ```text
//! offset  size  field
//!      0     8  magic "SBSSTAT2"
//!      8     4  PBKDF2 iterations, big-endian u32
//!     12    32  salt (random)
//!     44    32  secret check: bytes 32..64 of P = PBKDF2-HMAC-SHA256(SECRET, salt, iterations, 64)
//!     76    32  appliance check: HMAC-SHA256(A, "hpvs-sim sbs state: appliance check" || salt)
//!    108    12  nonce of the data key
//!    120    48  the data key (32 random bytes made by the server), AES-256-GCM sealed under
//!               KEK = HMAC-SHA256(A, "hpvs-sim sbs state: key-encryption key" || P[0..32]),
//!               AAD = bytes 0..120
//!    168    12  nonce of the payload
//!    180     -  the payload, AES-256-GCM sealed under the data key, AAD = bytes 0..180
//! ```
//!
//! `A` is the appliance secret (32 bytes: hpvs-sim derives it with HKDF from its sealing
//! key, so it never leaves the appliance and survives restarts). `SECRET` is used as the
//! UTF-8 text the client sent (the base64 of its 128 random bytes). The payload is JSON:
//! `{"version": 1, "params": {<the init parameters as POST /image takes them>}, "keys":
//! {"<path under keys/>": "<base64 of the file>"}}`.
//!
//! The key-encryption key depends on both secrets: an exported state opens only on the
//! appliance that exported it (any build server of it, a new one included) and only with the
//! same `SECRET`. Opening, in order: a secret whose check bytes differ is
//! [`SbsError::StateSecretWrong`]; an appliance whose check differs is
//! [`SbsError::StateOtherAppliance`] (the check is an HMAC under `A`: it tells nothing of
//! `A`); with both right, a data key or payload that fails GCM authentication is
//! [`SbsError::StateTampered`]. A changed header (iterations, salt, checks) makes a secret
//! look wrong. Iterations outside 10,000..=10,000,000 are refused before any derivation.
//! Version 1 images (whose key-encryption key came from `SECRET` alone) are refused with
//! [`SbsError::StateVersion`].

use std::collections::BTreeMap;

use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::error::SbsError;
use super::params::constant_time_eq;

const MAGIC: &[u8; 8] = b"SBSSTAT2";
/// The image format version (the magic's last digit).
const FORMAT: u32 = 2;
/// The payload's version.
const VERSION: u32 = 1;
/// PBKDF2 iterations of an export.
pub const ITERATIONS: u32 = 100_000;
const MIN_ITERATIONS: u32 = 10_000;
const MAX_ITERATIONS: u32 = 10_000_000;
const HEADER: usize = 108;
const SECRET_CHECK: std::ops::Range<usize> = 44..76;
const APPLIANCE_CHECK: std::ops::Range<usize> = 76..HEADER;
const APPLIANCE_CHECK_LABEL: &[u8] = b"hpvs-sim sbs state: appliance check";
const KEK_LABEL: &[u8] = b"hpvs-sim sbs state: key-encryption key";

/// The appliance's secret of the state image: 32 bytes that never leave hpvs-sim
/// (`Debug` prints `[redacted]`). hpvs-sim hands each of its build servers the same one,
/// so a state exported by one opens on any other of the same appliance.
#[derive(Clone)]
pub struct ApplianceSecret(Zeroizing<[u8; 32]>);

impl ApplianceSecret {
    /// The secret of these bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    fn hmac(&self, label: &[u8], data: &[u8]) -> ring::hmac::Tag {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0[..]);
        let mut context = ring::hmac::Context::with_key(&key);
        context.update(label);
        context.update(data);
        context.sign()
    }
}

impl std::fmt::Debug for ApplianceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApplianceSecret([redacted])")
    }
}
const KEY_BLOCK: usize = 12 + 32 + 16;
const PAYLOAD_START: usize = HEADER + KEY_BLOCK + 12;

/// What a state image holds, opened.
#[derive(Serialize, Deserialize)]
pub struct StatePayload {
    /// The format version (1).
    pub version: u32,
    /// The init parameters as `POST /image` takes them (secrets included), if the
    /// exporting server had any.
    pub params: Option<serde_json::Value>,
    /// The files of `keys/`, by relative path, base64.
    pub keys: BTreeMap<String, String>,
}

impl std::fmt::Debug for StatePayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatePayload")
            .field("version", &self.version)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl StatePayload {
    /// A payload of `params` and the files of `keys/`.
    pub fn new(params: Option<serde_json::Value>, keys: &BTreeMap<String, Vec<u8>>) -> Self {
        let b64 = base64::engine::general_purpose::STANDARD;
        Self {
            version: VERSION,
            params,
            keys: keys
                .iter()
                .map(|(k, v)| (k.clone(), b64.encode(v)))
                .collect(),
        }
    }

    /// The files of `keys/`, decoded, each path checked to stay under `keys/`.
    pub fn key_files(&self) -> Result<BTreeMap<String, Vec<u8>>, SbsError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        self.keys
            .iter()
            .map(|(path, data)| {
                if !super::store::is_relative_key_path(path) {
                    return Err(malformed(format!("key path {path:?} leaves keys/")));
                }
                let bytes = b64
                    .decode(data)
                    .map_err(|e| malformed(format!("key file {path:?}: {e}")))?;
                Ok((path.clone(), bytes))
            })
            .collect()
    }
}

fn malformed(reason: String) -> SbsError {
    SbsError::StateMalformed { reason }
}

fn random(bytes: &mut [u8]) -> Result<(), SbsError> {
    SystemRandom::new()
        .fill(bytes)
        .map_err(|_| SbsError::Crypto { what: "randomness" })
}

/// PBKDF2-HMAC-SHA256 of `secret`: the key-encryption key and the check bytes.
fn derive(secret: &str, salt: &[u8], iterations: u32) -> Result<Zeroizing<[u8; 64]>, SbsError> {
    let rounds =
        std::num::NonZeroU32::new(iterations).ok_or(SbsError::Crypto { what: "pbkdf2" })?;
    let mut out = Zeroizing::new([0u8; 64]);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        secret.as_bytes(),
        &mut out[..],
    );
    Ok(out)
}

fn aead_key(bytes: &[u8]) -> Result<LessSafeKey, SbsError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| SbsError::Crypto {
            what: "aes-256-gcm key",
        })
}

fn nonce(bytes: &[u8]) -> Result<Nonce, SbsError> {
    Nonce::try_assume_unique_for_key(bytes).map_err(|_| malformed("bad nonce".to_owned()))
}

/// Seals `payload` under `secret` and `appliance`; the base64 text of the `state` field.
pub fn seal(
    payload: &StatePayload,
    secret: &str,
    appliance: &ApplianceSecret,
) -> Result<String, SbsError> {
    seal_with(payload, secret, appliance, ITERATIONS)
}

fn seal_with(
    payload: &StatePayload,
    secret: &str,
    appliance: &ApplianceSecret,
    iterations: u32,
) -> Result<String, SbsError> {
    let plain = Zeroizing::new(serde_json::to_vec(payload).map_err(|e| malformed(e.to_string()))?);
    let mut out = Vec::with_capacity(PAYLOAD_START + plain.len() + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&iterations.to_be_bytes());
    let mut salt = [0u8; 32];
    random(&mut salt)?;
    out.extend_from_slice(&salt);
    let derived = derive(secret, &salt, iterations)?;
    out.extend_from_slice(&derived[32..]);
    out.extend_from_slice(appliance.hmac(APPLIANCE_CHECK_LABEL, &salt).as_ref());
    let kek = Zeroizing::new(appliance.hmac(KEK_LABEL, &derived[..32]).as_ref().to_vec());

    let mut data_key = Zeroizing::new([0u8; 32]);
    random(&mut data_key[..])?;
    let mut key_nonce = [0u8; 12];
    random(&mut key_nonce)?;
    out.extend_from_slice(&key_nonce);
    let mut wrapped = data_key.to_vec();
    aead_key(&kek)?
        .seal_in_place_append_tag(
            nonce(&key_nonce)?,
            Aad::from(&out[..HEADER + 12]),
            &mut wrapped,
        )
        .map_err(|_| SbsError::Crypto {
            what: "seal the data key",
        })?;
    out.extend_from_slice(&wrapped);

    let mut payload_nonce = [0u8; 12];
    random(&mut payload_nonce)?;
    out.extend_from_slice(&payload_nonce);
    let mut sealed = plain.to_vec();
    aead_key(&data_key[..])?
        .seal_in_place_append_tag(nonce(&payload_nonce)?, Aad::from(&out[..]), &mut sealed)
        .map_err(|_| SbsError::Crypto {
            what: "seal the payload",
        })?;
    out.extend_from_slice(&sealed);
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// Opens the `state` field of a state image with `secret` on the appliance of `appliance`.
pub fn open(
    state: &str,
    secret: &str,
    appliance: &ApplianceSecret,
) -> Result<StatePayload, SbsError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(state.trim())
        .map_err(|e| malformed(format!("not base64: {e}")))?;
    if bytes.len() < PAYLOAD_START + 16 {
        return Err(malformed(format!(
            "{} bytes, shorter than the smallest image",
            bytes.len()
        )));
    }
    if bytes[..7] != MAGIC[..7] {
        return Err(malformed(
            "not an SBS state image of this server".to_owned(),
        ));
    }
    if bytes[7] != MAGIC[7] {
        return Err(SbsError::StateVersion {
            found: u32::from(bytes[7].wrapping_sub(b'0')),
            supported: FORMAT,
        });
    }
    let iterations = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(malformed(format!(
            "{iterations} PBKDF2 iterations, expected {MIN_ITERATIONS} to {MAX_ITERATIONS}"
        )));
    }
    let derived = derive(secret, &bytes[12..44], iterations)?;
    if !constant_time_eq(&derived[32..], &bytes[SECRET_CHECK]) {
        return Err(SbsError::StateSecretWrong);
    }
    let appliance_check = appliance.hmac(APPLIANCE_CHECK_LABEL, &bytes[12..44]);
    if !constant_time_eq(appliance_check.as_ref(), &bytes[APPLIANCE_CHECK]) {
        return Err(SbsError::StateOtherAppliance);
    }
    let kek = Zeroizing::new(appliance.hmac(KEK_LABEL, &derived[..32]).as_ref().to_vec());
    let mut data_key = Zeroizing::new(bytes[HEADER + 12..HEADER + KEY_BLOCK].to_vec());
    let opened_key = aead_key(&kek)?
        .open_in_place(
            nonce(&bytes[HEADER..HEADER + 12])?,
            Aad::from(&bytes[..HEADER + 12]),
            &mut data_key,
        )
        .map_err(|_| SbsError::StateTampered { part: "data key" })?
        .to_vec();
    let opened_key = Zeroizing::new(opened_key);
    let mut payload = Zeroizing::new(bytes[PAYLOAD_START..].to_vec());
    let plain = aead_key(&opened_key)?
        .open_in_place(
            nonce(&bytes[HEADER + KEY_BLOCK..PAYLOAD_START])?,
            Aad::from(&bytes[..PAYLOAD_START]),
            &mut payload,
        )
        .map_err(|_| SbsError::StateTampered { part: "payload" })?;
    let opened: StatePayload =
        serde_json::from_slice(plain).map_err(|e| malformed(format!("payload: {e}")))?;
    if opened.version != VERSION {
        return Err(SbsError::StateVersion {
            found: opened.version,
            supported: VERSION,
        });
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn sample() -> StatePayload {
        let mut keys = BTreeMap::new();
        keys.insert("root.key".to_owned(), b"root key bytes".to_vec());
        StatePayload::new(Some(serde_json::json!({"SECRET": "s"})), &keys)
    }

    fn flip(state: &str, at: usize) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut bytes = b64.decode(state).unwrap();
        bytes[at] ^= 1;
        b64.encode(bytes)
    }

    fn here() -> ApplianceSecret {
        ApplianceSecret::new([3; 32])
    }

    #[test]
    fn round_trip_and_each_refusal_has_its_error() {
        let state = seal_with(&sample(), "the secret", &here(), MIN_ITERATIONS).unwrap();
        let opened = open(&state, "the secret", &here()).unwrap();
        assert_eq!(opened.key_files().unwrap()["root.key"], b"root key bytes");
        assert_eq!(opened.params.unwrap()["SECRET"], "s");

        assert!(matches!(
            open(&state, "another", &here()),
            Err(SbsError::StateSecretWrong)
        ));
        let last = PAYLOAD_START + 3;
        assert!(matches!(
            open(&flip(&state, last), "the secret", &here()),
            Err(SbsError::StateTampered { part: "payload" })
        ));
        assert!(matches!(
            open(&flip(&state, HEADER + 20), "the secret", &here()),
            Err(SbsError::StateTampered { part: "data key" })
        ));
        assert!(matches!(
            open(&flip(&state, 20), "the secret", &here()),
            Err(SbsError::StateSecretWrong)
        ));
        assert!(matches!(
            open("%%%", "the secret", &here()),
            Err(SbsError::StateMalformed { .. })
        ));
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(&state)
            .unwrap();
        bytes[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        let slow = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert!(matches!(
            open(&slow, "the secret", &here()),
            Err(SbsError::StateMalformed { .. })
        ));
    }

    #[test]
    fn another_appliance_cannot_open_it_even_with_the_secret() {
        let state = seal_with(&sample(), "the secret", &here(), MIN_ITERATIONS).unwrap();
        let elsewhere = ApplianceSecret::new([4; 32]);
        assert!(matches!(
            open(&state, "the secret", &elsewhere),
            Err(SbsError::StateOtherAppliance)
        ));
        // Nor by forging the appliance check: the key-encryption key needs the appliance's
        // secret too, so the data key fails authentication.
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut forged = b64.decode(&state).unwrap();
        let check = elsewhere.hmac(APPLIANCE_CHECK_LABEL, &forged[12..44]);
        forged[APPLIANCE_CHECK].copy_from_slice(check.as_ref());
        assert!(matches!(
            open(&b64.encode(forged), "the secret", &elsewhere),
            Err(SbsError::StateTampered { part: "data key" })
        ));
        // The wrong SECRET is named first, whatever the appliance.
        assert!(matches!(
            open(&state, "another", &elsewhere),
            Err(SbsError::StateSecretWrong)
        ));
        // An appliance check altered in the image: this appliance is refused too.
        assert!(matches!(
            open(&flip(&state, APPLIANCE_CHECK.start), "the secret", &here()),
            Err(SbsError::StateOtherAppliance)
        ));
        assert_eq!(format!("{:?}", here()), "ApplianceSecret([redacted])");
    }

    #[test]
    fn a_version_1_image_is_refused_with_its_version() {
        let state = seal_with(&sample(), "the secret", &here(), MIN_ITERATIONS).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut old = b64.decode(&state).unwrap();
        old[7] = b'1';
        assert!(matches!(
            open(&b64.encode(old), "the secret", &here()),
            Err(SbsError::StateVersion {
                found: 1,
                supported: 2
            })
        ));
    }

    #[test]
    fn key_paths_that_leave_keys_are_refused() {
        let mut payload = sample();
        payload
            .keys
            .insert("../params.json".to_owned(), String::new());
        assert!(matches!(
            payload.key_files(),
            Err(SbsError::StateMalformed { .. })
        ));
    }
}
