//! Verifying a Secure Build Server's build manifest (`shared/spec/sbs.md`, "Build manifest")
//! as the lab does with `openssl`: [`verify`] the `.sig.tbz` bytes, or [`verify_encoded`]
//! `/manifest`'s `encoded_manifest`, with `/publickey`'s `public_key_pem`.
//!
//! ```text
//! manifest.<build_name>.sig.tbz       bzip2 tar; /manifest's encoded_manifest is its base64
//! ├── manifest.<build_name>.tbz       bzip2 tar
//! │   ├── data/build.json             status and parameters, secrets stripped
//! │   ├── data/build.log
//! │   ├── git/...                     the cloned tree
//! │   └── root_ssh/
//! └── manifest.<build_name>.sig       lower-case hex, no newline
//! ```
//!
//! The `.sig` is RSA PKCS#1 v1.5 SHA-256 over the SHA-256 digest of the `.tbz` (hashed twice),
//! as the lab checks it: `xxd -r -p < X.sig > sig.bin`,
//! `openssl dgst -sha256 -binary -out tbz.sha256 X.tbz`, then
//! `openssl dgst -sha256 -verify pub.pem -signature sig.bin tbz.sha256`. The public key is a
//! PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`).
//!
//! What it does not do: no I/O (the bytes are given, and every decompressed archive is held
//! in memory, bounded by [`MAX_ARCHIVE_BYTES`] or the limit given to [`verify_with_limit`]);
//! it never extracts a file; it opens the signed `.tbz` only after its signature verified; it
//! does not say which key to trust (the caller brings `/publickey`'s answer, or a key it
//! pinned). Making manifests is the emulator's (`hpvs-sim`'s `sbs::manifest`).
//!
//! # Example
//!
//! A manifest made by the emulator (`tests/fixtures/manifest/`, see its `README.md`):
//!
//! ```
//! use hpvs_api::manifest::{self, ManifestError};
//!
//! let sig_tbz = include_bytes!("../tests/fixtures/manifest/manifest.fixture.sig.tbz");
//! let public_key_pem = include_str!("../tests/fixtures/manifest/public.pem");
//! let verified = manifest::verify(sig_tbz, public_key_pem)?;
//! assert_eq!(verified.name, "manifest.fixture");
//! assert!(verified.files.iter().any(|name| name == "git/Dockerfile"));
//! assert_eq!(verified.build_json["status"], "success");
//! assert_eq!(verified.tbz_sha256_hex.len(), 64);
//!
//! // `/manifest`'s base64, as the SBS client receives it.
//! use base64::Engine as _;
//! let encoded = base64::engine::general_purpose::STANDARD.encode(sig_tbz);
//! assert_eq!(manifest::verify_encoded(&encoded, public_key_pem)?, verified);
//!
//! // Another build's key does not verify it.
//! let other_key_pem = include_str!("../tests/fixtures/manifest/other-public.pem");
//! let refused = manifest::verify(sig_tbz, other_key_pem);
//! assert!(matches!(
//!     refused,
//!     Err(ManifestError::SignatureMismatch { tbz_sha256: got }) if got == verified.tbz_sha256_hex
//! ));
//! # Ok::<(), ManifestError>(())
//! ```

use std::io::{self, Read as _};

use base64::Engine as _;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::signature::Verifier as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The most bytes a decompressed archive may hold in [`verify`] (1 GiB); the emulator bounds
/// the files it packs by the same figure.
pub const MAX_ARCHIVE_BYTES: u64 = 1 << 30;

/// The longest `.sig` member accepted: the hex of an RSA-8192 signature.
const MAX_SIGNATURE_HEX: usize = 2048;
const OUTER: &str = "signed manifest (.sig.tbz)";
const INNER: &str = "manifest (.tbz)";
const BUILD_JSON: &str = "data/build.json";

