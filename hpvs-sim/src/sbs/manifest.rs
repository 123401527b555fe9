//! Making the build manifest (`shared/spec/sbs.md`, "Build manifest"): a signed bzip2 tar of
//! the build's record, log and source, checked by the lab with `openssl` alone. The verifier
//! is the client's, [`hpvs_api::manifest`], re-exported here ([`verify`],
//! [`verify_with_limit`], [`VerifiedManifest`], [`MAX_ARCHIVE_BYTES`]); its refusals are
//! [`hpvs_api::manifest::ManifestError`].
//!
//! ```text
//! manifest.<build_name>.sig.tbz       bzip2 tar; /manifest's encoded_manifest is its base64
//! ├── manifest.<build_name>.tbz       bzip2 tar
//! │   ├── data/build.json             status and parameters, secrets stripped
//! │   ├── data/build.log
//! │   ├── git/...                     the cloned tree, .git included, symlinks kept as symlinks
//! │   └── root_ssh/                   empty unless root SSH was enabled
//! └── manifest.<build_name>.sig       lower-case hex, no newline
//! ```
//!
//! The `.sig` is RSA PKCS#1 v1.5 SHA-256 over the SHA-256 digest of the `.tbz` (hashed twice),
//! as the lab checks it: `openssl dgst -sha256 -binary -out tbz.sha256 X.tbz`, then
//! `openssl dgst -sha256 -verify pub.pem -signature sig.bin tbz.sha256`. The key
//! ([`ManifestKey`]) is RSA-2048, fresh for each build, its public half a PEM
//! SubjectPublicKeyInfo (`/publickey`). The same inputs give the same bytes: entries sorted
//! (a directory before its contents), uid/gid 0, one mtime ([`ManifestInputs::mtime`]), modes
//! 0755 (directories, executables), 0644 (files), 0777 (symlinks), bzip2 level 9.
//!
//! What it does not do: no network I/O; no verifier of its own; everything is in memory,
//! bounded by [`MAX_ARCHIVE_BYTES`]; the tree must not change while it is snapshotted (a file
//! replaced under us is refused, a directory swapped for a symlink is not seen); FIFOs,
//! sockets and devices are refused, not skipped.
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use hpvs_sim::sbs::manifest::{self, BuildManifest, ManifestInputs, ManifestKey};
//!
//! let tree = tempfile::tempdir()?;
//! std::fs::create_dir(tree.path().join(".git"))?;
//! std::fs::write(tree.path().join("Dockerfile"), "FROM scratch\n")?;
//! let key = ManifestKey::generate()?;
//! let inputs = ManifestInputs {
//!     build_json: serde_json::json!({"status": "success", "DOCKER_PASSWORD": "hunter2"}),
//!     build_log: "2024-01-01 00:00:00,000  root       INFO    completed a build\n",
//!     git_dir: tree.path(),
//!     root_ssh_dir: None,
//!     mtime: 0,
//! };
//! let signed = BuildManifest::create("docker.io.me.app.latest", &inputs, &key)?;
//! assert_eq!(signed.name, "manifest.docker.io.me.app.latest");
//!
//! let verified = manifest::verify(&signed.sig_tbz, key.public_key_pem())?;
//! assert_eq!(verified.name, signed.name);
//! assert!(verified.files.iter().any(|name| name == "git/Dockerfile"));
//! assert_eq!(verified.build_json["status"], "success");
//! assert!(verified.build_json.get("DOCKER_PASSWORD").is_none());
//! # Ok(())
//! # }
//! ```

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hpvs_api::manifest::check_build_name;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use ssc_register::basic::RsaSecretKey;

// The verifier is the client's; `MAX_ARCHIVE_BYTES` also bounds what `BuildManifest::pack`
// snapshots.
pub use hpvs_api::manifest::{MAX_ARCHIVE_BYTES, VerifiedManifest, verify, verify_with_limit};

