//! A private key store over a Docker / notary trust dir, compatible with the Go notary client.
//!
//! Keys live in `<trust_dir>/private/<canonical key id>.key` (see [`crate::keyfile`] for the file
//! format), directories are created 0700 and files 0600. Writes are atomic (a temporary file in
//! the same directory, fsync, rename), an existing file is never replaced by a different one,
//! and every failure leaves the store as it was. Role names and GUNs are validated before any
//! path is built from them, so a GUN like `../../tmp/x` cannot escape the store.
//!
//! Reading also understands the pre-0.4 notary layout (`private/root_keys/<id>[_<role>].key`
//! and `private/tuf_keys/<gun>/<id>[_<role>].key`). As notary's own migration does, the role
//! from a `_<role>` file name suffix and the GUN from the directory win over PEM headers; a
//! root_keys file without either is a root key. [`KeyStore::open`] moves such files to the
//! current layout as the Go client does (see [`KeyStore::migrate_legacy_layout`]); a file it
//! cannot move stays where it is and is still read there.
//!
//! Passphrases come from a [`PassphraseSource`]; reading an encrypted key asks again (with
//! `attempt` + 1) after a wrong passphrase, up to [`MAX_ATTEMPTS`] times, and stops as soon as
//! the source has nothing new to offer (environment variables, fixed passphrases).
//!
//! ```
//! use keymgmt::keystore::KeyStore;
//! use keymgmt::passphrase::Fixed;
//! use keymgmt::{PrivateKey, SignatureMethod};
//!
//! let dir = tempfile::tempdir()?;
//! let store = KeyStore::open(&dir.path().join("trust"))?;
//! let passphrase = Fixed("correct horse battery".into());
//!
//! let key = PrivateKey::generate_ecdsa();
//! let id = store.add(&key, "targets", Some("example.com/app"), &passphrase)?;
//! assert!(dir.path().join("trust/private").join(format!("{id}.key")).exists());
//!
//! let listed = store.list()?;
//! assert_eq!(listed[0].role, "targets");
//! assert_eq!(listed[0].gun.as_deref(), Some("example.com/app"));
//!
//! let again = store.get(&id, &passphrase)?;
//! assert_eq!(again.role, "targets");
//! let signature = again.key.sign(b"payload");
//! key.public_key().verify(SignatureMethod::Ecdsa, b"payload", &signature.bytes)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::{Existing, write_atomic};
use crate::keyfile::{self, KeyFile, MAX_KEY_FILE_SIZE};
use crate::keys::{KeyId, PrivateKey, PublicKey};
use crate::passphrase::{PassphraseRequest, PassphraseSource};

mod migrate;

/// How many passphrases are tried for one key before giving up.
pub const MAX_ATTEMPTS: u32 = 3;

const PRIVATE_DIR: &str = "private";
const LEGACY_ROOT_DIR: &str = "root_keys";
const LEGACY_NON_ROOT_DIR: &str = "tuf_keys";
const KEY_EXT: &str = "key";
/// Deepest GUN directory nesting followed under `tuf_keys`.
const MAX_LEGACY_DEPTH: usize = 16;

/// A key found in the store, described without its passphrase.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyInfo {
    /// The canonical key ID (the file name).
    pub key_id: KeyId,
    /// The role (`root`, `targets`, `targets/releases`, a signer name...); empty if the file
    /// does not say.
    pub role: String,
    /// The GUN, for targets/snapshot/timestamp keys.
    pub gun: Option<String>,
    /// The file.
    pub path: PathBuf,
    /// Whether the file is in the pre-0.4 layout or the pre-0.6 PEM format.
    pub legacy: bool,
}

/// A key decrypted from the store, with the role and GUN it is stored for.
#[derive(Debug, Clone)]
pub struct DecryptedKey {
    /// The private key.
    pub key: PrivateKey,
    /// The role (`root`, `targets`, `targets/releases`, a signer name...), from the file's
    /// location and headers with notary's precedence; empty if neither says.
    pub role: String,
    /// The GUN, for targets/snapshot/timestamp keys.
    pub gun: Option<String>,
}