/// Why a manifest was refused.
///
/// Blame: [`Key`](Self::Key) is the caller's (the public key given is not an RSA
/// SubjectPublicKeyInfo PEM); every other variant is the manifest's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The public key to verify with is not an RSA public key PEM (SubjectPublicKeyInfo).
    #[error("manifest key {operation} failed")]
    Key {
        /// `public key parsing`.
        operation: &'static str,
        /// The PEM or DER error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `encoded_manifest` is not standard base64.
    #[error("the encoded manifest of {length} bytes is not standard base64: {reason}")]
    MalformedEncoding {
        /// Its length in bytes.
        length: usize,
        /// The decoder's message.
        reason: String,
    },
    /// A decompressed archive exceeds the limit.
    #[error("the {archive} exceeds {limit} bytes")]
    TooLarge {
        /// Which archive.
        archive: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// An archive is not a bzip2-compressed tar.
    #[error("the {archive} is not a valid bzip2 tar")]
    MalformedArchive {
        /// Which archive.
        archive: &'static str,
        /// The decoding error.
        #[source]
        source: io::Error,
    },
    /// Non-zero bytes after the end-of-archive marker.
    #[error("{bytes} bytes of trailing data after the end of the {archive}")]
    TrailingData {
        /// Which archive.
        archive: &'static str,
        /// How many bytes follow the marker.
        bytes: usize,
    },
    /// A member name that is empty, absolute or climbs with `..`.
    #[error("member {name:?} of the {archive} is empty, absolute or climbs with ..")]
    UnsafeMemberPath {
        /// Which archive.
        archive: &'static str,
        /// The member name (lossy UTF-8).
        name: String,
    },
    /// A member of the signed manifest other than one `manifest.<build>.tbz` and one
    /// `manifest.<build>.sig` regular file of the same build.
    #[error("unexpected member {name:?}: expected manifest.<build>.tbz and manifest.<build>.sig")]
    UnexpectedMember {
        /// The member name (lossy UTF-8).
        name: String,
    },
    /// A member that must be present is not.
    #[error("the {archive} has no member {expected}")]
    MissingMember {
        /// Which archive.
        archive: &'static str,
        /// The missing member's name or pattern.
        expected: String,
    },
    /// The `.sig` member is not lower-case hex without a newline.
    #[error("the .sig member of {length} bytes is not lower-case hex without a newline")]
    MalformedSignature {
        /// Its length in bytes.
        length: usize,
    },
    /// The signature does not verify with the given key over the `.tbz`'s digest.
    #[error("the signature does not verify over the .tbz of sha256 {tbz_sha256} with this key")]
    SignatureMismatch {
        /// Lower-case hex SHA-256 of the `.tbz` received.
        tbz_sha256: String,
    },
    /// The signed `data/build.json` is not JSON.
    #[error("data/build.json is not json: {reason}")]
    MalformedBuildJson {
        /// The parser's message.
        reason: String,
    },
}

/// What [`verify`] found in a manifest whose signature verified.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedManifest {
    /// `manifest.<build_name>`.
    pub name: String,
    /// The names of the inner `.tbz`'s members, in archive order (lossy UTF-8).
    pub files: Vec<String>,
    /// The signed `data/build.json`.
    pub build_json: Value,
    /// Lower-case hex SHA-256 of the inner `.tbz`.
    pub tbz_sha256_hex: String,
}

/// Whether `name` may be a build name, the `<build_name>` of `manifest.<build_name>.tbz`:
/// 1 to 200 of `A-Z a-z 0-9 . _ - :`, not starting with `.`. The error says which rule it
/// broke.
///
/// ```
/// use hpvs_api::manifest::check_build_name;
/// assert!(check_build_name("docker.io.me.app.latest-0123abc.2024-05-01_10-20-30").is_ok());
/// assert!(check_build_name("../x").is_err());
/// ```
pub fn check_build_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 200 {
        return Err("expected 1 to 200 characters");
    }
    if name.starts_with('.') {
        return Err("must not start with '.'");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
    if !name.chars().all(allowed) {
        return Err("expected only letters, digits, '.', '_', '-' and ':'");
    }
    Ok(())
}