/// Field names that contain `KEY` but are public: the status's manifest key fields.
pub const PUBLIC_KEY_FIELDS: [&str; 2] = ["manifest_key_gen", "manifest_public_key"];

/// The words that make a `build.json` field name secret (compared ignoring case).
pub const SECRET_WORDS: [&str; 3] = ["PASSWORD", "SECRET", "KEY"];

const OUTER: &str = "signed manifest (.sig.tbz)";
const INNER: &str = "manifest (.tbz)";
const BUILD_JSON: &str = "data/build.json";

/// A result whose error is [`ManifestError`].
pub type Result<T, E = ManifestError> = std::result::Result<T, E>;

/// Why a manifest could not be made. (A manifest [`verify`] refused is a
/// [`hpvs_api::manifest::ManifestError`].)
///
/// Blame: [`InvalidBuildName`](Self::InvalidBuildName) and
/// [`BuildJsonNotObject`](Self::BuildJsonNotObject) are the caller's; the snapshot variants,
/// [`Key`](Self::Key) and [`TooLarge`](Self::TooLarge) (a tree too big to pack) the
/// environment's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// A build name that cannot name a tar member.
    #[error("invalid build name {name:?}: {reason}")]
    InvalidBuildName {
        /// The refused name.
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// `build.json` must be a JSON object.
    #[error("build.json must be a json object, got {found}")]
    BuildJsonNotObject {
        /// The JSON type given.
        found: &'static str,
    },
    /// A directory to snapshot does not exist or is not a directory.
    #[error("directory {path} to snapshot is missing or not a directory")]
    MissingDirectory {
        /// The directory asked for.
        path: PathBuf,
    },
    /// A FIFO, socket or device in the tree.
    #[error("{path} is not a file, a directory or a symlink: refused in a manifest")]
    UnsupportedFileType {
        /// The special file.
        path: PathBuf,
    },
    /// A file replaced or resized between listing and reading it.
    #[error("{path} changed while it was snapshotted")]
    ChangedDuringSnapshot {
        /// The file that changed.
        path: PathBuf,
    },
    /// Reading the tree failed.
    #[error("cannot read {path}")]
    ReadFailed {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Adding an entry to an archive failed (a name tar cannot store).
    #[error("cannot add {name:?} to the manifest archive")]
    ArchiveWrite {
        /// The member's name.
        name: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Generating the key or exporting its public key failed.
    #[error("manifest key {operation} failed")]
    Key {
        /// `generation` or `public key export`.
        operation: &'static str,
        /// The RSA or PEM error.
        #[source]
        source: ssc_register::Error,
    },
    /// The files to snapshot exceed the limit.
    #[error("the {archive} exceeds {limit} bytes")]
    TooLarge {
        /// Which archive.
        archive: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
}

/// A build's manifest signing key: RSA-2048, made fresh for each build. `Debug` does not show
/// the private key.
#[derive(Clone, Debug)]
pub struct ManifestKey {
    secret: RsaSecretKey,
    public_key_pem: String,
}

impl ManifestKey {
    /// The modulus size of generated keys.
    pub const BITS: usize = 2048;

    /// Generates a fresh RSA-2048 key.
    pub fn generate() -> Result<Self> {
        let secret = RsaSecretKey::generate(Self::BITS).map_err(|source| ManifestError::Key {
            operation: "generation",
            source,
        })?;
        Self::from_secret_key(secret)
    }

    /// Wraps an existing key (one restored from a state image).
    pub fn from_secret_key(secret: RsaSecretKey) -> Result<Self> {
        let public_key_pem = secret
            .public_key_pem()
            .map_err(|source| ManifestError::Key {
                operation: "public key export",
                source,
            })?;
        Ok(Self {
            secret,
            public_key_pem,
        })
    }

    /// The public key, PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`), as
    /// `/publickey`'s `public_key_pem`.
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }
}

/// What a manifest records about one build. No `Debug`: `build_json` may still hold secrets.
#[derive(Clone)]
pub struct ManifestInputs<'a> {
    /// The build's status and parameters, a JSON object. Secret fields are stripped again
    /// ([`strip_secrets`]) before it is written as `data/build.json`.
    pub build_json: Value,
    /// The build's log, written as `data/build.log`.
    pub build_log: &'a str,
    /// The cloned source tree, `.git` included, snapshotted under `git/`.
    pub git_dir: &'a Path,
    /// The root SSH directory, snapshotted under `root_ssh/`; `None` writes it empty.
    pub root_ssh_dir: Option<&'a Path>,
    /// The modification time of every entry, seconds since the epoch: 0, or the build's time.
    pub mtime: u64,
}

/// The signed manifest, as `/manifest` serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedManifest {
    /// `manifest.<build_name>` (`/manifest`'s `manifest_name`).
    pub name: String,
    /// The bytes of `manifest.<build_name>.sig.tbz`.
    pub sig_tbz: Vec<u8>,
    /// Lower-case hex SHA-256 of the inner `.tbz`.
    pub tbz_sha256_hex: String,
    /// Lower-case hex of the signature: the content of the `.sig`.
    pub signature_hex: String,
}