/// A key store over `<trust_dir>/private/`.
#[derive(Debug, Clone)]
pub struct KeyStore {
    private_dir: PathBuf,
}

/// Where a key file was found and what its location says about it.
struct Located {
    key_id: KeyId,
    path: PathBuf,
    role_from_name: Option<String>,
    gun_from_path: Option<String>,
    legacy_layout: bool,
    in_root_keys: bool,
}

fn create_private_dir(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(Error::io("create directory", path))?;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "key directory is accessible by group or others; consider chmod 700");
    }
    Ok(())
}

/// Fills in the file path of a corrupt-key error.
fn at(path: &Path) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::CorruptPrivateKey {
            key_id,
            path: None,
            reason,
        } => Error::CorruptPrivateKey {
            key_id,
            path: Some(path.to_owned()),
            reason,
        },
        other => other,
    }
}

/// Reads a key file of at most [`MAX_KEY_FILE_SIZE`] bytes.
fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let file = fs::File::open(path).map_err(Error::io("read", path))?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(Error::io("read", path))?;
    if bytes.len() > MAX_KEY_FILE_SIZE {
        return Err(Error::CorruptPrivateKey {
            key_id: None,
            path: Some(path.to_owned()),
            reason: format!("larger than the {MAX_KEY_FILE_SIZE}-byte limit for key files"),
        });
    }
    Ok(bytes)
}

/// Splits a legacy file stem `<id>` or `<id>_<role>`.
fn parse_legacy_stem(stem: &str) -> Option<(KeyId, Option<String>)> {
    match stem.split_once('_') {
        Some((id, rest)) => {
            let role = rest.split('_').next().unwrap_or_default();
            Some((
                KeyId::parse(id)?,
                (!role.is_empty()).then(|| role.to_owned()),
            ))
        }
        None => Some((KeyId::parse(stem)?, None)),
    }
}

/// Regular `.key` files (no symlinks) directly in `dir`, with their stems.
fn key_files(dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io("list", dir))?;
        let path = entry.path();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if !is_file || path.extension().and_then(|e| e.to_str()) != Some(KEY_EXT) {
            continue;
        }
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            out.push((path.clone(), stem.to_owned()));
        }
    }
    Ok(out)
}

impl KeyStore {
    /// Opens the key store of `trust_dir` (e.g. `~/.docker/trust` or `~/.notary`), creating
    /// `trust_dir` and `trust_dir/private` with mode 0700 if missing. Existing directories keep
    /// their permissions. Keys in the pre-0.4 layout are moved to the current one, as the Go
    /// client does when it opens a trust dir.
    pub fn open(trust_dir: &Path) -> Result<KeyStore> {
        create_private_dir(trust_dir)?;
        let private_dir = trust_dir.join(PRIVATE_DIR);
        create_private_dir(&private_dir)?;
        let store = KeyStore { private_dir };
        store.migrate_legacy_layout()?;
        Ok(store)
    }

    /// The `private/` directory.
    pub fn private_dir(&self) -> &Path {
        &self.private_dir
    }

    /// The path a key with `key_id` is written to.
    pub fn key_path(&self, key_id: &KeyId) -> PathBuf {
        self.private_dir.join(format!("{key_id}.{KEY_EXT}"))
    }

