//! The security checks of the client update flow, each written once.
//!
//! Every role goes through [`check_signatures`] (threshold of distinct valid keys listed by the
//! role), [`check_expiry`] and [`check_version`]; roots also through [`check_root_self`], [`check_pinning`] and [`check_root_rotation`] (certificate
//! checks and trust pinning). The numbers in comments refer to the client update steps of
//! `shared/spec/notary-v1.md`.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use keymgmt::{KeyAlgorithm, SignatureMethod};
use time::OffsetDateTime;

use crate::canonical;
use crate::error::{Error, Result};
use crate::metadata::{KeyJson, Root, SignatureJson, SignedFile};

/// How a client decides to trust a GUN's first root.
#[derive(Debug, Clone, Default)]
pub struct TrustPinning {
    /// Pinned root certificate key IDs by GUN, or by `prefix*` wildcard.
    pub certs: Vec<(String, Vec<String>)>,
    /// Pinned CA certificates (PEM) by GUN or `prefix*`: the root certificate must be issued by
    /// one of them.
    pub ca: Vec<(String, Vec<u8>)>,
    /// Refuse a first root that no pin covers (no trust on first use).
    pub disable_tofu: bool,
}

impl TrustPinning {
    /// Pins the root of `gun` to a certificate key ID, as an appliance does with the key ID
    /// of a registration file.
    pub fn pin_cert(mut self, gun_pattern: impl Into<String>, key_id: impl Into<String>) -> Self {
        let pattern = gun_pattern.into();
        let key_id = key_id.into();
        match self.certs.iter_mut().find(|(p, _)| *p == pattern) {
            Some((_, ids)) => ids.push(key_id),
            None => self.certs.push((pattern, vec![key_id])),
        }
        self
    }

    /// Pins the roots of `gun_pattern` to certificates issued by `ca_pem`.
    pub fn pin_ca(mut self, gun_pattern: impl Into<String>, ca_pem: Vec<u8>) -> Self {
        self.ca.push((gun_pattern.into(), ca_pem));
        self
    }
}

fn pattern_matches(pattern: &str, gun: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => gun.starts_with(prefix),
        None => pattern == gun,
    }
}

/// Checks that a threshold of distinct keys listed by `keyids` signed `file.canonical`.
///
/// Each signature must name a key of the role (else [`Error::SignatureKeyNotInRole`]), carry a
/// method fitting the key type ([`Error::SignatureMethodMismatch`]) and verify
/// ([`Error::BadSignature`]); keys count once however often they sign. The keys in `keys` are
/// checked to be listed under their own IDs.
pub fn check_signatures<T>(
    role: &str,
    file: &SignedFile<T>,
    keyids: &[String],
    threshold: i64,
    keys: &BTreeMap<String, KeyJson>,
) -> Result<()> {
    let listed: BTreeSet<&str> = keyids.iter().map(String::as_str).collect();
    if threshold < 1 || threshold as usize > listed.len() {
        return Err(Error::InvalidThreshold {
            role: role.to_owned(),
            threshold,
            keys: listed.len(),
        });
    }
    let mut valid = BTreeSet::new();
    let mut first_failure = None;
    for signature in &file.signatures {
        match check_one(role, &file.canonical, signature, &listed, keys) {
            Ok(()) => {
                valid.insert(signature.keyid.as_str());
            }
            Err(e) => {
                if first_failure.is_none() {
                    first_failure = Some(e);
                }
            }
        }
    }
    if valid.len() as i64 >= threshold {
        return Ok(());
    }
    Err(first_failure.unwrap_or(Error::ThresholdNotMet {
        role: role.to_owned(),
        required: threshold,
        valid: valid.len(),
    }))
}

fn check_one(
    role: &str,
    canonical: &[u8],
    signature: &SignatureJson,
    listed: &BTreeSet<&str>,
    keys: &BTreeMap<String, KeyJson>,
) -> Result<()> {
    let key_id = signature.keyid.as_str();
    let not_in_role = || Error::SignatureKeyNotInRole {
        role: role.to_owned(),
        key_id: key_id.to_owned(),
    };
    if !listed.contains(key_id) {
        return Err(not_in_role());
    }
    let key = keys.get(key_id).ok_or_else(not_in_role)?.to_public()?;
    let computed = key.key_id();
    if computed.as_str() != key_id {
        return Err(Error::KeyIdMismatch {
            listed: key_id.to_owned(),
            computed: computed.to_string(),
        });
    }
    let bad = || Error::BadSignature {
        role: role.to_owned(),
        key_id: key_id.to_owned(),
    };
    let method = SignatureMethod::parse(&signature.method).map_err(|_| bad())?;
    if !method.fits(key.algorithm()) {
        return Err(Error::SignatureMethodMismatch {
            role: role.to_owned(),
            key_id: key_id.to_owned(),
            method: signature.method.clone(),
            keytype: key.algorithm().as_str().to_owned(),
        });
    }
    let bytes = B64.decode(&signature.sig).map_err(|_| bad())?;
    key.verify(method, canonical, &bytes).map_err(|_| bad())
}

/// Step 2: metadata must not be past its `expires` at `now`.
pub fn check_expiry(role: &str, expires: &str, now: OffsetDateTime) -> Result<()> {
    let at = canonical::parse_go_time(expires)?;
    if at <= now {
        return Err(Error::Expired {
            role: role.to_owned(),
            expires: expires.to_owned(),
        });
    }
    Ok(())
}