impl SignedManifest {
    /// Standard base64 of [`sig_tbz`](Self::sig_tbz) (`/manifest`'s `encoded_manifest`).
    pub fn encoded(&self) -> String {
        B64.encode(&self.sig_tbz)
    }
}

/// The inner `manifest.<build_name>.tbz`, before it is signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildManifest {
    name: String,
    tbz: Vec<u8>,
    mtime: u64,
}

impl BuildManifest {
    /// Packs and signs the manifest of build `build_name` ([`pack`](Self::pack), then
    /// [`sign`](Self::sign)).
    pub fn create(
        build_name: &str,
        inputs: &ManifestInputs<'_>,
        key: &ManifestKey,
    ) -> Result<SignedManifest> {
        Self::pack(build_name, inputs)?.sign(key)
    }

    /// Packs `data/build.json` (secrets stripped), `data/build.log`, the tree under `git/`
    /// and `root_ssh/` into the inner `.tbz`. Symlinks are stored as symlinks, never followed.
    pub fn pack(build_name: &str, inputs: &ManifestInputs<'_>) -> Result<Self> {
        check_build_name(build_name).map_err(|reason| ManifestError::InvalidBuildName {
            name: build_name.to_owned(),
            reason,
        })?;
        let mut build_json = inputs.build_json.clone();
        if !build_json.is_object() {
            return Err(ManifestError::BuildJsonNotObject {
                found: json_type(&build_json),
            });
        }
        strip_secrets(&mut build_json);
        let mut json =
            serde_json::to_vec_pretty(&build_json).map_err(|e| ManifestError::ArchiveWrite {
                name: BUILD_JSON.into(),
                source: e.into(),
            })?;
        json.push(b'\n');

        let mut packer = Packer::new(inputs.mtime);
        packer.budget(json.len() as u64 + inputs.build_log.len() as u64)?;
        packer.append(Path::new("data/"), Entry::Dir)?;
        packer.append(Path::new(BUILD_JSON), Entry::File(&json, 0o644))?;
        let log = inputs.build_log.as_bytes();
        packer.append(Path::new("data/build.log"), Entry::File(log, 0o644))?;
        packer.tree(inputs.git_dir, "git")?;
        match inputs.root_ssh_dir {
            Some(dir) => packer.tree(dir, "root_ssh")?,
            None => packer.append(Path::new("root_ssh/"), Entry::Dir)?,
        }
        Ok(Self {
            name: format!("manifest.{build_name}"),
            tbz: packer.finish(INNER)?,
            mtime: inputs.mtime,
        })
    }

