//! Trust pinning: which roots a client accepts for a GUN, checked on every root it uses (the
//! cached one, a first download, the newest of a rotation), with the precedence of the Go
//! client's `trustpinning` package:
//!
//! 1. pinned certificate key IDs for the exact GUN;
//! 2. else those of the longest `prefix*` wildcard the GUN starts with;
//! 3. else the pinned CAs of the longest GUN prefix (a trailing `*` reads as the same prefix);
//! 4. else trust on first use, unless disabled (which only matters for a first root).
//!
//! As in Go, the first rule that covers the GUN decides alone, and a threshold of the root's
//! signatures must be by the certificates that rule accepts.

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::metadata::{Root, SignedFile};
use crate::verify;

/// How a client decides to trust a GUN's root.
#[derive(Debug, Clone, Default)]
pub struct TrustPinning {
    /// Pinned root certificate key IDs (64 hex digits) by GUN, or by `prefix*` wildcard.
    pub certs: Vec<(String, Vec<String>)>,
    /// Pinned CA certificates (PEM, one or more) by GUN prefix: a root certificate must be
    /// issued by one of them.
    pub ca: Vec<(String, Vec<u8>)>,
    /// What to do with a first root that no pin covers.
    pub first_use: FirstUse,
}

/// What a client does with the first root it sees for a GUN that no pin covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FirstUse {
    /// Trust it and pin it in the cache (trust on first use, Go's default).
    #[default]
    Trust,
    /// Refuse it: only pinned roots are trusted.
    Refuse,
}

/// Where the root that [`check_pinning`] checks comes from: only a first root can be refused
/// for want of a pin ([`FirstUse::Refuse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrap {
    /// Nothing is cached for the GUN: this root is the first the client sees.
    First,
    /// The cached root, or a newer one reached from it by a verified rotation.
    FromTrusted,
}

/// Why a root did not pass the pins ([`Error::RootNotPinned`]).
#[derive(Debug)]
pub enum PinFailure {
    /// None of the root's keys is a pinned key ID.
    NoPinnedKey {
        /// The pinned key IDs.
        pinned: Vec<String>,
    },
    /// No root certificate is issued by a pinned CA.
    NoCertificateFromPinnedCa,
    /// Fewer than the threshold of root signatures are by the keys the pins accept.
    ThresholdNotMetByPinnedKeys {
        /// The root keys the pins accept.
        accepted: Vec<String>,
        /// Why their signatures fall short.
        reason: Box<Error>,
    },
    /// No pin covers the GUN and [`FirstUse::Refuse`] is set.
    FirstUseRefused,
}

impl std::fmt::Display for PinFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoPinnedKey { pinned } => write!(f, "they include none of the pinned {pinned:?}"),
            Self::NoCertificateFromPinnedCa => {
                f.write_str("no root certificate is issued by a pinned CA")
            }
            Self::ThresholdNotMetByPinnedKeys { accepted, reason } => write!(
                f,
                "a threshold of root signatures by the pinned keys {accepted:?} is required: {reason}"
            ),
            Self::FirstUseRefused => {
                f.write_str("no pin covers it and trust on first use is disabled")
            }
        }
    }
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

    /// Pins the roots of the GUNs starting with `gun_prefix` to certificates issued by a CA
    /// of `ca_pem`.
    pub fn pin_ca(mut self, gun_prefix: impl Into<String>, ca_pem: Vec<u8>) -> Self {
        self.ca.push((gun_prefix.into(), ca_pem));
        self
    }

    /// Refuses pins that cannot be pins: a key ID that is not 64 hex digits (`zz`, an empty
    /// string), a CA entry without a parsable, currently valid certificate (an empty file).
    pub fn validate(&self, now: OffsetDateTime) -> Result<()> {
        for (pattern, ids) in &self.certs {
            for id in ids {
                if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Error::InvalidPin {
                        pattern: pattern.clone(),
                        reason: format!(
                            "{id:?} is not a key ID: expected 64 hex digits, as `trust key list` or a registration file shows"
                        ),
                    });
                }
            }
        }
        for (pattern, pem) in &self.ca {
            ca_certificates(pattern, pem, now)?;
        }
        Ok(())
    }

    /// The pinned key IDs that decide for `gun`: the exact GUN's, else the longest matching
    /// wildcard's.
    pub fn certs_for(&self, gun: &str) -> Option<&[String]> {
        if let Some((_, ids)) = self.certs.iter().find(|(pattern, _)| pattern == gun) {
            return Some(ids);
        }
        self.certs
            .iter()
            .filter(|(pattern, _)| {
                pattern
                    .strip_suffix('*')
                    .is_some_and(|prefix| gun.starts_with(prefix))
            })
            .max_by_key(|(pattern, _)| pattern.len())
            .map(|(_, ids)| ids.as_slice())
    }

    /// The pinned CA entries that decide for `gun`: those of the longest prefix of it.
    pub fn cas_for(&self, gun: &str) -> Vec<&[u8]> {
        let prefix = |pattern: &str| -> usize {
            let p = pattern.strip_suffix('*').unwrap_or(pattern);
            if gun.starts_with(p) { p.len() + 1 } else { 0 }
        };
        let Some(longest) = self.ca.iter().map(|(p, _)| prefix(p)).max() else {
            return Vec::new();
        };
        if longest == 0 {
            return Vec::new();
        }
        self.ca
            .iter()
            .filter(|(p, _)| prefix(p) == longest)
            .map(|(_, pem)| pem.as_slice())
            .collect()
    }
}

