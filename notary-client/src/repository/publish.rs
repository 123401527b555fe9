//! Publish planning: apply staged changes to the targets roles, sign what changed (parents
//! first), a new snapshot when its key is held, and the first publication of a collection.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Repository;
use crate::changelist::{Action, Change, ChangeContent};
use crate::error::{Error, Result};
use crate::metadata::{self, DelegationRole, FileMeta, MetaFile, RoleType, Root, Targets};
use crate::transport::Fetched;
use crate::update::TrustedState;

impl Repository<'_> {
    /// Publishes the staged changes. The changes stay staged unless the server accepted them.
    pub async fn publish(&self) -> Result<()> {
        let staged = self.changelist.list()?;
        let files: Vec<PathBuf> = staged.iter().map(|(p, _)| p.clone()).collect();
        let changes: Vec<Change> = staged.into_iter().map(|(_, c)| c).collect();
        self.check_server_root_is_ours().await?;
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

    /// A collection initialised here but never seen on the server (no cached timestamp) may
    /// meet a GUN that someone else's root already owns there; say so, rather than letting the
    /// update report a rollback or rotation failure of a root that was never ours.
    async fn check_server_root_is_ours(&self) -> Result<()> {
        if self.cache.read("timestamp")?.is_some() {
            return Ok(());
        }
        let Some(local_bytes) = self.cache.read("root")? else {
            return Ok(());
        };
        let transport = &self.client.transport;
        let server_bytes = match transport
            .get(
                &self.gun,
                "root.json",
                "root",
                transport.limits().max_root_size,
            )
            .await?
        {
            Fetched::NotFound => return Ok(()),
            Fetched::Found(bytes) => bytes,
        };
        if server_bytes == local_bytes {
            return Ok(());
        }
        let local = metadata::parse::<Root>("root", RoleType::Root, &local_bytes)?;
        let server = metadata::parse::<Root>("root", RoleType::Root, &server_bytes)?;
        let local_ids = local.signed.role("root")?.keyids.clone();
        let server_ids = server.signed.role("root")?.keyids.clone();
        if local_ids.iter().any(|id| server_ids.contains(id)) {
            return Ok(());
        }
        Err(Error::GunOwnedByAnotherRoot {
            gun: self.gun.clone(),
            server: transport.base_url().to_owned(),
            local_root_keys: local_ids,
            server_root_keys: server_ids,
        })
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
}

pub(super) fn parent_of(role: &str) -> &str {
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

pub(super) fn new_snapshot<'a>(
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