    /// Stores `key` encrypted for `role` (and `gun`, recorded only for targets/snapshot/timestamp
    /// keys, as notary does), asking `passphrase` for a new passphrase (at least 8 characters).
    ///
    /// If the store already holds this key with the same role and GUN, nothing is written and
    /// no passphrase is asked; with another role or GUN it fails with [`Error::KeyExists`].
    pub fn add(
        &self,
        key: &PrivateKey,
        role: &str,
        gun: Option<&str>,
        passphrase: &dyn PassphraseSource,
    ) -> Result<KeyId> {
        keyfile::validate_role(role)?;
        if let Some(gun) = gun {
            keyfile::validate_gun(gun)?;
        }
        let gun = gun.filter(|_| keyfile::role_has_gun(role));
        let key_id = key.key_id();
        let path = self.key_path(&key_id);
        if path.exists() {
            return self
                .check_existing(&key_id, &path, role, gun)
                .map(|()| key_id);
        }
        let request = PassphraseRequest {
            key_id: key_id.as_str(),
            role,
            gun,
            attempt: 0,
            creating: true,
        };
        let secret = passphrase.passphrase(&request)?;
        request.check_new(&secret)?;
        let pem_text = keyfile::encode_encrypted(key, role, gun, &secret)?;
        match write_atomic(&path, pem_text.as_bytes(), 0o600, Existing::Refuse) {
            // Lost a race against a concurrent writer of the same key: judge its file.
            Err(Error::FileExists { .. }) => {
                self.check_existing(&key_id, &path, role, gun)?;
            }
            other => other?,
        }
        tracing::debug!(key_id = %key_id, role, "stored private key");
        Ok(key_id)
    }

    fn check_existing(
        &self,
        key_id: &KeyId,
        path: &Path,
        role: &str,
        gun: Option<&str>,
    ) -> Result<()> {
        let existing = read_bounded(path)?;
        let header = keyfile::peek(&existing).map_err(at(path))?;
        if header.role.as_deref() == Some(role) && header.gun.as_deref() == gun {
            tracing::debug!(key_id = %key_id, role, "key already stored; left as is");
            return Ok(());
        }
        Err(Error::KeyExists {
            path: path.to_owned(),
            stored_role: header.role.unwrap_or_default(),
            stored_gun: header.gun,
            role: role.to_owned(),
            gun: gun.map(str::to_owned),
        })
    }

