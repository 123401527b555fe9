//! Key ceremonies: init (root key reuse, nothing left behind on failure) and key rotation,
//! for published collections and for ones that exist only in the trust dir.

use std::collections::BTreeMap;

use keymgmt::{KeyId, PrivateKey, PublicKey};

use super::plan::new_snapshot;
use super::{InitOptions, Repository};
use crate::error::{Error, Result};
use crate::metadata::{self, KeyJson, RoleType, Root, RootRole, SigningKey, Targets};

/// Who holds a role's private key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyHolder {
    /// This trust dir's key store.
    #[default]
    Local,
    /// The notary server (notary-signer), which signs the role itself.
    Server,
}

/// A key rotation notary allows: root and targets keys are always local, the timestamp key
/// always the server's, the snapshot key either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRotation {
    /// A new root key and certificate.
    Root,
    /// A new local targets key.
    Targets,
    /// A new snapshot key, held locally or by the server.
    Snapshot(KeyHolder),
    /// A new server-held timestamp key.
    Timestamp,
}

impl KeyRotation {
    /// The rotation of base role `role` with its key held by `holder`, as a CLI takes it
    /// (`key rotate <role> [-r]`); a timestamp key is the server's whatever `holder` says.
    /// Root or targets with [`KeyHolder::Server`], or another role, is [`Error::InvalidRole`].
    pub fn new(role: &str, holder: KeyHolder) -> Result<Self> {
        match (role, holder) {
            ("root", KeyHolder::Local) => Ok(Self::Root),
            ("targets", KeyHolder::Local) => Ok(Self::Targets),
            ("snapshot", holder) => Ok(Self::Snapshot(holder)),
            ("timestamp", _) => Ok(Self::Timestamp),
            _ => Err(Error::InvalidRole {
                role: format!("{role} (server-managed: {})", holder == KeyHolder::Server),
            }),
        }
    }

    /// The base role whose key rotates.
    pub fn role(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Targets => "targets",
            Self::Snapshot(_) => "snapshot",
            Self::Timestamp => "timestamp",
        }
    }
}

/// Which root key [`Repository::init`] used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootKeyChoice {
    /// The key named in [`InitOptions::root_key`].
    Given(KeyId),
    /// The trust dir's existing root key (the first by key ID), as `notary init` picks it.
    Found(KeyId),
    /// A new key: the trust dir had none.
    Created(KeyId),
}

impl RootKeyChoice {
    /// The key's ID.
    pub fn key_id(&self) -> &KeyId {
        match self {
            Self::Given(id) | Self::Found(id) | Self::Created(id) => id,
        }
    }
}

/// A private key found in the key store, with the ID the metadata lists it under.
pub(super) struct HeldKey {
    key: PrivateKey,
    listed_id: KeyId,
}

impl HeldKey {
    pub(super) fn as_signing(&self) -> SigningKey<'_> {
        SigningKey {
            key: &self.key,
            key_id: self.listed_id.clone(),
        }
    }
}

/// The collection as the trust dir holds it before its first publication.
struct LocalCollection {
    root: Root,
    targets: Targets,
    targets_bytes: Vec<u8>,
}

