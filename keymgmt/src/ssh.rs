//! The build's GitHub deploy key as an OpenSSH key pair, byte for byte as `ssh-keygen -N ''`
//! writes it: the unencrypted `-----BEGIN OPENSSH PRIVATE KEY-----` file and the one-line
//! `.pub` file that goes into GitHub's deploy keys (an `authorized_keys` line).
//!
//! ```
//! use keymgmt::fsutil::Existing;
//! use keymgmt::ssh::{DeployKey, SshKeyKind};
//!
//! let key = DeployKey::generate(SshKeyKind::Ed25519, "sbs deploy key")?;
//! assert!(key.public_line().starts_with("ssh-ed25519 AAAA"));
//! assert!(key.fingerprint_sha256().starts_with("SHA256:"));
//!
//! let dir = tempfile::tempdir()?;
//! let paths = key.write_pair(dir.path(), "id_ed25519", Existing::Refuse)?;
//! let again = DeployKey::from_openssh_private(&std::fs::read_to_string(&paths.private)?)?;
//! assert_eq!(again.public_line(), key.public_line());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use rand::rngs::OsRng;
use ssh_key::private::{KeypairData, RsaKeypair};
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsutil::{self, Existing};

/// The smallest RSA key [`DeployKey::from_openssh_private`] accepts (OpenSSH's own minimum
/// is 1024; notary's and this crate's is 2048).
pub const MIN_RSA_BITS: usize = 2048;

/// The kinds of deploy key [`DeployKey::generate`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SshKeyKind {
    /// Ed25519, `ssh-keygen -t ed25519`: the default and the one to use.
    Ed25519,
    /// RSA with a 4096-bit modulus, `ssh-keygen -t rsa -b 4096`, for hosts that still want RSA.
    Rsa4096,
}

impl SshKeyKind {
    /// The `ssh-keygen -t` name of the kind (`ed25519`, `rsa`).
    pub fn as_str(self) -> &'static str {
        match self {
            SshKeyKind::Ed25519 => "ed25519",
            SshKeyKind::Rsa4096 => "rsa",
        }
    }
}

impl fmt::Display for SshKeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SshKeyKind::Ed25519 => f.write_str("Ed25519"),
            SshKeyKind::Rsa4096 => f.write_str("RSA 4096"),
        }
    }
}

/// Where [`DeployKey::write_pair`] put the two files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKeyPaths {
    /// The private key, mode 0600 (`<dir>/<name>`).
    pub private: PathBuf,
    /// The public key line, mode 0644 (`<dir>/<name>.pub`).
    pub public: PathBuf,
}

/// An unencrypted OpenSSH key pair (Ed25519 or RSA) used as a deploy key.
///
/// Its [`Debug`](fmt::Debug) shows the algorithm, fingerprint and comment, never the key.
pub struct DeployKey {
    key: PrivateKey,
    private_text: Zeroizing<String>,
    public_line: String,
}

impl DeployKey {
    /// Generates a new key pair of `kind` with `comment` (the text after the key in the `.pub`
    /// line, `ssh-keygen -C`), from the operating system's random numbers.
    ///
    /// RSA 4096 generation takes seconds (longer in an unoptimised build).
    pub fn generate(kind: SshKeyKind, comment: &str) -> Result<DeployKey> {
        check_comment(comment)?;
        let generation_failed = |e: ssh_key::Error| Error::SshKeyGeneration {
            kind,
            reason: e.to_string(),
        };
        let mut rng = OsRng;
        let mut key = match kind {
            SshKeyKind::Ed25519 => {
                PrivateKey::random(&mut rng, Algorithm::Ed25519).map_err(generation_failed)?
            }
            SshKeyKind::Rsa4096 => {
                let pair = RsaKeypair::random(&mut rng, 4096).map_err(generation_failed)?;
                PrivateKey::new(KeypairData::from(pair), comment).map_err(generation_failed)?
            }
        };
        key.set_comment(comment);
        Self::from_key(key).map_err(|e| Error::SshKeyGeneration {
            kind,
            reason: e.to_string(),
        })
    }