/// Verifies a `.sig.tbz` with `public_key_pem`, as the lab does with `openssl`, bounded by
/// [`MAX_ARCHIVE_BYTES`]; see [`verify_with_limit`].
pub fn verify(sig_tbz: &[u8], public_key_pem: &str) -> Result<VerifiedManifest, ManifestError> {
    verify_with_limit(sig_tbz, public_key_pem, MAX_ARCHIVE_BYTES)
}

/// Decodes `/manifest`'s `encoded_manifest` (standard base64; line breaks and other ASCII
/// whitespace are ignored) and [`verify`]s it with `public_key_pem`.
pub fn verify_encoded(
    encoded_manifest_base64: &str,
    public_key_pem: &str,
) -> Result<VerifiedManifest, ManifestError> {
    let text: String = encoded_manifest_base64
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let sig_tbz = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| ManifestError::MalformedEncoding {
            length: encoded_manifest_base64.len(),
            reason: e.to_string(),
        })?;
    verify(&sig_tbz, public_key_pem)
}

/// Verifies a `.sig.tbz` with `public_key_pem`, each decompressed archive bounded by `limit`
/// bytes. Checks, in order, before anything signed is used:
///
/// 1. the outer archive decompresses within `limit` and is a tar with nothing after its end;
/// 2. it holds exactly two regular files, `manifest.<build>.tbz` and `manifest.<build>.sig`
///    of one valid build name ([`check_build_name`]), no member name empty, absolute or with
///    `..`;
/// 3. the `.sig` is lower-case hex without a newline (the lab's `xxd -r -p`);
/// 4. it verifies over SHA-256 of the `.tbz` (RSA PKCS#1 v1.5 SHA-256 over the digest: the
///    lab's two `openssl dgst -sha256`);
/// 5. only then the `.tbz` is opened, within `limit`, member names checked as in 2, and its
///    `data/build.json` parsed.
pub fn verify_with_limit(
    sig_tbz: &[u8],
    public_key_pem: &str,
    limit: u64,
) -> Result<VerifiedManifest, ManifestError> {
    let public = rsa::RsaPublicKey::from_public_key_pem(public_key_pem.trim()).map_err(|e| {
        ManifestError::Key {
            operation: "public key parsing",
            source: Box::new(e),
        }
    })?;

    // Steps 1 and 2.
    let outer = decompress_bounded(sig_tbz, limit, OUTER)?;
    let (mut stem, mut tbz, mut sig) = (None::<String>, None, None);
    for (name, kind, data) in members(&outer, OUTER, |_| true)? {
        let (member_stem, slot) = match name.rsplit_once('.') {
            Some((member_stem, "tbz")) => (member_stem, &mut tbz),
            Some((member_stem, "sig")) => (member_stem, &mut sig),
            _ => return Err(ManifestError::UnexpectedMember { name }),
        };
        let expected = member_stem
            .strip_prefix("manifest.")
            .is_some_and(|build| check_build_name(build).is_ok())
            && kind == tar::EntryType::Regular
            && slot.is_none()
            && stem.as_deref().is_none_or(|seen| seen == member_stem);
        if !expected {
            return Err(ManifestError::UnexpectedMember { name });
        }
        stem = Some(member_stem.to_owned());
        *slot = data;
    }
    let missing = |expected: String| ManifestError::MissingMember {
        archive: OUTER,
        expected,
    };
    let name = stem.ok_or_else(|| missing("manifest.<build>.tbz".to_owned()))?;
    let tbz = tbz.ok_or_else(|| missing(format!("{name}.tbz")))?;
    let sig = sig.ok_or_else(|| missing(format!("{name}.sig")))?;

    // Step 3.
    let is_lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    let signature = (sig.len() <= MAX_SIGNATURE_HEX && sig.iter().all(is_lower_hex))
        .then(|| hex::decode(&sig).ok())
        .flatten()
        .ok_or(ManifestError::MalformedSignature { length: sig.len() })?;

    // Step 4: the message signed is the 32-byte digest, which the verifier hashes again.
    let digest = Sha256::digest(&tbz);
    let tbz_sha256_hex = hex::encode(digest);
    let verifies =
        rsa::pkcs1v15::Signature::try_from(signature.as_slice()).is_ok_and(|signature| {
            rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public)
                .verify(&digest, &signature)
                .is_ok()
        });
    if !verifies {
        return Err(ManifestError::SignatureMismatch {
            tbz_sha256: tbz_sha256_hex,
        });
    }

    // Step 5.
    let inner = decompress_bounded(&tbz, limit, INNER)?;
    let inner = members(&inner, INNER, |name| name == BUILD_JSON)?;
    let build_json = inner
        .iter()
        .find(|(name, kind, _)| name == BUILD_JSON && *kind == tar::EntryType::Regular)
        .and_then(|(_, _, data)| data.as_deref())
        .ok_or_else(|| ManifestError::MissingMember {
            archive: INNER,
            expected: BUILD_JSON.to_owned(),
        })?;
    let build_json =
        serde_json::from_slice(build_json).map_err(|e| ManifestError::MalformedBuildJson {
            reason: e.to_string(),
        })?;
    Ok(VerifiedManifest {
        name,
        files: inner.into_iter().map(|(name, _, _)| name).collect(),
        build_json,
        tbz_sha256_hex,
    })
}