    /// Signs the `.tbz` with `key` and packs it with its `.sig` into the `.sig.tbz`.
    pub fn sign(&self, key: &ManifestKey) -> Result<SignedManifest> {
        let digest = Sha256::digest(&self.tbz);
        // The lab verifies `openssl dgst -sha256` of the 32-byte digest file: sign the digest,
        // which `sign_sha256` hashes again.
        let signature_hex = hex::encode(key.secret.sign_sha256(&digest));
        let mut packer = Packer::new(self.mtime);
        let (tbz, sig) = (format!("{}.tbz", self.name), format!("{}.sig", self.name));
        packer.append(Path::new(&tbz), Entry::File(&self.tbz, 0o644))?;
        packer.append(
            Path::new(&sig),
            Entry::File(signature_hex.as_bytes(), 0o644),
        )?;
        Ok(SignedManifest {
            name: self.name.clone(),
            sig_tbz: packer.finish(OUTER)?,
            tbz_sha256_hex: hex::encode(digest),
            signature_hex,
        })
    }

    /// The bytes of the inner `.tbz`.
    pub fn tbz(&self) -> &[u8] {
        &self.tbz
    }
}

/// Whether a `build.json` field of this name is secret: its name contains one of
/// [`SECRET_WORDS`] (`PASSWORD`, `SECRET`, `KEY`, ignoring case) and it is not one of
/// [`PUBLIC_KEY_FIELDS`]. So `DOCKER_PASSWORD`, `GITHUB_KEY`, `SECRET`, `NEW_SECRET` and
/// `ISV_SECRET` are secret, `manifest_public_key` is not.
pub fn is_secret_field(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|word| upper.contains(word)) && !PUBLIC_KEY_FIELDS.contains(&name)
}

/// Removes every secret field ([`is_secret_field`]) at any depth (build args in `ARG`
/// included) and returns the removed fields' paths (`ARG.API_KEY`, `LIST[0].TOKEN_KEY`),
/// sorted. Only names are inspected, never values.
pub fn strip_secrets(value: &mut Value) -> Vec<String> {
    fn strip(value: &mut Value, at: &str, removed: &mut Vec<String>) {
        let join = |name: &str| match at {
            "" => name.to_owned(),
            _ => format!("{at}.{name}"),
        };
        match value {
            Value::Object(map) => {
                map.retain(|name, _| {
                    let secret = is_secret_field(name);
                    if secret {
                        removed.push(join(name));
                    }
                    !secret
                });
                for (name, child) in map.iter_mut() {
                    strip(child, &join(name), removed);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    strip(item, &format!("{at}[{index}]"), removed);
                }
            }
            _ => {}
        }
    }
    let mut removed = Vec::new();
    strip(value, "", &mut removed);
    removed.sort();
    removed
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Object(_) => "an object",
        _ => "null, a boolean or a number",
    }
}