    /// Every key file in `private/`, then in the legacy `root_keys/` and `tuf_keys/<gun>/`.
    fn scan(&self) -> Result<Vec<Located>> {
        let mut found = Vec::new();
        for (path, stem) in key_files(&self.private_dir)? {
            if let Some(key_id) = KeyId::parse(&stem) {
                found.push(Located {
                    key_id,
                    path,
                    role_from_name: None,
                    gun_from_path: None,
                    legacy_layout: false,
                    in_root_keys: false,
                });
            }
        }
        for (path, stem) in key_files(&self.private_dir.join(LEGACY_ROOT_DIR))? {
            if let Some((key_id, role_from_name)) = parse_legacy_stem(&stem) {
                found.push(Located {
                    key_id,
                    path,
                    role_from_name,
                    gun_from_path: None,
                    legacy_layout: true,
                    in_root_keys: true,
                });
            }
        }
        let mut dirs = vec![(
            self.private_dir.join(LEGACY_NON_ROOT_DIR),
            Vec::<String>::new(),
        )];
        while let Some((dir, gun_parts)) = dirs.pop() {
            for (path, stem) in key_files(&dir)? {
                if let Some((key_id, role_from_name)) = parse_legacy_stem(&stem) {
                    found.push(Located {
                        key_id,
                        path,
                        role_from_name,
                        gun_from_path: (!gun_parts.is_empty()).then(|| gun_parts.join("/")),
                        legacy_layout: true,
                        in_root_keys: false,
                    });
                }
            }
            if gun_parts.len() >= MAX_LEGACY_DEPTH {
                continue;
            }
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                // file_type() does not follow symlinks: a symlinked directory is skipped.
                if entry.file_type().is_ok_and(|t| t.is_dir())
                    && let Some(name) = entry.file_name().to_str()
                {
                    let mut parts = gun_parts.clone();
                    parts.push(name.to_owned());
                    dirs.push((entry.path(), parts));
                }
            }
        }
        Ok(found)
    }

    fn locate(&self, key_id: &KeyId) -> Result<Located> {
        let path = self.key_path(key_id);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            return Ok(Located {
                key_id: key_id.clone(),
                path,
                role_from_name: None,
                gun_from_path: None,
                legacy_layout: false,
                in_root_keys: false,
            });
        }
        self.scan()?
            .into_iter()
            .find(|l| &l.key_id == key_id)
            .ok_or_else(|| Error::KeyNotFound {
                key_id: key_id.to_string(),
                dir: self.private_dir.clone(),
            })
    }

    /// Role and GUN of a located file, from its location and headers (notary's precedence).
    fn describe(
        located: &Located,
        role: Option<String>,
        gun: Option<String>,
    ) -> (String, Option<String>) {
        let role = located
            .role_from_name
            .clone()
            .or(role)
            .or_else(|| located.in_root_keys.then(|| "root".to_owned()))
            .unwrap_or_default();
        (role, located.gun_from_path.clone().or(gun))
    }

    /// Lists every key without passphrases (headers only), sorted by key ID then path. Files
    /// that are not key files are skipped with a warning, as notary does.
    pub fn list(&self) -> Result<Vec<KeyInfo>> {
        let mut keys = Vec::new();
        for located in self.scan()? {
            let header = match read_bounded(&located.path)
                .and_then(|bytes| keyfile::peek(&bytes).map_err(at(&located.path)))
            {
                Ok(header) => header,
                Err(e) => {
                    tracing::warn!(path = %located.path.display(), error = %e, "skipping unreadable key file");
                    continue;
                }
            };
            let (role, gun) = Self::describe(&located, header.role, header.gun);
            keys.push(KeyInfo {
                key_id: located.key_id,
                role,
                gun,
                path: located.path,
                legacy: located.legacy_layout || header.legacy,
            });
        }
        keys.sort();
        Ok(keys)
    }

    /// Decrypts key `key_id`, asking `passphrase` up to [`MAX_ATTEMPTS`] times.
    pub fn get(&self, key_id: &KeyId, passphrase: &dyn PassphraseSource) -> Result<DecryptedKey> {
        let located = self.locate(key_id)?;
        let bytes = zeroize::Zeroizing::new(read_bounded(&located.path)?);
        let header = keyfile::peek(&bytes).map_err(at(&located.path))?;
        let (role, gun) = Self::describe(&located, header.role, header.gun);
        let file = decode_with_retries(
            &bytes,
            Some(key_id.as_str()),
            &role,
            gun.as_deref(),
            passphrase,
        )
        .map_err(at(&located.path))?;
        Ok(DecryptedKey {
            key: file.key,
            role,
            gun,
        })
    }

    /// Imports a PEM private key (any format [`keyfile::decode`] reads, e.g. from
    /// `openssl ecparam -genkey` or `notary key export`) for `role`/`gun`. An encrypted input is
    /// opened with `import_passphrase`; the key is stored encrypted with `store_passphrase`.
    pub fn import_pem(
        &self,
        pem_text: &[u8],
        role: &str,
        gun: Option<&str>,
        import_passphrase: &dyn PassphraseSource,
        store_passphrase: &dyn PassphraseSource,
    ) -> Result<KeyId> {
        keyfile::validate_role(role)?;
        if let Some(gun) = gun {
            keyfile::validate_gun(gun)?;
        }
        let file = decode_with_retries(pem_text, None, role, gun, import_passphrase)?;
        self.add(&file.key, role, gun, store_passphrase)
    }

    /// The stored (encrypted) file of `key_id`, byte for byte.
    pub fn export_pem(&self, key_id: &KeyId) -> Result<String> {
        let located = self.locate(key_id)?;
        let bytes = read_bounded(&located.path)?;
        String::from_utf8(bytes).map_err(|_| Error::CorruptPrivateKey {
            key_id: Some(key_id.to_string()),
            path: Some(located.path.clone()),
            reason: "not UTF-8 text PEM".into(),
        })
    }

    /// Deletes every file of `key_id` (current and legacy layout).
    pub fn remove(&self, key_id: &KeyId) -> Result<()> {
        let mut paths: Vec<PathBuf> = self
            .scan()?
            .into_iter()
            .filter(|l| &l.key_id == key_id)
            .map(|l| l.path)
            .collect();
        if paths.is_empty() {
            return Err(Error::KeyNotFound {
                key_id: key_id.to_string(),
                dir: self.private_dir.clone(),
            });
        }
        paths.sort();
        for path in paths {
            fs::remove_file(&path).map_err(Error::io("remove", &path))?;
            if let Some(dir) = path.parent() {
                fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(Error::io("sync directory", dir))?;
            }
            tracing::debug!(key_id = %key_id, path = %path.display(), "removed private key");
        }
        Ok(())
    }
}