impl Repository<'_> {
    /// Creates the collection's keys and first metadata locally, like `notary init`: the root
    /// key (`options.root_key`, else the trust dir's existing root key, else a new one) wrapped
    /// in a self-signed certificate for the GUN, a new targets key, a snapshot key (or the
    /// server's), and the server's timestamp key. Nothing is sent until
    /// [`publish`](Self::publish).
    ///
    /// An existing root key is decrypted first, so a wrong root passphrase fails before
    /// anything else happens. A failure (a passphrase refused, the server unreachable) leaves
    /// the key store and the cache as they were.
    pub async fn init(&self, options: &InitOptions) -> Result<RootKeyChoice> {
        let store = &self.client.keystore;
        let passphrase = self.client.passphrase.as_ref();
        let (root_key, choice) = match &options.root_key {
            Some(id) => (
                store.get(id, passphrase)?.key,
                RootKeyChoice::Given(id.clone()),
            ),
            None => match store.list()?.into_iter().find(|k| k.role == "root") {
                Some(found) => (
                    store.get(&found.key_id, passphrase)?.key,
                    RootKeyChoice::Found(found.key_id),
                ),
                None => {
                    let key = PrivateKey::generate_ecdsa();
                    let id = key.key_id();
                    (key, RootKeyChoice::Created(id))
                }
            },
        };
        let root_cert = keymgmt::x509::generate_root_certificate(&self.gun, &root_key)?;
        let targets_key = PrivateKey::generate_ecdsa();
        let transport = &self.client.transport;
        let timestamp_public = server_key(&transport.get_key(&self.gun, "timestamp").await?)?;
        let (snapshot_public, snapshot_key) = if options.snapshot == KeyHolder::Server {
            (
                server_key(&transport.get_key(&self.gun, "snapshot").await?)?,
                None,
            )
        } else {
            let key = PrivateKey::generate_ecdsa();
            (key.public_key(), Some(key))
        };

        let mut keys = BTreeMap::new();
        let mut roles = BTreeMap::new();
        for (role, public) in [
            ("root", &root_cert),
            ("targets", &targets_key.public_key()),
            ("snapshot", &snapshot_public),
            ("timestamp", &timestamp_public),
        ] {
            let id = public.key_id().to_string();
            keys.insert(id.clone(), KeyJson::from_public(public));
            roles.insert(
                role.to_owned(),
                RootRole {
                    keyids: vec![id],
                    threshold: 1,
                },
            );
        }
        let root = Root {
            type_name: "Root".to_owned(),
            consistent_snapshot: false,
            expires: metadata::expires_in(metadata::ROOT_EXPIRY),
            keys,
            roles,
            version: 1,
        };
        let root_bytes = metadata::sign(
            &root,
            &[SigningKey {
                key: &root_key,
                key_id: root_cert.key_id(),
            }],
        )?;
        let targets = metadata::empty_targets(1);
        let targets_bytes = metadata::sign(
            &targets,
            &[SigningKey {
                key: &targets_key,
                key_id: targets_key.key_id(),
            }],
        )?;
        let snapshot_bytes = match &snapshot_key {
            Some(key) => {
                let snapshot = new_snapshot(
                    1,
                    &root_bytes,
                    [("targets", targets_bytes.as_slice())],
                    None,
                );
                Some(metadata::sign(
                    &snapshot,
                    &[SigningKey {
                        key,
                        key_id: key.key_id(),
                    }],
                )?)
            }
            None => None,
        };

        // Everything is signed: now store the new keys and the metadata, undoing the keys
        // stored here if anything fails.
        let mut new_keys = Vec::new();
        if let RootKeyChoice::Created(_) = choice {
            new_keys.push((&root_key, "root", None));
        }
        new_keys.push((&targets_key, "targets", Some(self.gun.as_str())));
        if let Some(key) = &snapshot_key {
            new_keys.push((key, "snapshot", Some(self.gun.as_str())));
        }
        let mut stored = Vec::new();
        let result = (|| -> Result<()> {
            for (key, role, gun) in new_keys {
                stored.push(store.add(key, role, gun, passphrase)?);
            }
            self.cache.clear()?;
            self.cache.write("root", &root_bytes)?;
            self.cache.write("targets", &targets_bytes)?;
            if let Some(bytes) = &snapshot_bytes {
                self.cache.write("snapshot", bytes)?;
            }
            Ok(())
        })();
        if let Err(error) = result {
            for id in stored.iter().rev() {
                if let Err(undo) = store.remove(id) {
                    tracing::warn!(key_id = %id, error = %undo, "cannot remove a key of the failed init");
                }
            }
            return Err(error);
        }
        Ok(choice)
    }

    /// Rotates the key of a base role and publishes the new root at once (staged changes are
    /// left staged):
    ///
    /// - `targets`: a new local key; targets is re-signed with it;
    /// - `snapshot`: a new local key, or the server's (`server_managed`);
    /// - `timestamp`: always the server's;
    /// - `root`: a new root key and certificate; the new root is signed by the old root key and
    ///   the new one, so clients holding the old root follow the rotation.
    ///
    /// A collection the server does not have yet (initialised here, or by an older client that
    /// signed its own timestamp) is rotated from the trust dir and published with the new root,
    /// as the Go client does: this is how such a collection moves to a server-managed
    /// timestamp before its first publish.
    ///
    /// Returns the new key as listed in root.
    pub async fn rotate_key(&self, rotation: KeyRotation) -> Result<PublicKey> {
        let role = rotation.role();
        let published = match self.update().await {
            Ok(state) => Some(state),
            Err(Error::NotPublished { .. }) => None,
            Err(e) => return Err(e),
        };
        let local = match &published {
            Some(_) => None,
            None => Some(self.local_collection()?),
        };
        let store = &self.client.keystore;
        let passphrase = self.client.passphrase.as_ref();
        let transport = &self.client.transport;
        let (old_root, current_targets, previous_snapshot) = match (&published, &local) {
            (Some(state), _) => (
                state.root.file.signed.clone(),
                state.role("targets").map(|v| v.file.signed.clone()),
                Some(state.snapshot.file.signed.clone()),
            ),
            (None, Some(local)) => (local.root.clone(), Some(local.targets.clone()), None),
            (None, None) => {
                return Err(Error::NotInitialized {
                    gun: self.gun.clone(),
                });
            }
        };
        let mut root = old_root.clone();
        root.version += 1;
        root.expires = metadata::expires_in(metadata::ROOT_EXPIRY);

        let mut new_root_key = None;
        let mut new_targets_key = None;
        let new_public = match rotation {
            KeyRotation::Timestamp | KeyRotation::Snapshot(KeyHolder::Server) => {
                server_key(&transport.rotate_key(&self.gun, role).await?)?
            }
            KeyRotation::Targets | KeyRotation::Snapshot(KeyHolder::Local) => {
                let key = PrivateKey::generate_ecdsa();
                store.add(&key, role, Some(&self.gun), passphrase)?;
                let public = key.public_key();
                if role == "targets" {
                    new_targets_key = Some(key);
                }
                public
            }
            KeyRotation::Root => {
                let key = PrivateKey::generate_ecdsa();
                store.add(&key, "root", None, passphrase)?;
                let cert = keymgmt::x509::generate_root_certificate(&self.gun, &key)?;
                new_root_key = Some(key);
                cert
            }
        };
        let id = new_public.key_id().to_string();
        root.keys
            .insert(id.clone(), KeyJson::from_public(&new_public));
        root.roles.insert(
            role.to_owned(),
            RootRole {
                keyids: vec![id],
                threshold: 1,
            },
        );
        let used: Vec<String> = root.roles.values().flat_map(|r| r.keyids.clone()).collect();
        root.keys.retain(|id, _| used.contains(id));

        // Signed by the current root key, and for a root rotation also by the new one.
        let old_root_ids = old_root.role("root")?.keyids.clone();
        let current = self
            .signing_key(&old_root_ids, &old_root.keys, "root", true)?
            .ok_or_else(|| Error::MissingSigningKey {
                gun: self.gun.clone(),
                role: "root".to_owned(),
                key_ids: old_root_ids.clone(),
            })?;
        let mut signers = vec![current.as_signing()];
        if let Some(key) = &new_root_key {
            signers.push(SigningKey {
                key,
                key_id: new_public.key_id(),
            });
        }
        let root_bytes = metadata::sign(&root, &signers)?;
        let mut upload = vec![("root".to_owned(), root_bytes.clone())];

        let mut changed = Vec::new();
        if let Some(key) = &new_targets_key {
            let mut targets = current_targets.unwrap_or_else(|| metadata::empty_targets(0));
            targets.version += 1;
            targets.expires = metadata::expires_in(metadata::TARGETS_EXPIRY);
            let bytes = metadata::sign(
                &targets,
                &[SigningKey {
                    key,
                    key_id: key.key_id(),
                }],
            )?;
            changed.push(("targets".to_owned(), bytes));
        } else if let Some(local) = &local {
            // A first publication carries the collection's targets as the trust dir has them.
            changed.push(("targets".to_owned(), local.targets_bytes.clone()));
        }
        if let Some(snapshot_key) = self.signing_key(
            &root.role("snapshot")?.keyids,
            &root.keys,
            "snapshot",
            false,
        )? {
            let snapshot = new_snapshot(
                previous_snapshot.as_ref().map_or(1, |p| p.version + 1),
                &root_bytes,
                changed.iter().map(|(r, b)| (r.as_str(), b.as_slice())),
                previous_snapshot.as_ref(),
            );
            changed.push((
                "snapshot".to_owned(),
                metadata::sign(&snapshot, &[snapshot_key.as_signing()])?,
            ));
        }
        upload.extend(changed);
        transport.post(&self.gun, upload).await?;
        if local.is_some() {
            // A timestamp the trust dir signed itself was never the server's: the server's
            // own (version 1) must not read as a rollback of it.
            self.forget_cached("timestamp")?;
        }
        self.update().await?;
        Ok(new_public)
    }

    /// The root and targets the trust dir holds for a collection never published.
    fn local_collection(&self) -> Result<LocalCollection> {
        let not_initialized = || Error::NotInitialized {
            gun: self.gun.clone(),
        };
        let root_bytes = self.cache.read("root")?.ok_or_else(not_initialized)?;
        let root = metadata::parse::<Root>("root", RoleType::Root, &root_bytes)?;
        let targets_bytes = self.cache.read("targets")?.ok_or_else(not_initialized)?;
        let targets = metadata::parse::<Targets>("targets", RoleType::Targets, &targets_bytes)?;
        Ok(LocalCollection {
            root: root.signed,
            targets: targets.signed,
            targets_bytes,
        })
    }

    /// Removes the cached file of `role`.
    fn forget_cached(&self, role: &str) -> Result<()> {
        let path = self
            .client
            .trust_dir
            .join("tuf")
            .join(&self.gun)
            .join("metadata")
            .join(format!("{role}.json"));
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &path)(e)),
        }
    }

    /// Finds a private key for one of `keyids` in the key store. `required` turns "none held"
    /// into an error; otherwise `None` (e.g. a server-managed snapshot).
    pub(super) fn signing_key(
        &self,
        keyids: &[String],
        keys: &BTreeMap<String, KeyJson>,
        role: &str,
        required: bool,
    ) -> Result<Option<HeldKey>> {
        for id in keyids {
            let Some(json) = keys.get(id) else { continue };
            let public: PublicKey = json.to_public()?;
            match self
                .client
                .keystore
                .get(&public.canonical_key_id(), self.client.passphrase.as_ref())
            {
                Ok(decrypted) => {
                    return Ok(Some(HeldKey {
                        key: decrypted.key,
                        listed_id: public.key_id(),
                    }));
                }
                Err(keymgmt::Error::KeyNotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if required {
            return Err(Error::MissingSigningKey {
                gun: self.gun.clone(),
                role: role.to_owned(),
                key_ids: keyids.to_vec(),
            });
        }
        Ok(None)
    }
}

fn server_key(bytes: &[u8]) -> Result<PublicKey> {
    let json: KeyJson = serde_json::from_slice(bytes).map_err(|e| Error::MalformedMetadata {
        role: "server key".to_owned(),
        reason: e.to_string(),
    })?;
    json.to_public()
}
