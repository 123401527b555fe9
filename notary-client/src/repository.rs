//! Repository operations: init, stage, publish, list, lookup, delete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keymgmt::keystore::KeyStore;
use keymgmt::passphrase::PassphraseSource;
use keymgmt::{KeyId, PrivateKey, PublicKey};

use crate::cache::Cache;
use crate::changelist::{Action, Change, ChangeContent, Changelist, DelegationChange};
use crate::error::{Error, Result};
use crate::metadata::{
    self, DelegationRole, FileMeta, KeyJson, MetaFile, RoleType, Root, RootRole, SignedFile,
    SigningKey, Targets,
};
use crate::transport::{ServerConfig, Transport};
use crate::update::{self, TrustedState};
use crate::verify::TrustPinning;

/// A passphrase source shared by the client's operations.
pub type SharedPassphrase = Arc<dyn PassphraseSource + Send + Sync>;

/// A notary client over one trust dir and one server.
#[derive(Clone)]
pub struct Client {
    trust_dir: PathBuf,
    transport: Transport,
    pinning: TrustPinning,
    keystore: KeyStore,
    passphrase: SharedPassphrase,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("trust_dir", &self.trust_dir)
            .field("server", &self.transport.base_url())
            .finish()
    }
}

/// How [`Repository::init`] sets up a collection.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// Use this root key from the key store instead of generating one.
    pub root_key: Option<KeyId>,
    /// Let the server manage the snapshot key (what docker does) instead of a local key
    /// (what `notary init` does).
    pub server_managed_snapshot: bool,
}

/// A target as resolved from verified metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    /// The target name (a tag, for docker).
    pub name: String,
    /// The sha256 digest, if the target records one.
    pub sha256: Option<[u8; 32]>,
    /// Length in bytes.
    pub length: i64,
    /// The role that signs it.
    pub role: String,
}

impl Client {
    /// A client keeping keys and metadata in `trust_dir` (e.g. `~/.docker/trust`), talking to
    /// `server`, asking `passphrase` for key passphrases.
    pub fn new(
        trust_dir: impl Into<PathBuf>,
        server: &ServerConfig,
        passphrase: impl PassphraseSource + Send + Sync + 'static,
    ) -> Result<Self> {
        let trust_dir = trust_dir.into();
        let keystore = KeyStore::open(&trust_dir)?;
        Ok(Self {
            trust_dir,
            transport: Transport::new(server)?,
            pinning: TrustPinning::default(),
            keystore,
            passphrase: Arc::new(passphrase),
        })
    }

    /// Sets how first roots are trusted (default: trust on first use).
    pub fn with_pinning(mut self, pinning: TrustPinning) -> Self {
        self.pinning = pinning;
        self
    }

    /// Sets the download limits of the update flow (default
    /// [`Limits::default`](crate::limits::Limits)).
    pub fn with_limits(mut self, limits: crate::limits::Limits) -> Self {
        self.transport = self.transport.with_limits(limits);
        self
    }

    /// The trust dir.
    pub fn trust_dir(&self) -> &Path {
        &self.trust_dir
    }

    /// The key store of the trust dir.
    pub fn keystore(&self) -> &KeyStore {
        &self.keystore
    }

    /// The repository `gun`; the GUN is validated before it touches any path.
    pub fn repository(&self, gun: &str) -> Result<Repository<'_>> {
        keymgmt::keyfile::validate_gun(gun)?;
        Ok(Repository {
            client: self,
            gun: gun.to_owned(),
            cache: Cache::new(&self.trust_dir, gun).with_limits(self.transport.limits()),
            changelist: Changelist::new(self.trust_dir.join("tuf").join(gun).join("changelist")),
        })
    }
}

/// One collection (GUN) seen through a [`Client`].
#[derive(Debug)]
pub struct Repository<'a> {
    client: &'a Client,
    gun: String,
    cache: Cache,
    changelist: Changelist,
}