/// The certificates of a CA pin, DER, refusing an entry without a usable one.
fn ca_certificates(pattern: &str, pem: &[u8], now: OffsetDateTime) -> Result<Vec<Vec<u8>>> {
    let invalid = |reason: String| Error::InvalidPin {
        pattern: pattern.to_owned(),
        reason,
    };
    if pem.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid(
            "the CA file is empty: expected PEM CA certificates".to_owned(),
        ));
    }
    let mut found = Vec::new();
    let mut seen = 0;
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| invalid(format!("the CA file is not PEM: {e}")))?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        seen += 1;
        let cert = block
            .parse_x509()
            .map_err(|e| invalid(format!("a CA certificate does not parse: {e}")))?;
        let validity = cert.validity();
        if validity.not_before.timestamp() <= now.unix_timestamp()
            && now.unix_timestamp() <= validity.not_after.timestamp()
        {
            found.push(block.contents.clone());
        }
    }
    match (seen, found.is_empty()) {
        (0, _) => Err(invalid(
            "the CA file holds no PEM CERTIFICATE: expected PEM CA certificates".to_owned(),
        )),
        (_, true) => Err(invalid(
            "every CA certificate in it is expired or not yet valid".to_owned(),
        )),
        _ => Ok(found),
    }
}

/// Notary step 1: checks `file` against the pins for `gun` (see the module docs);
/// [`FirstUse::Refuse`] refuses an unpinned root only at [`Bootstrap::First`].
pub fn check_pinning(
    gun: &str,
    file: &SignedFile<Root>,
    pinning: &TrustPinning,
    bootstrap: Bootstrap,
) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    pinning.validate(now)?;
    let root = &file.signed;
    let root_role = root.role("root")?;
    let not_pinned = |failure: PinFailure| Error::RootNotPinned {
        gun: gun.to_owned(),
        root_keys: root_role.keyids.clone(),
        failure,
    };
    let accepted: Vec<String> = if let Some(pinned) = pinning.certs_for(gun) {
        let ids: Vec<String> = root_role
            .keyids
            .iter()
            .filter(|id| pinned.iter().any(|p| p.eq_ignore_ascii_case(id)))
            .cloned()
            .collect();
        if ids.is_empty() {
            return Err(not_pinned(PinFailure::NoPinnedKey {
                pinned: pinned.to_vec(),
            }));
        }
        ids
    } else {
        let cas = pinning.cas_for(gun);
        if cas.is_empty() {
            if pinning.first_use == FirstUse::Refuse && bootstrap == Bootstrap::First {
                return Err(not_pinned(PinFailure::FirstUseRefused));
            }
            return Ok(());
        }
        let mut ca_ders = Vec::new();
        for pem in &cas {
            ca_ders.extend(ca_certificates(gun, pem, now)?);
        }
        let mut ids = Vec::new();
        for id in &root_role.keyids {
            let Some(cert) = root.keys.get(id) else {
                continue;
            };
            let cert = cert.to_public()?;
            if ca_ders.iter().any(|ca| issued_by(cert.public_bytes(), ca)) {
                ids.push(id.clone());
            }
        }
        if ids.is_empty() {
            return Err(not_pinned(PinFailure::NoCertificateFromPinnedCa));
        }
        ids
    };
    verify::check_signatures("root", file, &accepted, root_role.threshold, &root.keys).map_err(
        |e| {
            not_pinned(PinFailure::ThresholdNotMetByPinnedKeys {
                accepted: accepted.clone(),
                reason: Box::new(e),
            })
        },
    )
}

fn issued_by(cert_pem: &[u8], ca_der: &[u8]) -> bool {
    let Ok((_, cert)) = x509_parser::pem::parse_x509_pem(cert_pem) else {
        return false;
    };
    let Ok(cert) = cert.parse_x509() else {
        return false;
    };
    let Ok((_, ca)) = x509_parser::parse_x509_certificate(ca_der) else {
        return false;
    };
    cert.issuer() == ca.subject() && cert.verify_signature(Some(ca.public_key())).is_ok()
}
