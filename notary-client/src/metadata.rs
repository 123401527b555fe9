//! Notary's TUF dialect: typed Root, Targets (and delegations), Snapshot and Timestamp, the
//! signed envelope, and how files are written and read. No I/O.
//!
//! Files are exactly `{"signed":<canonical JSON>,"signatures":[{"keyid","method","sig"}]}` with
//! no whitespace, as the Go client writes them; notary-server re-serialises uploads with Go and
//! hashes that, so a single differing byte would break a collection.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use keymgmt::{KeyId, PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256, Sha512};
use time::OffsetDateTime;

use crate::canonical;
use crate::error::{Error, Result};

/// Whether a name is a valid delegation role name: `targets/` + `[-a-z0-9_/]`, < 256
/// characters (keymgmt's rule: the one copy of it).
pub use keymgmt::keyfile::is_delegation_name;

/// Largest accepted version: one below `i32::MAX`, so that a next version still fits the
/// 32-bit integers some clients use (Cure53 2018: version 2147483647 locks clients out).
pub const MAX_VERSION: i64 = i32::MAX as i64 - 1;

/// The four base roles and delegations, as named in metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleType {
    /// `root`.
    Root,
    /// `targets` and every `targets/...` delegation.
    Targets,
    /// `snapshot`.
    Snapshot,
    /// `timestamp`.
    Timestamp,
}

impl RoleType {
    /// The `_type` value of files of this role.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Root => "Root",
            Self::Targets => "Targets",
            Self::Snapshot => "Snapshot",
            Self::Timestamp => "Timestamp",
        }
    }
}

/// A public key as it appears in `keys` maps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyJson {
    /// `ecdsa`, `ecdsa-x509`, `rsa`, `rsa-x509` or `ed25519`.
    pub keytype: String,
    /// The key value.
    pub keyval: KeyVal,
}

/// `keyval` of a [`KeyJson`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyVal {
    /// Always `null` in published metadata.
    pub private: Option<String>,
    /// Base64 of the public key bytes.
    pub public: String,
}

impl KeyJson {
    /// The JSON form of a public key.
    pub fn from_public(key: &PublicKey) -> Self {
        Self {
            keytype: key.algorithm().as_str().to_owned(),
            keyval: KeyVal {
                private: None,
                public: key.public_base64(),
            },
        }
    }

    /// Parses the key, refusing a non-null `private` part.
    pub fn to_public(&self) -> Result<PublicKey> {
        if self.keyval.private.is_some() {
            return Err(Error::MalformedMetadata {
                role: "keys".to_owned(),
                reason: "a published key carries a private part".to_owned(),
            });
        }
        Ok(PublicKey::from_json_fields(
            &self.keytype,
            &self.keyval.public,
        )?)
    }
}

/// A base role's keys and threshold in `root.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootRole {
    /// Key IDs allowed to sign.
    pub keyids: Vec<String>,
    /// Signatures needed.
    pub threshold: i64,
}

/// `root.json`'s signed part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// `"Root"`.
    #[serde(rename = "_type")]
    pub type_name: String,
    /// Always false in notary.
    pub consistent_snapshot: bool,
    /// Expiry, Go time format.
    pub expires: String,
    /// Every key of the base roles.
    pub keys: BTreeMap<String, KeyJson>,
    /// `root`, `targets`, `snapshot`, `timestamp`.
    pub roles: BTreeMap<String, RootRole>,
    /// Version, >= 1.
    pub version: i64,
}

impl Root {
    /// The keys and threshold of base role `role`, or an error naming the missing role.
    pub fn role(&self, role: &str) -> Result<&RootRole> {
        self.roles
            .get(role)
            .ok_or_else(|| Error::MalformedMetadata {
                role: "root".to_owned(),
                reason: format!("no {role} role"),
            })
    }
}

/// A target's (or a metadata file's) length and hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMeta {
    /// Hash algorithm -> standard base64 digest.
    pub hashes: BTreeMap<String, String>,
    /// Length in bytes: Go's `int64` on the wire, never negative (refused when parsed and
    /// by [`check`](Self::check)); [`byte_len`](Self::byte_len) reads it as `u64`.
    #[serde(deserialize_with = "non_negative")]
    pub length: i64,
    /// Opaque custom data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<serde_json::Value>,
}

impl FileMeta {
    /// Length and sha256 + sha512 of `bytes` (what notary records for files and metadata).
    pub fn of_bytes(bytes: &[u8]) -> Self {
        let mut hashes = BTreeMap::new();
        hashes.insert("sha256".to_owned(), B64.encode(Sha256::digest(bytes)));
        hashes.insert("sha512".to_owned(), B64.encode(Sha512::digest(bytes)));
        Self {
            hashes,
            length: bytes.len() as i64,
            custom: None,
        }
    }

