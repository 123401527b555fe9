//! Sealing and opening registration files: OpenPGP encrypt-to-appliance + sign-by-vendor,
//! ASCII armored, exactly the shape `gpg --encrypt --sign --armor` produces (SEIPD v1, AES-256,
//! ZLIB-compressed one-pass-signed literal data).

use std::io::Read as _;

use pgp::composed::{ArmorOptions, Esk, Message, MessageBuilder};
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::types::{CompressionAlgorithm, KeyId};

use crate::error::{Error, Result};
use crate::openpgp::{EncryptionTarget, PublicKey, SecretKey, key_id_hex, openpgp_error};
use crate::registration::Registration;

/// The largest decrypted registration accepted (registrations are a few KiB).
pub const MAX_REGISTRATION_BYTES: u64 = 1 << 20;

/// Encrypts `registration` to `appliance` and signs it with `vendor`, returning the armored
/// `<REPO_ID>.enc` text. The registration's `vendor_key` must be `vendor`'s public key, or the
/// appliance would refuse the file.
pub fn seal(
    registration: &Registration,
    vendor: &SecretKey,
    appliance: &PublicKey,
) -> Result<String> {
    let named = PublicKey::from_armored(registration.vendor_key.as_bytes())?;
    if named.fingerprint() != vendor.fingerprint() {
        return Err(Error::UnexpectedVendorKey {
            expected: vendor.fingerprint(),
            actual: named.fingerprint(),
        });
    }
    let json = registration.to_json()?;
    let mut rng = rand::thread_rng();
    let mut builder =
        MessageBuilder::from_bytes("", json).seipd_v1(&mut rng, SymmetricKeyAlgorithm::AES256);
    let encrypted = match appliance.encryption_subkey()? {
        EncryptionTarget::Subkey(sub) => builder.encrypt_to_key(&mut rng, sub),
        EncryptionTarget::Primary(primary) => builder.encrypt_to_key(&mut rng, primary),
    };
    encrypted.map_err(|e| openpgp_error("encryption", e))?;
    builder.compression(CompressionAlgorithm::ZLIB);
    builder.sign(
        vendor.signing_key()?,
        vendor.password(),
        HashAlgorithm::Sha256,
    );
    let armored = builder
        .to_armored_string(&mut rng, ArmorOptions::default())
        .map_err(|e| openpgp_error("encryption", e))?;
    tracing::debug!(
        repository = %registration.repository_name,
        vendor = %vendor.fingerprint(),
        appliance = %appliance.fingerprint(),
        "sealed registration"
    );
    Ok(armored)
}

/// What the caller already knows when opening a registration file.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenOptions<'a> {
    /// The vendor key the file must be signed by (and name in `vendor_key`).
    pub expected_vendor: Option<&'a PublicKey>,
    /// The registration this file updates: the signer must be its vendor key and the
    /// repository the same.
    pub registered: Option<&'a Registration>,
}

/// An opened, verified registration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The registration.
    pub registration: Registration,
    /// Fingerprint (upper-case hex) of the vendor primary key whose signature verified.
    pub signer_fingerprint: String,
}