/// A tar entry: a file with its mode, a directory, a symlink with its target.
enum Entry<'a> {
    File(&'a [u8], u32),
    Dir,
    Symlink(&'a Path),
}

/// Writes a deterministic tar, then compresses it; counts the file bytes it is given.
struct Packer {
    builder: tar::Builder<Vec<u8>>,
    mtime: u64,
    total: u64,
}

impl Packer {
    fn new(mtime: u64) -> Self {
        Self {
            builder: tar::Builder::new(Vec::new()),
            mtime,
            total: 0,
        }
    }

    /// The one size check of [`BuildManifest::pack`]: `bytes` more, within the limit.
    fn budget(&mut self, bytes: u64) -> Result<()> {
        self.total = self.total.saturating_add(bytes);
        if self.total > MAX_ARCHIVE_BYTES {
            return Err(ManifestError::TooLarge {
                archive: INNER,
                limit: MAX_ARCHIVE_BYTES,
            });
        }
        Ok(())
    }

    /// Appends one entry; a directory's `name` ends with `/`, as GNU tar lists it.
    fn append(&mut self, name: &Path, entry: Entry<'_>) -> Result<()> {
        let (kind, mode, data, link) = match entry {
            Entry::File(data, mode) => (tar::EntryType::Regular, mode, data, None),
            Entry::Dir => (tar::EntryType::Directory, 0o755, &[][..], None),
            Entry::Symlink(target) => (tar::EntryType::Symlink, 0o777, &[][..], Some(target)),
        };
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(self.mtime);
        match link {
            Some(target) => self.builder.append_link(&mut header, name, target),
            None => self.builder.append_data(&mut header, name, data),
        }
        .map_err(|source| ManifestError::ArchiveWrite {
            name: name.to_owned(),
            source,
        })
    }

    /// Snapshots the directory `root` under `prefix/`: pre-order, siblings sorted by name,
    /// symlinks stored with their target and never followed.
    fn tree(&mut self, root: &Path, prefix: &str) -> Result<()> {
        let missing = || ManifestError::MissingDirectory {
            path: root.to_owned(),
        };
        if !fs::symlink_metadata(root).map_err(|_| missing())?.is_dir() {
            return Err(missing());
        }
        let mut pending = vec![(root.to_owned(), PathBuf::from(prefix))];
        while let Some((path, name)) = pending.pop() {
            let read_failed = |source| ManifestError::ReadFailed {
                path: path.clone(),
                source,
            };
            let meta = fs::symlink_metadata(&path).map_err(read_failed)?;
            let kind = meta.file_type();
            if kind.is_dir() {
                let mut dir_name = OsString::from(name.as_os_str());
                dir_name.push("/");
                self.append(Path::new(&dir_name), Entry::Dir)?;
                let mut children = fs::read_dir(&path)
                    .and_then(|entries| {
                        entries
                            .map(|e| Ok(e?.file_name()))
                            .collect::<io::Result<Vec<OsString>>>()
                    })
                    .map_err(read_failed)?;
                children.sort_by(|a, b| b.cmp(a));
                pending.extend(
                    children
                        .into_iter()
                        .map(|child| (path.join(&child), name.join(&child))),
                );
            } else if kind.is_symlink() {
                let target = fs::read_link(&path).map_err(read_failed)?;
                self.append(&name, Entry::Symlink(&target))?;
            } else if kind.is_file() {
                self.budget(meta.len())?;
                let data = read_unchanged(&path, &meta)?;
                let executable = meta.mode() & 0o111 != 0;
                let mode = if executable { 0o755 } else { 0o644 };
                self.append(&name, Entry::File(&data, mode))?;
            } else {
                return Err(ManifestError::UnsupportedFileType { path });
            }
        }
        Ok(())
    }

    fn finish(self, archive: &'static str) -> Result<Vec<u8>> {
        let compress = |tar: Vec<u8>| {
            let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
            encoder.write_all(&tar)?;
            encoder.finish()
        };
        self.builder
            .into_inner()
            .and_then(compress)
            .map_err(|source| ManifestError::ArchiveWrite {
                name: archive.into(),
                source,
            })
    }
}

/// Reads the file `path` listed with `listed`, refusing one that was replaced (by a symlink
/// or another file) or resized since.
fn read_unchanged(path: &Path, listed: &fs::Metadata) -> Result<Vec<u8>> {
    let read_failed = |source| ManifestError::ReadFailed {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_failed)?;
    let opened = file.metadata().map_err(read_failed)?;
    let changed = || ManifestError::ChangedDuringSnapshot {
        path: path.to_owned(),
    };
    if (opened.dev(), opened.ino()) != (listed.dev(), listed.ino()) {
        return Err(changed());
    }
    let mut data = Vec::new();
    file.take(listed.len().saturating_add(1))
        .read_to_end(&mut data)
        .map_err(read_failed)?;
    if data.len() as u64 != listed.len() {
        return Err(changed());
    }
    Ok(data)
}