    /// A target known by its sha256 digest and length (what docker signs for a manifest).
    pub fn from_sha256(sha256: [u8; 32], length: u64) -> Self {
        let mut hashes = BTreeMap::new();
        hashes.insert("sha256".to_owned(), B64.encode(sha256));
        Self {
            hashes,
            length: i64::try_from(length).unwrap_or(i64::MAX),
            custom: None,
        }
    }

    /// [`from_sha256`](Self::from_sha256) with the digest as 64 hex digits (what `notary
    /// addhash` takes); `None` if `sha256_hex` is anything else.
    ///
    /// ```
    /// use notary_client::metadata::FileMeta;
    /// let meta = FileMeta::from_sha256_hex(&"ab".repeat(32), 1234).expect("64 hex digits");
    /// assert_eq!(meta, FileMeta::from_sha256([0xab; 32], 1234));
    /// assert!(FileMeta::from_sha256_hex("sha256:abab", 1234).is_none());
    /// ```
    pub fn from_sha256_hex(sha256_hex: &str, length: u64) -> Option<Self> {
        let sha256: [u8; 32] = hex::decode(sha256_hex).ok()?.try_into().ok()?;
        Some(Self::from_sha256(sha256, length))
    }

    /// The length in bytes (a negative length, which parsing refuses, reads as 0).
    pub fn byte_len(&self) -> u64 {
        u64::try_from(self.length).unwrap_or(0)
    }

    /// The sha256 digest, if recorded and well formed.
    pub fn sha256(&self) -> Option<[u8; 32]> {
        let raw = B64.decode(self.hashes.get("sha256")?).ok()?;
        raw.try_into().ok()
    }

    /// Checks `bytes` against the length and every known hash (sha256, sha512); at least one
    /// known hash must be present.
    pub fn check(&self, role: &str, bytes: &[u8]) -> Result<()> {
        if self.length < 0 {
            return Err(Error::MalformedMetadata {
                role: role.to_owned(),
                reason: format!("negative length {}", self.length),
            });
        }
        if bytes.len() as i64 != self.length {
            return Err(Error::LengthMismatch {
                role: role.to_owned(),
                expected: self.length,
                actual: bytes.len() as i64,
            });
        }
        let mut checked = 0;
        for (algorithm, expected) in &self.hashes {
            let actual = match algorithm.as_str() {
                "sha256" => B64.encode(Sha256::digest(bytes)),
                "sha512" => B64.encode(Sha512::digest(bytes)),
                _ => continue,
            };
            if &actual != expected {
                return Err(Error::HashMismatch {
                    role: role.to_owned(),
                    algorithm: algorithm.clone(),
                    expected: expected.clone(),
                    actual,
                });
            }
            checked += 1;
        }
        if checked == 0 {
            return Err(Error::MalformedMetadata {
                role: role.to_owned(),
                reason: "no sha256 or sha512 hash to check against".to_owned(),
            });
        }
        Ok(())
    }
}

/// Refuses a negative `length` while parsing: no file has one.
fn non_negative<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let length = i64::deserialize(deserializer)?;
    if length < 0 {
        return Err(serde::de::Error::custom(format!(
            "negative length {length}"
        )));
    }
    Ok(length)
}

/// A delegation in a targets file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationRole {
    /// Key IDs allowed to sign.
    pub keyids: Vec<String>,
    /// Full name, `targets/...`.
    pub name: String,
    /// Target name prefixes this role may sign (`""` = all); omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Signatures needed.
    pub threshold: i64,
}

impl DelegationRole {
    /// Whether `target` is within this role's paths (plain prefixes, not globs).
    pub fn covers(&self, target: &str) -> bool {
        self.paths.iter().any(|p| target.starts_with(p.as_str()))
    }

    /// Whether this role may sign every target (its paths include `""`).
    pub fn covers_all(&self) -> bool {
        self.paths.iter().any(String::is_empty)
    }
}

/// `delegations` of a targets file; always written, even empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegations {
    /// Keys of the delegated roles.
    pub keys: BTreeMap<String, KeyJson>,
    /// The delegated roles, in order.
    pub roles: Vec<DelegationRole>,
}

/// `targets.json`'s (or a delegation's) signed part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// `"Targets"`.
    #[serde(rename = "_type")]
    pub type_name: String,
    /// Delegated roles.
    pub delegations: Delegations,
    /// Expiry, Go time format.
    pub expires: String,
    /// Target name -> meta.
    pub targets: BTreeMap<String, FileMeta>,
    /// Version, >= 1.
    pub version: i64,
}