/// Opens a registration file the way the appliance does: checks it is addressed to
/// `appliance`, decrypts it, reads the registration, and verifies that its signature was made
/// by the key in `vendor_key` (and by `options.expected_vendor`, and by the registered vendor
/// for an update). Accepts armored or binary messages.
pub fn open(message: &[u8], appliance: &SecretKey, options: &OpenOptions<'_>) -> Result<Opened> {
    let msg = if is_armored(message) {
        if !contains(message, b"-----END PGP MESSAGE-----") {
            return Err(Error::CorruptMessage {
                reason: "the armored text has no -----END PGP MESSAGE----- line: it was cut short"
                    .to_owned(),
            });
        }
        Message::from_armor(message).map_err(unreadable)?.0
    } else {
        Message::from_bytes(message).map_err(unreadable)?
    };
    let Message::Encrypted { esk, .. } = &msg else {
        return Err(Error::NotEncrypted);
    };
    let addressed = check_recipients(esk, appliance)?;

    let tampered = |e: String| Error::TamperedCiphertext { reason: e };
    let mut msg = msg
        .decrypt(&appliance.password(), appliance.inner())
        .map_err(|e| match e {
            // The session key packet names this appliance's key, yet no session key came out
            // of it: the packet is damaged (an anonymous one may be for another key).
            pgp::errors::Error::MissingKey => match addressed {
                Addressed::ByKeyId => Error::CorruptMessage {
                    reason: "the session key encrypted to this appliance does not decrypt: the encrypted-key packet is damaged".to_owned(),
                },
                Addressed::Anonymously => Error::NotForThisAppliance {
                    recipients: vec![key_id_hex(KeyId::WILDCARD)],
                    appliance: appliance.key_ids(),
                },
            },
            e => damaged_or(e, tampered),
        })?;
    while msg.is_compressed() {
        msg = msg.decompress().map_err(|e| damaged_or(e, tampered))?;
    }
    if let Message::Signed { .. } = msg {
        // Signed messages may carry compressed data inside the signature framing.
        msg = msg.decompress().map_err(|e| damaged_or(e, tampered))?;
    }
    let mut payload = Vec::new();
    (&mut msg)
        .take(MAX_REGISTRATION_BYTES + 1)
        .read_to_end(&mut payload)
        .map_err(|e| match truncation(&e) {
            Some(error) => error,
            None => tampered(e.to_string()),
        })?;
    if payload.len() as u64 > MAX_REGISTRATION_BYTES {
        return Err(Error::PayloadTooLarge {
            limit: MAX_REGISTRATION_BYTES,
        });
    }
    let Message::Signed { reader, .. } = &msg else {
        return Err(Error::Unsigned);
    };
    let issuers: Vec<String> = (0..reader.num_signatures())
        .filter_map(|i| reader.signature(i))
        .flat_map(|sig| {
            let fprs = sig
                .issuer_fingerprint()
                .into_iter()
                .map(|f| hex::encode_upper(f.as_bytes()));
            let ids = sig.issuer_key_id().into_iter().map(|id| key_id_hex(*id));
            fprs.chain(ids).collect::<Vec<_>>()
        })
        .collect();
    let verified_by = |key: &PublicKey| {
        (0..reader.num_signatures()).any(|i| {
            key.verifiers()
                .into_iter()
                .any(|v| msg.verify_nested_explicit(i, v).is_ok())
        })
    };

    // The caller's expectation is checked before the attacker-supplied JSON is parsed.
    if let Some(expected) = options.expected_vendor
        && !verified_by(expected)
    {
        return Err(Error::SignerNotVendor {
            signer: issuers,
            vendor: expected.fingerprint(),
        });
    }
    let registration = Registration::from_json(&payload)?;
    let vendor = PublicKey::from_armored(registration.vendor_key.as_bytes())?;
    if let Some(expected) = options.expected_vendor
        && expected.fingerprint() != vendor.fingerprint()
    {
        return Err(Error::UnexpectedVendorKey {
            expected: expected.fingerprint(),
            actual: vendor.fingerprint(),
        });
    }
    if !verified_by(&vendor) {
        return Err(Error::SignerNotVendor {
            signer: issuers,
            vendor: vendor.fingerprint(),
        });
    }
    if let Some(registered) = options.registered {
        let previous = PublicKey::from_armored(registered.vendor_key.as_bytes())?;
        if previous.fingerprint() != vendor.fingerprint() {
            return Err(Error::VendorChanged {
                registered: previous.fingerprint(),
                signer: vendor.fingerprint(),
            });
        }
        if registered.repository_name != registration.repository_name {
            return Err(Error::RepositoryChanged {
                expected: registered.repository_name.clone(),
                actual: registration.repository_name,
            });
        }
    }
    tracing::debug!(
        repository = %registration.repository_name,
        vendor = %vendor.fingerprint(),
        "opened registration"
    );
    Ok(Opened {
        registration,
        signer_fingerprint: vendor.fingerprint(),
    })
}

fn is_armored(message: &[u8]) -> bool {
    let start = message
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(message.len());
    message[start..].starts_with(b"-----BEGIN PGP")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A message rPGP cannot parse: cut short, or some other damage. rPGP's own words for a cut
/// armor are its parser's internal state, so they are not passed on.
fn unreadable(e: pgp::errors::Error) -> Error {
    damaged_or(e, |reason| Error::MalformedMessage { reason })
}

/// [`Error::CorruptMessage`] for a file that ends early or whose armor is damaged, else `other`
/// with rPGP's description.
fn damaged_or(e: pgp::errors::Error, other: impl FnOnce(String) -> Error) -> Error {
    if let pgp::errors::Error::IO { source, .. } = &e
        && let Some(error) = truncation(source)
    {
        return error;
    }
    let text = e.to_string();
    if text.contains("not enough bytes in buffer") {
        return cut_short();
    }
    if text.contains("failed reading: armor") {
        return Error::CorruptMessage {
            reason: "its armor (the base64 text) is damaged".to_owned(),
        };
    }
    other(text)
}

fn truncation(e: &std::io::Error) -> Option<Error> {
    // rPGP reports a packet cut short as "other" with this text.
    let short = e.kind() == std::io::ErrorKind::UnexpectedEof
        || e.to_string().contains("shorter than expected");
    short.then(cut_short)
}

fn cut_short() -> Error {
    Error::CorruptMessage {
        reason: "it ends in the middle of a packet: the file was cut short".to_owned(),
    }
}

/// How the message names the appliance.
#[derive(Clone, Copy)]
enum Addressed {
    ByKeyId,
    /// `gpg --throw-keyids`: any key may be the recipient.
    Anonymously,
}

/// The message must carry a session key for one of the appliance's keys.
fn check_recipients(esk: &[Esk], appliance: &SecretKey) -> Result<Addressed> {
    let ours = appliance.legacy_key_ids();
    let mut recipients = Vec::new();
    for entry in esk {
        if let Esk::PublicKeyEncryptedSessionKey(pkesk) = entry {
            match pkesk.id() {
                // An anonymous recipient (gpg --throw-keyids) may be us: try to decrypt.
                Ok(id) if id.is_wildcard() => return Ok(Addressed::Anonymously),
                Ok(id) if ours.contains(id) => return Ok(Addressed::ByKeyId),
                Ok(id) => recipients.push(key_id_hex(*id)),
                Err(_) => {
                    if let Ok(Some(fpr)) = pkesk.fingerprint() {
                        recipients.push(hex::encode_upper(fpr.as_bytes()));
                    }
                }
            }
        }
    }
    if recipients.is_empty() {
        // rPGP drops session key packets it cannot read (a damaged version byte, say).
        return Err(Error::CorruptMessage {
            reason: "it has no readable public-key encrypted session key: the encrypted-key packet is damaged (or the file was encrypted with a passphrase, not to the appliance key)".to_owned(),
        });
    }
    Err(Error::NotForThisAppliance {
        recipients,
        appliance: appliance.key_ids(),
    })
}
