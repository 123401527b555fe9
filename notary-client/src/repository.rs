//! Repository operations: init, stage, publish, list, lookup, delete.
//!
//! Staging (targets, delegations, [`Repository::reset`]) and [`Repository::delete_local`]
//! never talk to the server, as with the Go client; [`publish`](Repository::publish) plans and
//! signs in `publish`, key ceremonies (init, rotation) live in `keys`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keymgmt::keystore::KeyStore;
use keymgmt::passphrase::PassphraseSource;
use keymgmt::{KeyId, PublicKey};

use crate::cache::Cache;
use crate::changelist::{Action, Change, ChangeContent, Changelist, DelegationChange};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::metadata::{self, DelegationRole, FileMeta, KeyJson, RoleType, Targets};
use crate::transport::{ServerConfig, ServerConnection};
use crate::update::{self, TrustedState};
use crate::verify::TrustPinning;

mod keys;
mod plan;
mod publish;

use crate::names::{self, DelegationName, Gun, TargetsRole};
pub use crate::target::TargetInfo;
pub use keys::{KeyHolder, KeyRotation, RootKeyChoice};

/// A passphrase source shared by the client's operations.
pub type SharedPassphrase = Arc<dyn PassphraseSource + Send + Sync>;

/// A notary client over one trust dir and one server.
#[derive(Clone)]
pub struct Client {
    trust_dir: PathBuf,
    transport: ServerConnection,
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
    /// Use this root key from the key store. Without it, the trust dir's existing root key is
    /// used (as `notary init` does), and a new one is made only if there is none.
    pub root_key: Option<KeyId>,
    /// Who holds the snapshot key: this trust dir (what `notary init` does, the default) or
    /// the server (what docker does).
    pub snapshot: KeyHolder,
}

/// Which staged changes [`Repository::reset`] drops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reset {
    /// Every staged change.
    All,
    /// The changes with these numbers, as [`Repository::status`] lists them (from 0).
    Numbers(Vec<usize>),
}

impl Client {
    /// A client keeping keys and metadata in `trust_dir` (e.g. `~/.docker/trust`), talking to
    /// `server`, asking `passphrase` for key passphrases. Nothing is sent to the server here.
    pub fn new(
        trust_dir: impl Into<PathBuf>,
        server: &ServerConfig,
        passphrase: impl PassphraseSource + Send + Sync + 'static,
    ) -> Result<Self> {
        let trust_dir = trust_dir.into();
        let keystore = KeyStore::open(&trust_dir)?;
        Ok(Self {
            trust_dir,
            transport: ServerConnection::new(server)?,
            pinning: TrustPinning::default(),
            keystore,
            passphrase: Arc::new(passphrase),
        })
    }