/// The one bounded read of [`verify`]: decompresses bzip2 (concatenated streams allowed, as
/// `bzip2 -d` does) into at most `limit` bytes.
fn decompress_bounded(
    data: &[u8],
    limit: u64,
    archive: &'static str,
) -> Result<Vec<u8>, ManifestError> {
    let mut out = Vec::new();
    bzip2::read::MultiBzDecoder::new(data)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| ManifestError::MalformedArchive { archive, source })?;
    if out.len() as u64 > limit {
        return Err(ManifestError::TooLarge { archive, limit });
    }
    Ok(out)
}

/// A tar member: its name (lossy UTF-8), its type, its data if it was kept.
type Member = (String, tar::EntryType, Option<Vec<u8>>);

/// The members of an uncompressed tar, each name checked; the data of those `keep` names.
fn members(
    tar: &[u8],
    archive: &'static str,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<Member>, ManifestError> {
    let malformed = |source| ManifestError::MalformedArchive { archive, source };
    let mut reader = tar::Archive::new(tar);
    let mut found = Vec::new();
    for entry in reader.entries().map_err(malformed)? {
        let mut entry = entry.map_err(malformed)?;
        let raw = entry.path_bytes();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let unsafe_path = raw.is_empty()
            || raw.starts_with(b"/")
            || raw.split(|b| *b == b'/').any(|part| part == b"..");
        if unsafe_path {
            return Err(ManifestError::UnsafeMemberPath { archive, name });
        }
        let kind = entry.header().entry_type();
        let data = if keep(&name) {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(malformed)?;
            Some(data)
        } else {
            None
        };
        found.push((name, kind, data));
    }
    let rest = reader.into_inner();
    if rest.iter().any(|b| *b != 0) {
        return Err(ManifestError::TrailingData {
            archive,
            bytes: rest.len(),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    const SIG_TBZ: &[u8] = include_bytes!("../tests/fixtures/manifest/manifest.fixture.sig.tbz");
    const PUBLIC: &str = include_str!("../tests/fixtures/manifest/public.pem");

    fn bzip2(data: &[u8]) -> Vec<u8> {
        let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// The fixture's `.tbz` and `.sig` members.
    fn fixture_members() -> (Vec<u8>, Vec<u8>) {
        let outer = decompress_bounded(SIG_TBZ, MAX_ARCHIVE_BYTES, OUTER).unwrap();
        let mut found = members(&outer, OUTER, |_| true).unwrap().into_iter();
        let (tbz, sig) = (found.next().unwrap(), found.next().unwrap());
        assert_eq!(tbz.0, "manifest.fixture.tbz");
        assert_eq!(sig.0, "manifest.fixture.sig");
        (tbz.2.unwrap(), sig.2.unwrap())
    }

    /// A `.sig.tbz` of regular files with exactly these names (no path checks), `tail`
    /// appended to the tar.
    fn outer(members: &[(&str, &[u8])], tail: &[u8]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut header = tar::Header::new_gnu();
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        let mut tar = builder.into_inner().unwrap();
        tar.extend_from_slice(tail);
        bzip2(&tar)
    }

    #[test]
    fn the_fixture_verifies_and_a_repacked_copy_too() {
        let verified = verify(SIG_TBZ, PUBLIC).unwrap();
        assert_eq!(verified.name, "manifest.fixture");
        assert_eq!(verified.files.first().map(String::as_str), Some("data/"));
        assert!(verified.files.iter().any(|f| f == "data/build.log"));
        assert!(verified.build_json.get("DOCKER_PASSWORD").is_none());
        let (tbz, sig) = fixture_members();
        assert_eq!(hex::encode(Sha256::digest(&tbz)), verified.tbz_sha256_hex);
        let repacked = outer(
            &[
                ("manifest.fixture.sig", &sig),
                ("manifest.fixture.tbz", &tbz),
            ],
            &[],
        );
        assert_eq!(verify(&repacked, PUBLIC).unwrap(), verified);
        let wrapped = base64::engine::general_purpose::STANDARD
            .encode(SIG_TBZ)
            .as_bytes()
            .chunks(76)
            .map(|line| format!("{}\n", String::from_utf8_lossy(line)))
            .collect::<String>();
        assert_eq!(verify_encoded(&wrapped, PUBLIC).unwrap(), verified);
        assert_eq!(
            verify(SIG_TBZ, &format!("\n{PUBLIC}\n")).unwrap(),
            verified,
            "surrounding whitespace in the pem is ignored"
        );
    }

    #[test]
    fn each_check_refuses_its_own_tampering() {
        let (tbz, sig) = fixture_members();
        let (tbz_name, sig_name) = ("manifest.fixture.tbz", "manifest.fixture.sig");
        let mut flipped = tbz.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 1;
        let tampered = outer(&[(tbz_name, &flipped), (sig_name, &sig)], &[]);
        assert!(matches!(
            verify(&tampered, PUBLIC),
            Err(ManifestError::SignatureMismatch { tbz_sha256 })
                if tbz_sha256 == hex::encode(Sha256::digest(&flipped))
        ));
        let mut bad_sig = sig.clone();
        bad_sig[10] = if bad_sig[10] == b'0' { b'1' } else { b'0' };
        let tampered = outer(&[(tbz_name, &tbz), (sig_name, &bad_sig)], &[]);
        assert!(matches!(
            verify(&tampered, PUBLIC),
            Err(ManifestError::SignatureMismatch { .. })
        ));
        let short = outer(&[(tbz_name, &tbz), (sig_name, b"00")], &[]);
        assert!(matches!(
            verify(&short, PUBLIC),
            Err(ManifestError::SignatureMismatch { .. })
        ));
        let upper = sig.to_ascii_uppercase();
        let tampered = outer(&[(tbz_name, &tbz), (sig_name, &upper)], &[]);
        assert!(matches!(
            verify(&tampered, PUBLIC),
            Err(ManifestError::MalformedSignature { length }) if length == sig.len()
        ));
        let climbing = outer(&[("../manifest.fixture.tbz", &tbz), (sig_name, &sig)], &[]);
        assert!(matches!(
            verify(&climbing, PUBLIC),
            Err(ManifestError::UnsafeMemberPath { archive: OUTER, name })
                if name == "../manifest.fixture.tbz"
        ));
        let extra = outer(
            &[(tbz_name, &tbz), (sig_name, &sig), ("README", b"hi")],
            &[],
        );
        assert!(matches!(
            verify(&extra, PUBLIC),
            Err(ManifestError::UnexpectedMember { name }) if name == "README"
        ));
        let bad_build = outer(&[("manifest..x.tbz", &tbz)], &[]);
        assert!(matches!(
            verify(&bad_build, PUBLIC),
            Err(ManifestError::UnexpectedMember { name }) if name == "manifest..x.tbz"
        ));
        let alone = outer(&[(tbz_name, &tbz)], &[]);
        assert!(matches!(
            verify(&alone, PUBLIC),
            Err(ManifestError::MissingMember { archive: OUTER, expected })
                if expected == sig_name
        ));
        let trailing = outer(&[(tbz_name, &tbz), (sig_name, &sig)], b"junk");
        assert!(matches!(
            verify(&trailing, PUBLIC),
            Err(ManifestError::TrailingData { archive: OUTER, .. })
        ));
        assert!(matches!(
            verify(b"not bzip2", PUBLIC),
            Err(ManifestError::MalformedArchive { archive: OUTER, .. })
        ));
        assert!(matches!(
            verify_encoded("not base64!", PUBLIC),
            Err(ManifestError::MalformedEncoding { length: 11, .. })
        ));
        assert!(matches!(
            verify(SIG_TBZ, "not a pem"),
            Err(ManifestError::Key {
                operation: "public key parsing",
                ..
            })
        ));
        assert!(matches!(
            verify(&bzip2(&vec![0; 1 << 20]), PUBLIC),
            Err(ManifestError::MissingMember { .. })
        ));
        assert!(matches!(
            verify_with_limit(&bzip2(&vec![0; 1 << 20]), PUBLIC, 1 << 16),
            Err(ManifestError::TooLarge { archive: OUTER, limit }) if limit == 1 << 16
        ));
        // The inner limit: the outer archive fits, the signed .tbz does not.
        let inner_size = decompress_bounded(&tbz, MAX_ARCHIVE_BYTES, INNER)
            .unwrap()
            .len() as u64;
        assert!(matches!(
            verify_with_limit(SIG_TBZ, PUBLIC, inner_size - 1),
            Err(ManifestError::TooLarge { archive: INNER, .. })
        ));
    }

    #[test]
    fn every_error_formats_without_its_source() {
        let io = || io::Error::other("boom");
        let errors = [
            (
                ManifestError::Key {
                    operation: "public key parsing",
                    source: Box::new(io()),
                },
                "public key parsing",
            ),
            (
                ManifestError::MalformedEncoding {
                    length: 11,
                    reason: "invalid byte".into(),
                },
                "11 bytes",
            ),
            (
                ManifestError::TooLarge {
                    archive: "x.tbz",
                    limit: 7,
                },
                "7 bytes",
            ),
            (
                ManifestError::MalformedArchive {
                    archive: "x.tbz",
                    source: io(),
                },
                "x.tbz",
            ),
            (
                ManifestError::TrailingData {
                    archive: "x.tbz",
                    bytes: 9,
                },
                "9 bytes",
            ),
            (
                ManifestError::UnsafeMemberPath {
                    archive: "x.tbz",
                    name: "../e".into(),
                },
                "../e",
            ),
            (
                ManifestError::UnexpectedMember {
                    name: "README".into(),
                },
                "README",
            ),
            (
                ManifestError::MissingMember {
                    archive: "x.tbz",
                    expected: "m.sig".into(),
                },
                "m.sig",
            ),
            (
                ManifestError::MalformedSignature { length: 513 },
                "513 bytes",
            ),
            (
                ManifestError::SignatureMismatch {
                    tbz_sha256: "ab12".into(),
                },
                "ab12",
            ),
            (
                ManifestError::MalformedBuildJson {
                    reason: "eof".into(),
                },
                "eof",
            ),
        ];
        for (error, value) in errors {
            let message = error.to_string();
            assert!(message.contains(value), "{message:?} lacks {value:?}");
            assert!(!message.contains("boom"), "{message:?} repeats its source");
            assert!(!message.starts_with(char::is_uppercase), "{message:?}");
        }
    }
}
