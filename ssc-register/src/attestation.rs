//! Attestation records (`se-checksums.txt`): decrypting them and checking their contract
//! checksums.
//!
//! A record is a header line (the image build) followed by `<sha256 hex> <name>` lines. The
//! entries `contract:<section>` hold the sha256 of that section's value as it appears in the
//! contract (the encrypted string, for encrypted sections).

use sha2::{Digest as _, Sha256};

use crate::basic::{self, RsaSecretKey};
use crate::contract::Contract;
use crate::error::{Error, Result};

/// A parsed attestation record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationRecord {
    /// The first line when it is not a checksum (the HPCR image build), if present.
    pub header: Option<String>,
    /// `(sha256 hex, name)` in record order.
    pub entries: Vec<(String, String)>,
}

impl AttestationRecord {
    /// Decrypts an encrypted record (`hyper-protect-basic...`, encrypted to the contract's
    /// `attestationPublicKey`) with its private key, and parses it.
    pub fn decrypt(encrypted: &str, key: &RsaSecretKey) -> Result<Self> {
        let text = basic::decrypt(encrypted, key)?;
        let text = String::from_utf8(text).map_err(|e| Error::MalformedAttestation {
            line: format!("not utf-8: {e}"),
        })?;
        Self::parse(&text)
    }

    /// Parses a cleartext record.
    pub fn parse(text: &str) -> Result<Self> {
        let mut header = None;
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(hash), Some(name), None) if is_sha256_hex(hash) => {
                    entries.push((hash.to_ascii_lowercase(), name.to_owned()));
                }
                (Some(_), None, None) if index == 0 => header = Some(line.to_owned()),
                _ => {
                    return Err(Error::MalformedAttestation {
                        line: line.to_owned(),
                    });
                }
            }
        }
        Ok(Self { header, entries })
    }

    /// The checksum recorded for `name`.
    pub fn checksum(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, n)| n == name)
            .map(|(hash, _)| hash.as_str())
    }

    /// Checks that every section of `contract` is recorded with its sha256.
    pub fn check_contract(&self, contract: &Contract) -> Result<()> {
        for (section, value) in contract.sections() {
            let entry = format!("contract:{section}");
            let expected = hex::encode(Sha256::digest(value.as_bytes()));
            match self.checksum(&entry) {
                None => return Err(Error::AttestationEntryMissing { entry }),
                Some(actual) if actual != expected => {
                    return Err(Error::AttestationMismatch {
                        entry,
                        expected,
                        actual: actual.to_owned(),
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}