impl Repository<'_> {
    /// The GUN.
    pub fn gun(&self) -> &str {
        &self.gun
    }

    /// Creates the collection's keys and first metadata locally, like `notary init`: a root key
    /// (new, or `options.root_key`) wrapped in a self-signed certificate for the GUN, a targets
    /// key, a snapshot key (or the server's), and the server's timestamp key. Nothing is sent
    /// until [`publish`](Self::publish).
    pub async fn init(&self, options: &InitOptions) -> Result<()> {
        let store = &self.client.keystore;
        let passphrase = self.client.passphrase.as_ref();
        let root_key = match &options.root_key {
            Some(id) => store.get(id, passphrase)?.0,
            None => {
                let key = PrivateKey::generate_ecdsa();
                store.add(&key, "root", None, passphrase)?;
                key
            }
        };
        let root_cert = keymgmt::x509::generate_root_certificate(&self.gun, &root_key)?;
        let targets_key = PrivateKey::generate_ecdsa();
        store.add(&targets_key, "targets", Some(&self.gun), passphrase)?;
        let transport = &self.client.transport;
        let timestamp_public = server_key(&transport.get_key(&self.gun, "timestamp").await?)?;
        let (snapshot_public, snapshot_key) = if options.server_managed_snapshot {
            (
                server_key(&transport.get_key(&self.gun, "snapshot").await?)?,
                None,
            )
        } else {
            let key = PrivateKey::generate_ecdsa();
            store.add(&key, "snapshot", Some(&self.gun), passphrase)?;
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
        self.cache.clear()?;
        self.cache.write("root", &root_bytes)?;
        self.cache.write("targets", &targets_bytes)?;
        if let Some(key) = snapshot_key {
            let snapshot = new_snapshot(
                1,
                &root_bytes,
                [("targets", targets_bytes.as_slice())],
                None,
            );
            let bytes = metadata::sign(
                &snapshot,
                &[SigningKey {
                    key: &key,
                    key_id: key.key_id(),
                }],
            )?;
            self.cache.write("snapshot", &bytes)?;
        }
        Ok(())
    }

    /// Stages `target` with `meta` in `roles` (default `targets`). Persisted at once.
    pub fn add_target(&self, target: &str, meta: FileMeta, roles: &[String]) -> Result<()> {
        for role in default_roles(roles)? {
            self.changelist.add(&Change {
                action: Action::Create,
                role,
                path: target.to_owned(),
                content: ChangeContent::Target(Some(meta.clone())),
            })?;
        }
        Ok(())
    }

    /// Stages the removal of `target` from `roles` (default `targets`).
    pub fn remove_target(&self, target: &str, roles: &[String]) -> Result<()> {
        for role in default_roles(roles)? {
            self.changelist.add(&Change {
                action: Action::Delete,
                role,
                path: target.to_owned(),
                content: ChangeContent::Target(None),
            })?;
        }
        Ok(())
    }

    /// Stages a delegation `role` (e.g. `targets/releases`) with `keys` (certificates or
    /// plain keys) and `paths` (`[""]` = all paths), threshold 1, or adds keys and paths to an
    /// existing one.
    pub fn add_delegation(&self, role: &str, keys: &[PublicKey], paths: &[String]) -> Result<()> {
        if !metadata::is_delegation_name(role) {
            return Err(Error::InvalidRole {
                role: role.to_owned(),
            });
        }
        self.changelist.add(&Change {
            action: Action::Create,
            role: role.to_owned(),
            path: String::new(),
            content: ChangeContent::Delegation(DelegationChange {
                new_threshold: 1,
                add_keys: keys.iter().map(KeyJson::from_public).collect(),
                add_paths: paths.to_vec(),
                ..Default::default()
            }),
        })?;
        Ok(())
    }

    /// Stages a change to an existing delegation: keys and paths to add or remove, a new
    /// threshold, or clearing its paths.
    pub fn update_delegation(&self, role: &str, change: DelegationChange) -> Result<()> {
        if !metadata::is_delegation_name(role) {
            return Err(Error::InvalidRole {
                role: role.to_owned(),
            });
        }
        self.changelist.add(&Change {
            action: Action::Update,
            role: role.to_owned(),
            path: String::new(),
            content: ChangeContent::Delegation(change),
        })?;
        Ok(())
    }

    /// Stages the removal of delegation `role` and its file.
    pub fn remove_delegation(&self, role: &str) -> Result<()> {
        if !metadata::is_delegation_name(role) {
            return Err(Error::InvalidRole {
                role: role.to_owned(),
            });
        }
        self.changelist.add(&Change {
            action: Action::Delete,
            role: role.to_owned(),
            path: String::new(),
            content: ChangeContent::Delegation(DelegationChange::default()),
        })?;
        Ok(())
    }

    /// The staged, unpublished changes.
    pub fn status(&self) -> Result<Vec<Change>> {
        Ok(self
            .changelist
            .list()?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    /// Downloads, verifies and caches the collection.
    pub async fn update(&self) -> Result<TrustedState> {
        update::update(
            &self.client.transport,
            &self.cache,
            &self.gun,
            &self.client.pinning,
        )
        .await
    }

    /// [`update`](Self::update), or the verified, unexpired cache with a warning when the
    /// server does not have the collection (any more) or cannot be reached, as Go's reads do.
    pub async fn read_state(&self) -> Result<TrustedState> {
        update::update_or_cached(
            &self.client.transport,
            &self.cache,
            &self.gun,
            &self.client.pinning,
        )
        .await
    }

    /// Every target of every verified role, in docker's lookup order (first role wins).
    pub async fn list(&self) -> Result<Vec<TargetInfo>> {
        let state = self.read_state().await?;
        let mut seen = BTreeMap::new();
        for (role, verified) in &state.targets {
            for (name, meta) in &verified.file.signed.targets {
                seen.entry(name.clone()).or_insert_with(|| TargetInfo {
                    name: name.clone(),
                    sha256: meta.sha256(),
                    length: meta.length,
                    role: role.clone(),
                });
            }
        }
        Ok(seen.into_values().collect())
    }

    /// Resolves `target` as docker does: `targets/releases`, then `targets`, then the other
    /// delegations.
    pub async fn lookup(&self, target: &str) -> Result<TargetInfo> {
        let state = self.read_state().await?;
        resolve(&state, target).ok_or_else(|| Error::TargetNotFound {
            gun: self.gun.clone(),
            target: target.to_owned(),
        })
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
    /// Returns the new key as listed in root.
    pub async fn rotate_key(&self, role: &str, server_managed: bool) -> Result<PublicKey> {
        let state = self.update().await?;
        let store = &self.client.keystore;
        let passphrase = self.client.passphrase.as_ref();
        let transport = &self.client.transport;
        let old_root = state.root.file.signed.clone();
        let mut root = old_root.clone();
        root.version += 1;
        root.expires = metadata::expires_in(metadata::ROOT_EXPIRY);

        let mut new_root_key = None;
        let mut new_targets_key = None;
        let new_public = match (role, server_managed) {
            ("timestamp", _) | ("snapshot", true) => {
                server_key(&transport.rotate_key(&self.gun, role).await?)?
            }
            ("targets" | "snapshot", false) => {
                let key = PrivateKey::generate_ecdsa();
                store.add(&key, role, Some(&self.gun), passphrase)?;
                let public = key.public_key();
                if role == "targets" {
                    new_targets_key = Some(key);
                }
                public
            }
            ("root", false) => {
                let key = PrivateKey::generate_ecdsa();
                store.add(&key, "root", None, passphrase)?;
                let cert = keymgmt::x509::generate_root_certificate(&self.gun, &key)?;
                new_root_key = Some(key);
                cert
            }
            _ => {
                return Err(Error::InvalidRole {
                    role: format!("{role} (server-managed: {server_managed})"),
                });
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
            let mut targets = state
                .role("targets")
                .map(|v| v.file.signed.clone())
                .unwrap_or_else(|| metadata::empty_targets(0));
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
        }
        if let Some(snapshot_key) = self.signing_key(
            &root.role("snapshot")?.keyids,
            &root.keys,
            "snapshot",
            false,
        )? {
            let previous = &state.snapshot.file.signed;
            let snapshot = new_snapshot(
                previous.version + 1,
                &root_bytes,
                changed.iter().map(|(r, b)| (r.as_str(), b.as_slice())),
                Some(previous),
            );
            changed.push((
                "snapshot".to_owned(),
                metadata::sign(&snapshot, &[snapshot_key.as_signing()])?,
            ));
        }
        upload.extend(changed);
        transport.post(&self.gun, upload).await?;
        self.update().await?;
        Ok(new_public)
    }

    /// The `docker trust inspect` view of the verified collection.
    pub async fn inspect(&self) -> Result<crate::inspect::Inspection> {
        let state = self.update().await?;
        Ok(crate::inspect::inspect(&self.gun, &state))
    }

    /// Publishes the staged changes. The changes stay staged unless the server accepted them.
    pub async fn publish(&self) -> Result<()> {
        let staged = self.changelist.list()?;
        let files: Vec<PathBuf> = staged.iter().map(|(p, _)| p.clone()).collect();
        let changes: Vec<Change> = staged.into_iter().map(|(_, c)| c).collect();
        let upload = match self.update().await {
            Ok(state) => self.changed_files(&state, &changes)?,
            Err(Error::NotPublished { .. }) => self.first_publication(&changes)?,
            Err(e) => return Err(e),
        };
        if upload.is_empty() {
            return Ok(());
        }
        self.client.transport.post(&self.gun, upload).await?;
        self.changelist.remove(&files)?;
        self.update().await?;
        Ok(())
    }

    /// Deletes the collection on the server and the local cache (keys are kept).
    pub async fn delete_remote(&self) -> Result<()> {
        self.client.transport.delete(&self.gun).await?;
        self.cache.clear()
    }

    fn first_publication(&self, changes: &[Change]) -> Result<Vec<(String, Vec<u8>)>> {
        let not_initialized = || Error::NotInitialized {
            gun: self.gun.clone(),
        };
        let root_bytes = self.cache.read("root")?.ok_or_else(not_initialized)?;
        let root = metadata::parse::<Root>("root", RoleType::Root, &root_bytes)?;
        let targets_bytes = self.cache.read("targets")?.ok_or_else(not_initialized)?;
        let targets = metadata::parse::<Targets>("targets", RoleType::Targets, &targets_bytes)?;
        let mut base = BTreeMap::new();
        base.insert("targets".to_owned(), targets.signed);
        let mut upload = vec![("root".to_owned(), root_bytes.clone())];
        // Never published: versions start where init left them.
        upload.extend(self.plan(&root.signed, &root_bytes, &base, None, changes, false)?);
        if !upload.iter().any(|(role, _)| role == "targets") {
            // Nothing staged: publish what init signed, snapshot included when it is local.
            upload.push(("targets".to_owned(), targets_bytes));
            if let Some(snapshot) = self.cache.read("snapshot")? {
                upload.push(("snapshot".to_owned(), snapshot));
            }
        }
        Ok(upload)
    }

    fn changed_files(
        &self,
        state: &TrustedState,
        changes: &[Change],
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let base: BTreeMap<String, Targets> = state
            .targets
            .iter()
            .map(|(role, v)| (role.clone(), v.file.signed.clone()))
            .collect();
        self.plan(
            &state.root.file.signed,
            &state.root.bytes,
            &base,
            Some(&state.snapshot.file.signed),
            changes,
            true,
        )
    }

    /// Applies `changes` to the targets roles in `base`, signs every changed role (parents
    /// first, so a new delegation's keys are known when its own file is signed) and, when a
    /// snapshot key is held, a new snapshot.
    fn plan(
        &self,
        root: &Root,
        root_bytes: &[u8],
        base: &BTreeMap<String, Targets>,
        previous_snapshot: Option<&MetaFile>,
        changes: &[Change],
        bump: bool,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let mut edited: BTreeMap<String, Targets> = BTreeMap::new();
        let mut deleted = Vec::new();
        for change in changes {
            let owner = match &change.content {
                ChangeContent::Target(_) => change.role.clone(),
                ChangeContent::Delegation(_) => parent_of(&change.role).to_owned(),
            };
            let file = edited.entry(owner.clone()).or_insert_with(|| {
                base.get(&owner)
                    .cloned()
                    .unwrap_or_else(|| metadata::empty_targets(0))
            });
            if let Some(gone) = apply_change(file, change)? {
                deleted.push(gone);
            }
        }
        for gone in &deleted {
            edited.remove(gone);
        }
        let mut order: Vec<String> = edited.keys().cloned().collect();
        order.sort_by_key(|role| role.matches('/').count());
        let mut upload: Vec<(String, Vec<u8>)> = Vec::new();
        for role in order {
            let Some(mut targets) = edited.get(&role).cloned() else {
                continue;
            };
            if bump || targets.version == 0 {
                targets.version += 1;
            }
            targets.expires = metadata::expires_in(metadata::TARGETS_EXPIRY);
            let (keyids, keys) = if role == "targets" {
                (root.role("targets")?.keyids.clone(), root.keys.clone())
            } else {
                let parent = parent_of(&role);
                let delegations = edited
                    .get(parent)
                    .or_else(|| base.get(parent))
                    .map(|p| p.delegations.clone())
                    .unwrap_or_default();
                let entry = delegations
                    .roles
                    .iter()
                    .find(|d| d.name == role)
                    .ok_or_else(|| Error::InvalidRole { role: role.clone() })?;
                (entry.keyids.clone(), delegations.keys.clone())
            };
            let key = self
                .signing_key(&keyids, &keys, &role, true)?
                .ok_or_else(|| Error::MissingSigningKey {
                    gun: self.gun.clone(),
                    role: role.clone(),
                    key_ids: keyids.clone(),
                })?;
            upload.push((role.clone(), metadata::sign(&targets, &[key.as_signing()])?));
        }
        if upload.is_empty() && deleted.is_empty() {
            return Ok(upload);
        }
        if let Some(snapshot_key) = self.signing_key(
            &root.role("snapshot")?.keyids,
            &root.keys,
            "snapshot",
            false,
        )? {
            let mut snapshot = new_snapshot(
                previous_snapshot.map_or(1, |p| p.version + 1),
                root_bytes,
                upload.iter().map(|(r, b)| (r.as_str(), b.as_slice())),
                previous_snapshot,
            );
            snapshot.meta.retain(|role, _| {
                !deleted
                    .iter()
                    .any(|d| role == d || role.starts_with(&format!("{d}/")))
            });
            upload.push((
                "snapshot".to_owned(),
                metadata::sign(&snapshot, &[snapshot_key.as_signing()])?,
            ));
        }
        Ok(upload)
    }

    /// Finds a private key for one of `keyids` in the key store. `required` turns "none held"
    /// into an error; otherwise `None` (e.g. a server-managed snapshot).
    fn signing_key(
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
                Ok((key, _, _)) => {
                    return Ok(Some(HeldKey {
                        key,
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

struct HeldKey {
    key: PrivateKey,
    listed_id: KeyId,
}

impl HeldKey {
    fn as_signing(&self) -> SigningKey<'_> {
        SigningKey {
            key: &self.key,
            key_id: self.listed_id.clone(),
        }
    }
}

fn default_roles(roles: &[String]) -> Result<Vec<String>> {
    if roles.is_empty() {
        return Ok(vec!["targets".to_owned()]);
    }
    for role in roles {
        if role != "targets" && !metadata::is_delegation_name(role) {
            return Err(Error::InvalidRole { role: role.clone() });
        }
    }
    Ok(roles.to_vec())
}

fn parent_of(role: &str) -> &str {
    role.rsplit_once('/')
        .map_or("targets", |(parent, _)| parent)
}

/// Applies one change to the targets file that owns it; returns the name of a deleted
/// delegation, whose file must go too.
fn apply_change(file: &mut Targets, change: &Change) -> Result<Option<String>> {
    match (&change.content, change.action) {
        (ChangeContent::Target(Some(meta)), Action::Create) => {
            file.targets.insert(change.path.clone(), meta.clone());
        }
        (ChangeContent::Target(_), _) => {
            file.targets.remove(&change.path);
        }
        (ChangeContent::Delegation(_), Action::Delete) => {
            file.delegations.roles.retain(|r| r.name != change.role);
            prune_keys(&mut file.delegations);
            return Ok(Some(change.role.clone()));
        }
        (ChangeContent::Delegation(d), action) => {
            let delegations = &mut file.delegations;
            let position = delegations.roles.iter().position(|r| r.name == change.role);
            let index = match (position, action) {
                (Some(i), _) => i,
                (None, Action::Create) => {
                    delegations.roles.push(DelegationRole {
                        keyids: Vec::new(),
                        name: change.role.clone(),
                        paths: Vec::new(),
                        threshold: 1,
                    });
                    delegations.roles.len() - 1
                }
                (None, _) => {
                    return Err(Error::InvalidRole {
                        role: change.role.clone(),
                    });
                }
            };
            for key in &d.add_keys {
                let id = key.to_public()?.key_id().to_string();
                delegations.keys.insert(id.clone(), key.clone());
                if !delegations.roles[index].keyids.contains(&id) {
                    delegations.roles[index].keyids.push(id);
                }
            }
            let role = &mut delegations.roles[index];
            role.keyids.retain(|id| !d.remove_keys.contains(id));
            if d.clear_paths {
                role.paths.clear();
            }
            for path in &d.add_paths {
                if !role.paths.contains(path) {
                    role.paths.push(path.clone());
                }
            }
            role.paths.retain(|p| !d.remove_paths.contains(p));
            if d.new_threshold > 0 {
                role.threshold = d.new_threshold;
            }
            prune_keys(delegations);
        }
    }
    Ok(None)
}

/// Drops delegation keys no role uses any more.
fn prune_keys(delegations: &mut metadata::Delegations) {
    let used: Vec<String> = delegations
        .roles
        .iter()
        .flat_map(|r| r.keyids.iter().cloned())
        .collect();
    delegations.keys.retain(|id, _| used.contains(id));
}

fn new_snapshot<'a>(
    version: i64,
    root_bytes: &[u8],
    changed: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    previous: Option<&MetaFile>,
) -> MetaFile {
    let mut meta = previous.map(|p| p.meta.clone()).unwrap_or_default();
    meta.insert("root".to_owned(), FileMeta::of_bytes(root_bytes));
    for (role, bytes) in changed {
        meta.insert(role.to_owned(), FileMeta::of_bytes(bytes));
    }
    MetaFile {
        type_name: "Snapshot".to_owned(),
        expires: metadata::expires_in(metadata::SNAPSHOT_EXPIRY),
        meta,
        version,
    }
}

fn server_key(bytes: &[u8]) -> Result<PublicKey> {
    let json: KeyJson = serde_json::from_slice(bytes).map_err(|e| Error::MalformedMetadata {
        role: "server key".to_owned(),
        reason: e.to_string(),
    })?;
    json.to_public()
}

/// Resolves `target` in a verified state in docker's order.
pub fn resolve(state: &TrustedState, target: &str) -> Option<TargetInfo> {
    state.targets.iter().find_map(|(role, verified)| {
        verified
            .file
            .signed
            .targets
            .get(target)
            .map(|meta| TargetInfo {
                name: target.to_owned(),
                sha256: meta.sha256(),
                length: meta.length,
                role: role.clone(),
            })
    })
}

#[allow(dead_code)]
fn _assert_send(_: &SignedFile<Root>) {}