/// `snapshot.json`'s or `timestamp.json`'s signed part: role name -> file meta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaFile {
    /// `"Snapshot"` or `"Timestamp"`.
    #[serde(rename = "_type")]
    pub type_name: String,
    /// Expiry, Go time format.
    pub expires: String,
    /// Role -> meta of its current file.
    pub meta: BTreeMap<String, FileMeta>,
    /// Version, >= 1.
    pub version: i64,
}

/// A signature in an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureJson {
    /// The signing key's ID as listed by the role.
    pub keyid: String,
    /// `ecdsa`, `rsapss`, `rsapkcs1v15` or `eddsa`.
    pub method: String,
    /// Standard base64 of the signature.
    pub sig: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    signed: &'a serde_json::value::RawValue,
    signatures: Vec<SignatureJson>,
}

/// A parsed metadata file: its typed content, the canonical bytes that signatures cover, and
/// the signatures. Parsing checks the shape only; [`crate::verify`] decides trust.
#[derive(Debug, Clone)]
pub struct SignedFile<T> {
    /// The typed signed part.
    pub signed: T,
    /// Canonical JSON of the signed part, as parsed (what the signatures cover).
    pub canonical: Vec<u8>,
    /// The signatures.
    pub signatures: Vec<SignatureJson>,
}

/// Common fields every signed part has.
pub trait Signed: serde::de::DeserializeOwned + Serialize {
    /// The `_type` found.
    fn type_name(&self) -> &str;
    /// The version.
    fn version(&self) -> i64;
    /// The expiry string.
    fn expires(&self) -> &str;
}

macro_rules! impl_signed {
    ($($t:ty),*) => {$(
        impl Signed for $t {
            fn type_name(&self) -> &str { &self.type_name }
            fn version(&self) -> i64 { self.version }
            fn expires(&self) -> &str { &self.expires }
        }
    )*};
}
impl_signed!(Root, Targets, MetaFile);

/// The `signed.version` of a metadata file, read without building the rest of it: what
/// rollback protection needs of a cached file. `None` when there is no integer version.
pub fn peek_version(bytes: &[u8]) -> Option<i64> {
    #[derive(Deserialize)]
    struct Envelope {
        signed: Versioned,
    }
    #[derive(Deserialize)]
    struct Versioned {
        version: i64,
    }
    serde_json::from_slice::<Envelope>(bytes)
        .ok()
        .map(|e| e.signed.version)
}

/// Parses a metadata file of `role` expected to be of `role_type`. Rejects extra envelope
/// fields (Cure53 2018), a wrong `_type`, versions outside `1..=MAX_VERSION`, and trailing data.
pub fn parse<T: Signed>(role: &str, role_type: RoleType, bytes: &[u8]) -> Result<SignedFile<T>> {
    let malformed = |reason: String| Error::MalformedMetadata {
        role: role.to_owned(),
        reason,
    };
    let envelope: RawEnvelope = serde_json::from_slice(bytes).map_err(|e| {
        malformed(format!(
            "expected a signed envelope {{\"signed\":{{...}},\"signatures\":[...]}}: {e}"
        ))
    })?;
    let value: serde_json::Value = serde_json::from_str(envelope.signed.get())
        .map_err(|e| malformed(format!("the signed part is not JSON: {e}")))?;
    // What cannot be canonical JSON (a float, say) is the file's fault, not the caller's.
    let canonical = canonical::encode(&value).map_err(|e| malformed(e.to_string()))?;
    let signed: T = serde_json::from_value(value).map_err(|e| {
        malformed(format!(
            "expected the signed part of a {} file: {e}",
            role_type.type_name()
        ))
    })?;
    if signed.type_name() != role_type.type_name() {
        return Err(malformed(format!(
            "_type is {:?}, expected {:?}",
            signed.type_name(),
            role_type.type_name()
        )));
    }
    let version = signed.version();
    if !(1..=MAX_VERSION).contains(&version) {
        return Err(Error::VersionOutOfRange {
            role: role.to_owned(),
            version,
            maximum: MAX_VERSION,
        });
    }
    canonical::parse_go_time(signed.expires())?;
    Ok(SignedFile {
        signed,
        canonical,
        signatures: envelope.signatures,
    })
}

/// A key that signs a file, with the ID under which the role lists it (for root keys that is
/// the certificate's ID, not the private key's).
pub struct SigningKey<'a> {
    /// The private key.
    pub key: &'a PrivateKey,
    /// The key ID in the role.
    pub key_id: KeyId,
}

