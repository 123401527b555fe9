//! The security checks of the client update flow, each written once.
//!
//! Every non-root file goes through [`check_role`]: a threshold of distinct valid keys listed
//! for the role ([`check_signatures`]), no rollback ([`check_version`]), no freeze
//! ([`check_expiry`]); delegations also through [`check_delegation_entry`] and
//! [`check_delegation`] (name, parent, paths). Roots go through [`check_root_self`] (a first
//! root), [`check_root_shape`] (a cached one), [`check_root_rotation`] and [`check_pinning`].
//! Comments name the step: TUF 1.0's client workflow section (`TUF 5.x.y`, as `tough` does) and
//! the client update steps of `shared/spec/notary-v1.md` (`notary step N`).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use keymgmt::{KeyAlgorithm, SignatureMethod};
use time::OffsetDateTime;

use crate::canonical;
use crate::error::{Error, Result};
use crate::metadata::{
    self, DelegationRole, KeyJson, Root, SignatureJson, Signed, SignedFile, Targets,
};

pub use crate::pinning::{Bootstrap, FirstUse, PinFailure, TrustPinning, check_pinning};

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

/// Freeze attacks (TUF 5.3.10, 5.4.4, 5.5.6, 5.6.5): metadata must not be past its `expires`
/// at `now`.
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

/// Rollback attacks (TUF 5.4.3, 5.5.5, 5.6.4): versions never go back.
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
/// certificate acceptable for `gun`, a threshold of root keys signed it and (TUF 5.3.10) it is
/// not expired.
pub fn check_root_self(gun: &str, file: &SignedFile<Root>, now: OffsetDateTime) -> Result<()> {
    check_root_certificates(gun, file, now)?;
    check_expiry("root", &file.signed.expires, now)
}

/// A root's structure, its own signatures and its certificates, not its expiry (which does not
/// matter for the intermediate roots of a rotation, TUF 5.3.5).
fn check_root_certificates(gun: &str, file: &SignedFile<Root>, now: OffsetDateTime) -> Result<()> {
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
    Ok(())
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

/// How a root of a rotation is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationStep {
    /// A root between the trusted and the newest one: its expiry does not matter (TUF 5.3.5).
    Intermediate,
    /// The newest root, which becomes trusted: it must not be expired (TUF 5.3.10).
    Newest,
}

/// TUF 5.3.3-5.3.4 (notary step 4): a new root is exactly one version newer (no rollback, no
/// skipped version) and signed by a threshold of the previous root's keys and of its own; its
/// certificates are checked as a first root's.
pub fn check_root_rotation(
    gun: &str,
    previous: &Root,
    next: &SignedFile<Root>,
    now: OffsetDateTime,
    step: RotationStep,
) -> Result<()> {
    if next.signed.version <= previous.version {
        return Err(Error::Rollback {
            role: "root".to_owned(),
            cached: previous.version,
            received: next.signed.version,
        });
    }
    if next.signed.version != previous.version + 1 {
        return Err(Error::MalformedMetadata {
            role: "root".to_owned(),
            reason: format!(
                "version {} follows version {}: a rotation goes one version at a time",
                next.signed.version, previous.version
            ),
        });
    }
    let old = &previous.role("root")?;
    check_signatures("root", next, &old.keyids, old.threshold, &previous.keys).map_err(
        |source| Error::RootRotationUnsigned {
            version: next.signed.version,
            source: Box::new(source),
        },
    )?;
    match step {
        RotationStep::Intermediate => check_root_certificates(gun, next, now),
        RotationStep::Newest => check_root_self(gun, next, now),
    }
}

/// TUF 5.4.2-5.4.4, 5.5.3-5.5.6, 5.6.3-5.6.5 (notary step 2): the one check of every
/// non-root file: a threshold of the role's keys signed it, its version is not older than the
/// cached one (rollback), and it is not expired (freeze).
pub fn check_role<T: Signed>(
    role: &str,
    file: &SignedFile<T>,
    keyids: &[String],
    threshold: i64,
    keys: &BTreeMap<String, KeyJson>,
    cached_version: Option<i64>,
    now: OffsetDateTime,
) -> Result<()> {
    check_signatures(role, file, keyids, threshold, keys)?;
    check_version(role, cached_version, file.signed.version())?;
    check_expiry(role, file.signed.expires(), now)
}

/// [`check_role`] for a base role (`timestamp`, `snapshot`, `targets`) with the keys and
/// threshold the trusted `root` lists for it.
pub fn check_base_role<T: Signed>(
    root: &Root,
    role: &str,
    file: &SignedFile<T>,
    cached_version: Option<i64>,
    now: OffsetDateTime,
) -> Result<()> {
    let entry = root.role(role)?;
    check_role(
        role,
        file,
        &entry.keyids,
        entry.threshold,
        &root.keys,
        cached_version,
        now,
    )
}

/// Notary's delegation rules, checked on the verified parent's entry before the delegation's
/// file is requested: a valid name, and a direct child of the file that lists it.
pub fn check_delegation_entry(parent: &str, role: &DelegationRole) -> Result<()> {
    let direct_child = role
        .name
        .strip_prefix(parent)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|rest| !rest.contains('/'));
    if !metadata::is_delegation_name(&role.name) || !direct_child {
        return Err(Error::InvalidRole {
            role: role.name.clone(),
        });
    }
    Ok(())
}

/// TUF 5.6.7 (notary step 3): a delegation's file passes [`check_role`] with the keys its
/// parent delegates to it, and signs only targets within its delegated paths.
pub fn check_delegation(
    role: &DelegationRole,
    parent_keys: &BTreeMap<String, KeyJson>,
    file: &SignedFile<Targets>,
    cached_version: Option<i64>,
    now: OffsetDateTime,
) -> Result<()> {
    check_role(
        &role.name,
        file,
        &role.keyids,
        role.threshold,
        parent_keys,
        cached_version,
        now,
    )?;
    if let Some(target) = file.signed.targets.keys().find(|t| !role.covers(t)) {
        return Err(Error::DelegationPathViolation {
            role: role.name.clone(),
            target: target.clone(),
            paths: role.paths.clone(),
        });
    }
    Ok(())
}

/// The key type of a listed key, for messages.
pub fn keytype_of(key: &KeyJson) -> Option<KeyAlgorithm> {
    KeyAlgorithm::parse(&key.keytype).ok()
}
