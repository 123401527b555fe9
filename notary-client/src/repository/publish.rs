//! Publishing: the staged changes planned ([`super::plan`]) against the verified state (or
//! what init signed, for a first publication), signed with the key store's keys, uploaded,
//! and the result verified.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Repository;
use super::plan::{Plan, ToSign, plan, snapshot_after};
use crate::changelist::Change;
use crate::error::{Error, Result};
use crate::metadata::{self, MetaFile, RoleType, Root, Targets};
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
        self.client
            .transport
            .post(&self.gun, upload.clone())
            .await?;
        self.changelist.remove(&files)?;
        // Verify and cache what the server now serves, downloading only what it signed.
        crate::update::update_after_publish(
            &self.client.transport,
            &self.cache,
            &self.gun,
            &self.client.pinning,
            &upload,
        )
        .await?;
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
        let plan = plan(&root.signed, &base, changes, false)?;
        if !plan.is_empty() {
            upload.extend(self.sign_plan(&root.signed, &root_bytes, plan, None)?);
        }
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
        let plan = plan(&state.root.file.signed, &base, changes, true)?;
        if plan.is_empty() {
            return Ok(Vec::new());
        }
        self.sign_plan(
            &state.root.file.signed,
            &state.root.bytes,
            plan,
            Some(&state.snapshot.file.signed),
        )
    }

    /// Signs the roles of `plan` with the key store's keys and, when a snapshot key is
    /// held, a new snapshot: the files to upload.
    fn sign_plan(
        &self,
        root: &Root,
        root_bytes: &[u8],
        plan: Plan,
        previous_snapshot: Option<&MetaFile>,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let mut upload: Vec<(String, Vec<u8>)> = Vec::new();
        for ToSign {
            role,
            targets,
            keyids,
            keys,
        } in plan.to_sign
        {
            let key = self
                .signing_key(&keyids, &keys, &role, true)?
                .ok_or_else(|| Error::MissingSigningKey {
                    gun: self.gun.clone(),
                    role: role.clone(),
                    key_ids: keyids.clone(),
                })?;
            let bytes = metadata::sign(&targets, &[key.as_signing()])?;
            upload.push((role, bytes));
        }
        if let Some(snapshot_key) = self.signing_key(
            &root.role("snapshot")?.keyids,
            &root.keys,
            "snapshot",
            false,
        )? {
            let snapshot = snapshot_after(
                previous_snapshot,
                root_bytes,
                upload.iter().map(|(r, b)| (r.as_str(), b.as_slice())),
                &plan.deleted,
            );
            upload.push((
                "snapshot".to_owned(),
                metadata::sign(&snapshot, &[snapshot_key.as_signing()])?,
            ));
        }
        Ok(upload)
    }
}