    /// Reads an unencrypted OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`, as
    /// `ssh-keygen -N ''` writes it) of type Ed25519 or RSA of at least [`MIN_RSA_BITS`].
    ///
    /// # Errors
    ///
    /// [`Error::UnexpectedPem`] for text without that block (for example a PKCS#8 or PKCS#1
    /// key), [`Error::MalformedSshKey`] for a block that does not decode,
    /// [`Error::EncryptedSshKey`] for a key with a passphrase, [`Error::UnsupportedSshKeyType`]
    /// for ECDSA, DSA and other types, and [`Error::WeakRsaKey`].
    pub fn from_openssh_private(text: &str) -> Result<DeployKey> {
        let label = pem_label(text);
        if label != Some("OPENSSH PRIVATE KEY") {
            return Err(Error::UnexpectedPem {
                expected: "OPENSSH PRIVATE KEY",
                found: label.map(str::to_owned),
            });
        }
        let key = PrivateKey::from_openssh(text).map_err(|e| Error::MalformedSshKey {
            reason: e.to_string(),
        })?;
        if key.is_encrypted() {
            return Err(Error::EncryptedSshKey {
                fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            });
        }
        match key.key_data() {
            KeypairData::Ed25519(_) => {}
            KeypairData::Rsa(pair) => {
                let bits = rsa_bits(pair);
                if bits < MIN_RSA_BITS {
                    return Err(Error::WeakRsaKey {
                        bits,
                        minimum: MIN_RSA_BITS,
                    });
                }
            }
            _ => {
                return Err(Error::UnsupportedSshKeyType {
                    algorithm: key.algorithm().as_str().to_owned(),
                });
            }
        }
        Self::from_key(key).map_err(|e| Error::MalformedSshKey {
            reason: e.to_string(),
        })
    }

    fn from_key(key: PrivateKey) -> Result<DeployKey, ssh_key::Error> {
        let private_text = key.to_openssh(LineEnding::LF)?;
        let public_line = key.public_key().to_openssh()?;
        Ok(DeployKey {
            key,
            private_text,
            public_line,
        })
    }

    /// The private key in OpenSSH's format, unencrypted, with LF line endings and a final
    /// newline: the contents of `id_ed25519` / `id_rsa`.
    pub fn to_openssh_private(&self) -> Zeroizing<String> {
        self.private_text.clone()
    }

    /// The public key as one `authorized_keys` line without a newline: `ssh-ed25519 AAAA...
    /// comment` or `ssh-rsa AAAA... comment` (no comment part when the comment is empty).
    /// This is what goes into GitHub's deploy keys.
    pub fn public_line(&self) -> String {
        self.public_line.clone()
    }

    /// The SHA-256 fingerprint as `ssh-keygen -l` prints it: `SHA256:` and unpadded base64.
    pub fn fingerprint_sha256(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }

    /// The SSH algorithm name: `ssh-ed25519` or `ssh-rsa`.
    pub fn algorithm(&self) -> &'static str {
        match self.key.key_data() {
            KeypairData::Ed25519(_) => "ssh-ed25519",
            _ => "ssh-rsa",
        }
    }

    /// The key size in bits: 256 for Ed25519, the modulus size for RSA (`ssh-keygen -l`'s
    /// first column).
    pub fn bits(&self) -> usize {
        match self.key.key_data() {
            KeypairData::Rsa(pair) => rsa_bits(pair),
            _ => 256,
        }
    }

    /// The comment (`ssh-keygen -C`).
    pub fn comment(&self) -> &str {
        self.key.comment()
    }

    /// Writes the pair as `ssh-keygen -f <dir>/<name>` does: the private key to `<dir>/<name>`
    /// with mode 0600 and the public line (with a newline) to `<dir>/<name>.pub` with mode
    /// 0644, each atomically (see [`fsutil::write_atomic`]).
    ///
    /// With [`Existing::Refuse`] an existing file of either name fails the call with
    /// [`Error::FileExists`] and nothing is written; if the `.pub` file appears between the
    /// two writes, the new private key is removed again. [`Existing::Replace`] replaces both.
    /// `name` must be a plain file name ([`Error::InvalidKeyFileName`]).
    pub fn write_pair(&self, dir: &Path, name: &str, existing: Existing) -> Result<SshKeyPaths> {
        check_file_name(name)?;
        let paths = SshKeyPaths {
            private: dir.join(name),
            public: dir.join(format!("{name}.pub")),
        };
        if existing == Existing::Refuse && paths.public.symlink_metadata().is_ok() {
            return Err(Error::FileExists { path: paths.public });
        }
        fsutil::write_atomic(
            &paths.private,
            self.private_text.as_bytes(),
            0o600,
            existing,
        )?;
        let public = format!("{}\n", self.public_line);
        if let Err(e) = fsutil::write_atomic(&paths.public, public.as_bytes(), 0o644, existing) {
            if existing == Existing::Refuse {
                // Leave the directory as it was: the private key without its .pub is ours.
                let _ = std::fs::remove_file(&paths.private);
            }
            return Err(e);
        }
        Ok(paths)
    }
}