/// Decodes `pem_text`, asking `source` again after each wrong passphrase (up to
/// [`MAX_ATTEMPTS`]); unencrypted files need no passphrase.
fn decode_with_retries(
    pem_text: &[u8],
    key_id: Option<&str>,
    role: &str,
    gun: Option<&str>,
    source: &dyn PassphraseSource,
) -> Result<KeyFile> {
    let header = keyfile::peek(pem_text)?;
    if !header.encrypted {
        return keyfile::decode(pem_text, None, key_id);
    }
    let mut last_wrong = None;
    for attempt in 0..MAX_ATTEMPTS {
        let request = PassphraseRequest {
            key_id: key_id.unwrap_or("(import)"),
            role,
            gun,
            attempt,
            creating: false,
        };
        let secret = match (source.passphrase(&request), last_wrong.take()) {
            (Ok(secret), _) => secret,
            // The source has nothing new to offer: report the wrong passphrase.
            (Err(Error::PassphraseUnavailable { .. }), Some(wrong)) => return Err(wrong),
            (Err(e), _) => return Err(e),
        };
        match keyfile::decode(pem_text, Some(&secret), key_id) {
            Err(Error::WrongPassphrase { key_id: found, .. }) => {
                tracing::debug!(role, attempt, "wrong passphrase");
                // Report the role and GUN as resolved from the file's location too.
                last_wrong = Some(Error::WrongPassphrase {
                    key_id: found,
                    role: role.to_owned(),
                    gun: gun.map(str::to_owned),
                });
            }
            other => return other,
        }
    }
    Err(last_wrong.unwrap_or_else(|| Error::WrongPassphrase {
        key_id: key_id.unwrap_or("(import)").to_owned(),
        role: role.to_owned(),
        gun: gun.map(str::to_owned),
    }))
}

/// Writes `dir/NAME.pub` as `docker trust key generate NAME` does (PEM `PUBLIC KEY` with header
/// `role: NAME`, mode 0644), replacing an older file of that name. `name` must be a signer name
/// (`[a-z0-9][-a-z0-9_]*`) or a base role.
pub fn write_public_key(dir: &Path, name: &str, key: &PublicKey) -> Result<PathBuf> {
    keyfile::validate_role(name)?;
    if name.contains('/') {
        return Err(Error::InvalidRole {
            role: name.to_owned(),
        });
    }
    let path = dir.join(format!("{name}.pub"));
    write_atomic(
        &path,
        keyfile::public_key_pem(key, name).as_bytes(),
        0o644,
        Existing::Replace,
    )?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_stems() {
        let id = "a".repeat(64);
        assert_eq!(parse_legacy_stem(&id), KeyId::parse(&id).map(|k| (k, None)));
        let (k, role) = parse_legacy_stem(&format!("{id}_root")).unwrap();
        assert_eq!((k.as_str(), role.as_deref()), (id.as_str(), Some("root")));
        assert!(parse_legacy_stem("nothex_root").is_none());
    }
}