/// Signs `signed` with every key and writes the file bytes exactly as the Go client does.
pub fn sign<T: Serialize>(signed: &T, keys: &[SigningKey<'_>]) -> Result<Vec<u8>> {
    let canonical = canonical::encode_serialize(signed)?;
    let mut out = Vec::with_capacity(canonical.len() + 160 * keys.len() + 32);
    out.extend_from_slice(b"{\"signed\":");
    out.extend_from_slice(&canonical);
    out.extend_from_slice(b",\"signatures\":[");
    for (i, signing) in keys.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let sig = signing.key.sign(&canonical);
        // Base64 and hex need no escaping.
        out.extend_from_slice(
            format!(
                "{{\"keyid\":\"{}\",\"method\":\"{}\",\"sig\":\"{}\"}}",
                signing.key_id,
                sig.method,
                B64.encode(&sig.bytes)
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// The `expires` value `duration` from now, as Go writes it.
pub fn expires_in(duration: time::Duration) -> String {
    canonical::format_go_time(OffsetDateTime::now_utc() + duration)
}

/// Default expiry of root metadata: 10 years.
pub const ROOT_EXPIRY: time::Duration = time::Duration::days(3650);
/// Default expiry of targets, delegations and snapshot: 3 years.
pub const TARGETS_EXPIRY: time::Duration = time::Duration::days(3 * 365);
/// Default expiry of snapshot: 3 years.
pub const SNAPSHOT_EXPIRY: time::Duration = time::Duration::days(3 * 365);

/// A new, empty targets file of `version`.
pub fn empty_targets(version: i64) -> Targets {
    Targets {
        type_name: "Targets".to_owned(),
        delegations: Delegations::default(),
        expires: expires_in(TARGETS_EXPIRY),
        targets: BTreeMap::new(),
        version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO_TARGETS: &str = r#"{"signed":{"_type":"Targets","delegations":{"keys":{},"roles":[]},"expires":"2029-11-28T03:19:41.735587277Z","targets":{"v1":{"hashes":{"sha256":"mOpuTyFvL7S2n/+bOkSELDhobKaF8/VdxIxdP7EQe+Q=","sha512":"14q7BUJzaGX5RwRSFgnCMNrAOi82nQQ6whLWkzuRQQ4GOZ43+cXMiENqMXNzMMHI7MssL583TWL3FkMqMtUPrA=="},"length":3}},"version":3},"signatures":[{"keyid":"982b2351608d5cb9e3d49091f2d09843b1efe0b4ee5b1ebd57bf63388d71fcb4","method":"ecdsa","sig":"K4aITQbLn2Z8y5C4C+BXMRhxvtNXc4wHCbHR+8D419hYpB1IZD5cADFqBHV9nTwQ8MIYWgHpFJ119wRA0rECdw=="}]}"#;

    #[test]
    fn go_targets_file_round_trips_byte_for_byte() {
        let file: SignedFile<Targets> =
            parse("targets", RoleType::Targets, GO_TARGETS.as_bytes()).unwrap();
        assert_eq!(file.signed.version, 3);
        let canonical = canonical::encode_serialize(&file.signed).unwrap();
        assert_eq!(canonical, file.canonical);
        let start = "{\"signed\":".len();
        assert_eq!(
            &GO_TARGETS.as_bytes()[start..start + canonical.len()],
            canonical.as_slice()
        );
        let meta = &file.signed.targets["v1"];
        meta.check("v1", b"hi\n").unwrap();
        assert!(matches!(
            meta.check("v1", b"ho\n"),
            Err(Error::HashMismatch { .. })
        ));
    }

    #[test]
    fn extra_envelope_field_and_wrong_type_are_refused() {
        let extra = GO_TARGETS.replacen("{\"signed\"", "{\"extra\":1,\"signed\"", 1);
        assert!(matches!(
            parse::<Targets>("targets", RoleType::Targets, extra.as_bytes()),
            Err(Error::MalformedMetadata { .. })
        ));
        assert!(parse::<MetaFile>("snapshot", RoleType::Snapshot, GO_TARGETS.as_bytes()).is_err());
        let trailing = format!("{GO_TARGETS} x");
        assert!(parse::<Targets>("targets", RoleType::Targets, trailing.as_bytes()).is_err());
    }

    #[test]
    fn huge_versions_are_refused() {
        for v in ["2147483647", "2147483648", "9223372036854775807", "0", "-1"] {
            let text = GO_TARGETS.replace("\"version\":3", &format!("\"version\":{v}"));
            let err = parse::<Targets>("targets", RoleType::Targets, text.as_bytes()).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::VersionOutOfRange { .. } | Error::MalformedMetadata { .. }
                ),
                "{v}: {err}"
            );
        }
    }

    #[test]
    fn delegation_names() {
        assert!(is_delegation_name("targets/releases"));
        assert!(is_delegation_name("targets/a/b-c_d"));
        for bad in [
            "targets",
            "targets/",
            "releases",
            "targets/A",
            "targets/../x",
            "targets//x",
        ] {
            assert!(!is_delegation_name(bad), "{bad}");
        }
    }
}