impl fmt::Debug for DeployKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeployKey")
            .field("algorithm", &self.algorithm())
            .field("bits", &self.bits())
            .field("fingerprint", &self.fingerprint_sha256())
            .field("comment", &self.comment())
            .finish_non_exhaustive()
    }
}

fn rsa_bits(pair: &RsaKeypair) -> usize {
    let n = pair.public.n.as_positive_bytes().unwrap_or_default();
    match n.first() {
        Some(&top) => n.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

/// The label of the first PEM block in `text`, if any.
fn pem_label(text: &str) -> Option<&str> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = &text[start..];
    let end = rest.find("-----")?;
    Some(&rest[..end])
}

fn check_comment(comment: &str) -> Result<()> {
    if comment.contains(['\n', '\r']) {
        return Err(Error::InvalidSshComment {
            comment: comment.to_owned(),
        });
    }
    Ok(())
}

fn check_file_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." {
        Some("it names a directory")
    } else if name.contains('/') || name.contains('\0') {
        Some("it contains '/' or NUL")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidKeyFileName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn ed25519_round_trips_and_debug_hides_the_key() {
        let key = DeployKey::generate(SshKeyKind::Ed25519, "deploy@sbs").unwrap();
        let text = key.to_openssh_private();
        assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(text.ends_with("-----END OPENSSH PRIVATE KEY-----\n"));
        assert!(key.public_line().starts_with("ssh-ed25519 AAAA"));
        assert!(key.public_line().ends_with(" deploy@sbs"));
        let again = DeployKey::from_openssh_private(&text).unwrap();
        assert_eq!(again.public_line(), key.public_line());
        assert_eq!(*again.to_openssh_private(), *text);
        assert_eq!(key.bits(), 256);
        let debug = format!("{key:?}");
        assert!(
            debug.contains("SHA256:") && !debug.contains("OPENSSH"),
            "{debug}"
        );
    }

    #[test]
    fn wrong_inputs_have_typed_errors() {
        let err = DeployKey::from_openssh_private("not a key").unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedPem { found: None, .. }),
            "{err}"
        );
        let err = DeployKey::from_openssh_private(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::UnexpectedPem { found: Some(_), .. }),
            "{err}"
        );
        let err = DeployKey::from_openssh_private(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(matches!(err, Error::MalformedSshKey { .. }), "{err}");
        assert_eq!(err.blame(), crate::Blame::Input);
        let err = DeployKey::generate(SshKeyKind::Ed25519, "a\nb").unwrap_err();
        assert!(matches!(err, Error::InvalidSshComment { .. }), "{err}");
    }

    #[test]
    fn write_pair_refuses_existing_files_and_bad_names() {
        let dir = tempfile::tempdir().unwrap();
        let key = DeployKey::generate(SshKeyKind::Ed25519, "").unwrap();
        assert!(!key.public_line().ends_with(' '));
        let err = key
            .write_pair(dir.path(), "../x", Existing::Refuse)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidKeyFileName { .. }), "{err}");

        std::fs::write(dir.path().join("id.pub"), "old").unwrap();
        let err = key
            .write_pair(dir.path(), "id", Existing::Refuse)
            .unwrap_err();
        assert!(matches!(err, Error::FileExists { .. }), "{err}");
        assert!(!dir.path().join("id").exists());

        key.write_pair(dir.path(), "id", Existing::Replace).unwrap();
        let other = DeployKey::generate(SshKeyKind::Ed25519, "").unwrap();
        let err = other
            .write_pair(dir.path(), "id", Existing::Refuse)
            .unwrap_err();
        assert!(matches!(err, Error::FileExists { .. }), "{err}");
        let stored = std::fs::read_to_string(dir.path().join("id")).unwrap();
        assert_eq!(stored, *key.to_openssh_private());
    }
}