    /// Sets the download limits of the update flow (default [`Limits::default`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.transport = self.transport.with_limits(limits);
        self
    }

    /// Sets how first roots are trusted (default: trust on first use).
    pub fn with_pinning(mut self, pinning: TrustPinning) -> Self {
        self.pinning = pinning;
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

    /// The repository `gun` (a [`Gun`] or a name); the GUN is validated (see
    /// [`names::validate_gun`]) before it touches any path or URL.
    pub fn repository(&self, gun: impl AsRef<str>) -> Result<Repository<'_>> {
        let gun = Gun::new(gun.as_ref())?;
        let gun = gun.as_str();
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

    /// Stages `target` with `meta` in `roles` (default `targets`). Persisted at once; nothing
    /// is sent.
    pub fn add_target(&self, target: &str, meta: FileMeta, roles: &[String]) -> Result<()> {
        names::check_target_name(target)?;
        for role in TargetsRole::each_or_targets(roles)? {
            self.changelist.add(&Change {
                action: Action::Create,
                role: role.as_str().to_owned(),
                path: target.to_owned(),
                content: ChangeContent::Target(Some(meta.clone())),
            })?;
        }
        Ok(())
    }

    /// Stages the removal of `target` from `roles` (default `targets`).
    pub fn remove_target(&self, target: &str, roles: &[String]) -> Result<()> {
        names::check_target_name(target)?;
        for role in TargetsRole::each_or_targets(roles)? {
            self.changelist.add(&Change {
                action: Action::Delete,
                role: role.as_str().to_owned(),
                path: target.to_owned(),
                content: ChangeContent::Target(None),
            })?;
        }
        Ok(())
    }

    /// Stages a delegation `role` (e.g. `targets/releases`) with `keys` (certificates or
    /// plain keys) and `paths` (`[""]` = all paths), threshold 1, or adds keys and paths to an
    /// existing one. A nested delegation (`targets/a/b`) needs its parent (`targets/a`) in the
    /// cached metadata or staged before it.
    pub fn add_delegation(&self, role: &str, keys: &[PublicKey], paths: &[String]) -> Result<()> {
        let role = DelegationName::new(role)?;
        for path in paths {
            names::check_target_name(path)?;
        }
        self.check_parent_exists(&role)?;
        self.changelist.add(&Change {
            action: Action::Create,
            role: role.as_str().to_owned(),
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
        let role = DelegationName::new(role)?;
        for path in &change.add_paths {
            names::check_target_name(path)?;
        }
        self.changelist.add(&Change {
            action: Action::Update,
            role: role.as_str().to_owned(),
            path: String::new(),
            content: ChangeContent::Delegation(change),
        })?;
        Ok(())
    }

    /// Stages the removal of delegation `role` and its file.
    pub fn remove_delegation(&self, role: &str) -> Result<()> {
        let role = DelegationName::new(role)?;
        self.changelist.add(&Change {
            action: Action::Delete,
            role: role.as_str().to_owned(),
            path: String::new(),
            content: ChangeContent::Delegation(DelegationChange::default()),
        })?;
        Ok(())
    }

    /// Refuses a nested delegation whose parent is neither in the cached (verified when it was
    /// cached) metadata nor staged: its publish could only fail.
    fn check_parent_exists(&self, role: &DelegationName) -> Result<()> {
        let parent = role.parent();
        if parent == "targets" {
            return Ok(());
        }
        let mut exists = self
            .cached_delegations(names::parent_of(parent))?
            .contains(parent);
        for (_, change) in self.changelist.list()? {
            if change.role == parent && matches!(change.content, ChangeContent::Delegation(_)) {
                match change.action {
                    Action::Create => exists = true,
                    Action::Delete => exists = false,
                    Action::Update => {}
                }
            }
        }
        if exists {
            return Ok(());
        }
        Err(Error::ParentRoleMissing {
            role: role.as_str().to_owned(),
            parent: parent.to_owned(),
        })
    }

    /// The delegation names listed by the cached file of `role`.
    fn cached_delegations(&self, role: &str) -> Result<std::collections::BTreeSet<String>> {
        let Some(bytes) = self.cache.read(role)? else {
            return Ok(Default::default());
        };
        let file = metadata::parse::<Targets>(role, RoleType::Targets, &bytes)?;
        Ok(file
            .signed
            .delegations
            .roles
            .into_iter()
            .map(|r| r.name)
            .collect())
    }

    /// The staged, unpublished changes, numbered from 0 in this order.
    pub fn status(&self) -> Result<Vec<Change>> {
        Ok(self
            .changelist
            .list()?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    /// Drops staged changes, like `notary reset`. A number that [`status`](Self::status) does
    /// not list is refused before anything is dropped. Returns how many were dropped.
    pub fn reset(&self, which: &Reset) -> Result<usize> {
        let staged = self.changelist.list()?;
        let files: Vec<PathBuf> = match which {
            Reset::All => staged.into_iter().map(|(path, _)| path).collect(),
            Reset::Numbers(numbers) => {
                if let Some(&number) = numbers.iter().find(|&&n| n >= staged.len()) {
                    return Err(Error::NoSuchChange {
                        gun: self.gun.clone(),
                        number,
                        staged: staged.len(),
                    });
                }
                staged
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| numbers.contains(i))
                    .map(|(_, (path, _))| path)
                    .collect()
            }
        };
        self.changelist.remove(&files)?;
        Ok(files.len())
    }

    /// Removes the local trust data of this GUN (cached metadata and staged changes, the
    /// whole `tuf/<gun>` directory), as `notary delete` does without `--remote`. Keys are kept
    /// and the server is not contacted: the way out of a stuck or corrupt cache.
    pub fn delete_local(&self) -> Result<()> {
        let dir = self.client.trust_dir.join("tuf").join(&self.gun);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &dir)(e)),
        }
    }

    /// Deletes the collection on the server, then the local trust data as
    /// [`delete_local`](Self::delete_local) does (keys are kept).
    pub async fn delete_remote(&self) -> Result<()> {
        self.client.transport.delete(&self.gun).await?;
        self.delete_local()
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

    /// [`update`](Self::update) from another source of the server's files, such as
    /// [`fetch::InMemory`](crate::fetch::InMemory) in a test or a mirror, with this
    /// repository's cache, limits and pins.
    pub async fn update_from(&self, server: &impl crate::fetch::Fetch) -> Result<TrustedState> {
        update::update(server, &self.cache, &self.gun, &self.client.pinning).await
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
        Ok(list_targets(&self.read_state().await?))
    }

    /// Resolves `target` as docker does: `targets/releases`, then `targets`, then the other
    /// delegations.
    pub async fn lookup(&self, target: &str) -> Result<TargetInfo> {
        lookup_target(&self.read_state().await?, &self.gun, target)
    }

    /// The `docker trust inspect` view of the verified collection.
    pub async fn inspect(&self) -> Result<crate::inspect::Inspection> {
        let state = self.read_state().await?;
        Ok(crate::inspect::inspect(&self.gun, &state))
    }
}

/// Every target of every verified role of `state` (from [`Repository::read_state`]), in
/// docker's lookup order (first role wins); [`Repository::list`] in one step.
pub fn list_targets(state: &TrustedState) -> Vec<TargetInfo> {
    let mut seen = BTreeMap::new();
    for (role, verified) in &state.targets {
        for (name, meta) in &verified.file.signed.targets {
            seen.entry(name.clone())
                .or_insert_with(|| TargetInfo::from_meta(name, role, meta));
        }
    }
    seen.into_values().collect()
}

/// Every delegation that the verified roles of `state` list, role by role in the order of
/// [`TrustedState::targets`], as `notary delegation list` shows them.
pub fn list_delegations(state: &TrustedState) -> Vec<&DelegationRole> {
    state
        .targets
        .iter()
        .flat_map(|(_, verified)| &verified.file.signed.delegations.roles)
        .collect()
}

/// Resolves `target` in `state` (from [`Repository::read_state`]) as docker does:
/// `targets/releases`, then `targets`, then the other delegations.
pub fn lookup_target(state: &TrustedState, gun: &str, target: &str) -> Result<TargetInfo> {
    resolve(state, target).ok_or_else(|| Error::TargetNotFound {
        gun: gun.to_owned(),
        target: target.to_owned(),
    })
}

/// Resolves `target` in a verified state in docker's order.
fn resolve(state: &TrustedState, target: &str) -> Option<TargetInfo> {
    state.targets.iter().find_map(|(role, verified)| {
        verified
            .file
            .signed
            .targets
            .get(target)
            .map(|meta| TargetInfo::from_meta(target, role, meta))
    })
}