/// Step 2: versions never go back.
pub fn check_version(role: &str, cached: Option<i64>, received: i64) -> Result<()> {
    match cached {
        Some(cached) if received < cached => Err(Error::Rollback {
            role: role.to_owned(),
            cached,
            received,
        }),
        _ => Ok(()),
    }
}

/// Checks a root on its own terms: the four base roles are present, every root key is a
/// certificate acceptable for `gun`, and a threshold of root keys signed it.
pub fn check_root_self(gun: &str, file: &SignedFile<Root>, now: OffsetDateTime) -> Result<()> {
    check_root_shape(file)?;
    let root = &file.signed;
    let root_role = &root.role("root")?;
    for key_id in &root_role.keyids {
        let key = root
            .keys
            .get(key_id)
            .ok_or_else(|| Error::MalformedMetadata {
                role: "root".to_owned(),
                reason: format!("root key {key_id} is not in keys"),
            })?
            .to_public()?;
        if !key.algorithm().is_x509() {
            return Err(Error::RootKeyNotCertificate {
                gun: gun.to_owned(),
                key_id: key_id.clone(),
                keytype: key.algorithm().as_str().to_owned(),
            });
        }
        keymgmt::x509::validate_root_certificate(key.public_bytes(), gun, now).map_err(
            |source| Error::RootCertificate {
                gun: gun.to_owned(),
                key_id: key_id.clone(),
                source: Box::new(source),
            },
        )?;
    }
    check_expiry("root", &root.expires, now)
}

/// Checks a root's structure and that a threshold of its own root keys signed it; what a
/// cached root must still pass when it is loaded (a tampered cache is refused).
pub fn check_root_shape(file: &SignedFile<Root>) -> Result<()> {
    let root = &file.signed;
    for role in ["root", "targets", "snapshot", "timestamp"] {
        let entry = root
            .roles
            .get(role)
            .ok_or_else(|| Error::MalformedMetadata {
                role: "root".to_owned(),
                reason: format!("no {role} role"),
            })?;
        if entry.keyids.iter().any(|id| !root.keys.contains_key(id)) {
            return Err(Error::MalformedMetadata {
                role: "root".to_owned(),
                reason: format!("the {role} role lists a key that root.json does not carry"),
            });
        }
    }
    let root_role = root.role("root")?;
    check_signatures(
        "root",
        file,
        &root_role.keyids,
        root_role.threshold,
        &root.keys,
    )
}

/// Step 1: trust pinning for a root seen for the first time: pinned certificate IDs for the GUN
/// (or a `prefix*`), then a pinned CA, then trust on first use unless disabled.
pub fn check_pinning(gun: &str, root: &Root, pinning: &TrustPinning) -> Result<()> {
    let root_ids = &root.role("root")?.keyids;
    let not_pinned = |reason: String| Error::RootNotPinned {
        gun: gun.to_owned(),
        reason,
    };
    if let Some((_, pinned)) = pinning
        .certs
        .iter()
        .find(|(pattern, _)| pattern_matches(pattern, gun))
    {
        return if root_ids.iter().any(|id| pinned.contains(id)) {
            Ok(())
        } else {
            Err(not_pinned(format!(
                "its root keys {root_ids:?} include none of the pinned {pinned:?}"
            )))
        };
    }
    let cas: Vec<&[u8]> = pinning
        .ca
        .iter()
        .filter(|(pattern, _)| pattern_matches(pattern, gun))
        .map(|(_, pem)| pem.as_slice())
        .collect();
    if !cas.is_empty() {
        for id in root_ids {
            let Some(cert) = root.keys.get(id) else {
                continue;
            };
            let cert = cert.to_public()?;
            if cas.iter().any(|ca| issued_by(cert.public_bytes(), ca)) {
                return Ok(());
            }
        }
        return Err(not_pinned(
            "no root certificate is issued by a pinned CA".to_owned(),
        ));
    }
    if pinning.disable_tofu {
        return Err(not_pinned(
            "no pin covers it and trust on first use is disabled".to_owned(),
        ));
    }
    Ok(())
}

fn issued_by(cert_pem: &[u8], ca_pem: &[u8]) -> bool {
    let Ok((_, cert)) = x509_parser::pem::parse_x509_pem(cert_pem) else {
        return false;
    };
    let Ok((_, ca)) = x509_parser::pem::parse_x509_pem(ca_pem) else {
        return false;
    };
    let (Ok(cert), Ok(ca)) = (cert.parse_x509(), ca.parse_x509()) else {
        return false;
    };
    cert.issuer() == ca.subject() && cert.verify_signature(Some(ca.public_key())).is_ok()
}

/// Step 4: a new root must be signed by a threshold of the previous root's keys and of its own.
pub fn check_root_rotation(
    gun: &str,
    previous: &Root,
    next: &SignedFile<Root>,
    now: OffsetDateTime,
) -> Result<()> {
    check_version("root", Some(previous.version + 1), next.signed.version)?;
    let old = &previous.role("root")?;
    check_signatures("root", next, &old.keyids, old.threshold, &previous.keys).map_err(
        |source| Error::RootRotationUnsigned {
            version: next.signed.version,
            source: Box::new(source),
        },
    )?;
    check_root_self(gun, next, now)
}

/// The key type of a listed key, for messages.
pub fn keytype_of(key: &KeyJson) -> Option<KeyAlgorithm> {
    KeyAlgorithm::parse(&key.keytype).ok()
}
