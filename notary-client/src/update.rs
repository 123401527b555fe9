//! The client update flow: download, verify and cache a GUN's trust data.
//!
//! TUF's order in notary's dialect: the trusted root, then timestamp, snapshot, targets and
//! delegations. Each file is bounded before it is read ([`Limits`]; a by-meta download by the
//! smaller of the length its verified parent records and the limit of its kind), checked
//! against the hashes its verified parent records, and verified (signatures, version against
//! the cache, expiry) as soon as it is parsed, before any of its meta is used. A root rotation
//! is walked from verified data only. Nothing is written to the cache until everything
//! verified, so a refused update leaves the cache untouched. Comments name the step: TUF 1.0's
//! client workflow sections (`TUF 5.x.y`) and `shared/spec/notary-v1.md` (`notary step N`).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use time::OffsetDateTime;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::fetch::Fetch;
use crate::limits::Limits;
use crate::metadata::{self, FileMeta, MetaFile, RoleType, Root, Signed, SignedFile, Targets};
use crate::verify::{self, Bootstrap, RotationStep, TrustPinning};

/// A verified file and its exact bytes.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    /// The parsed file.
    pub file: SignedFile<T>,
    /// The bytes as received (what parent metadata hashes).
    pub bytes: Vec<u8>,
}

/// Everything verified about a GUN: the four base roles and the delegations that verified.
#[derive(Debug, Clone)]
pub struct TrustedState {
    /// The trusted root.
    pub root: Verified<Root>,
    /// The timestamp.
    pub timestamp: Verified<MetaFile>,
    /// The snapshot.
    pub snapshot: Verified<MetaFile>,
    /// `targets` and each verified delegation, in docker's lookup order: `targets/releases`
    /// first, then `targets`, then the other delegations depth-first.
    pub targets: Vec<(String, Verified<Targets>)>,
    /// Delegations that did not verify, skipped (spec step 3), each with the error that
    /// made it fail.
    pub skipped: Vec<(String, Arc<Error>)>,
    /// Set when the server did not answer for the collection and the cached files were used
    /// ([`update_or_cached`]): the warning, which says why.
    pub from_cache: Option<String>,
}

impl TrustedState {
    /// The verified targets file of `role`.
    pub fn role(&self, role: &str) -> Option<&Verified<Targets>> {
        self.targets
            .iter()
            .find(|(name, _)| name == role)
            .map(|(_, v)| v)
    }
}

/// Runs the update flow for `gun` against `server` and caches the result. Downloads are
/// bounded by the cache's [`Limits`] ([`Cache::limits`]).
pub async fn update(
    server: &impl Fetch,
    cache: &Cache,
    gun: &str,
    pinning: &TrustPinning,
) -> Result<TrustedState> {
    Flow::new(server, cache, gun, pinning).run().await
}

/// [`update`] right after a publish: the files just uploaded (role, bytes) are used instead
/// of downloading them again wherever the verified metadata records exactly those bytes, so
/// only what the server signed itself (the timestamp, the snapshot when server-managed) is
/// fetched.
pub(crate) async fn update_after_publish(
    server: &impl Fetch,
    cache: &Cache,
    gun: &str,
    pinning: &TrustPinning,
    uploaded: &[(String, Vec<u8>)],
) -> Result<TrustedState> {
    let mut flow = Flow::new(server, cache, gun, pinning);
    flow.uploaded = uploaded;
    flow.run().await
}

/// [`update`], or, when the server has no trust data for `gun` (any more) or cannot be
/// reached, the cached trust data with every check applied as if it had just been downloaded
/// (signature thresholds, hashes along the chain, unexpired), as the Go client's `list` and
/// `lookup` do. The warning goes to `tracing` and into [`TrustedState::from_cache`].
pub async fn update_or_cached(
    server: &impl Fetch,
    cache: &Cache,
    gun: &str,
    pinning: &TrustPinning,
) -> Result<TrustedState> {
    let flow = Flow::new(server, cache, gun, pinning);
    let error = match flow.run().await {
        Err(e @ (Error::NotPublished { .. } | Error::Unreachable { .. })) => e,
        Err(e @ Error::Server { status, .. }) if status >= 500 => e,
        other => return other,
    };
    if cache
        .read_within("timestamp", cache.limits().max_timestamp_size)?
        .is_none()
    {
        return Err(error);
    }
    let mut state = flow.cached().await?;
    let warning = format!(
        "{}; using the cached trust data of {gun}, which might not be the latest version available remotely",
        registry_http::error_chain(&error)
    );
    tracing::warn!(gun, "{warning}");
    state.from_cache = Some(warning);
    Ok(state)
}

/// Where a file is read from: the server, or (offline) the cache alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Server,
    Cache,
}

/// One update of one GUN.
struct Flow<'a, F> {
    server: &'a F,
    cache: &'a Cache,
    gun: &'a str,
    pinning: &'a TrustPinning,
    limits: Limits,
    /// TUF 5.1: one time for every expiry check of the update.
    now: OffsetDateTime,
    /// Files this client just published, by role: like cached files, used when the verified
    /// parent records their hashes.
    uploaded: &'a [(String, Vec<u8>)],
}

/// The timestamp, snapshot and targets roles verified with one root.
struct Chain {
    timestamp: Verified<MetaFile>,
    snapshot: Verified<MetaFile>,
    targets: Vec<(String, Verified<Targets>)>,
    skipped: Vec<(String, Arc<Error>)>,
}

/// Why a chain did not verify, and whether a newer root could explain it.
struct Broken {
    error: Error,
    /// A signature failure of timestamp or snapshot (their keys may have rotated), or a
    /// snapshot naming another root.
    root_may_help: bool,
    /// The root the verified snapshot names, when it names another one.
    named_root: Option<FileMeta>,
}

impl From<Error> for Broken {
    fn from(error: Error) -> Self {
        Self {
            error,
            root_may_help: false,
            named_root: None,
        }
    }
}

impl Broken {
    /// A failed signature check of a base role: the root may have rotated its keys.
    fn signatures(error: Error) -> Self {
        let root_may_help = matches!(
            error,
            Error::ThresholdNotMet { .. }
                | Error::SignatureKeyNotInRole { .. }
                | Error::BadSignature { .. }
                | Error::SignatureMethodMismatch { .. }
                | Error::KeyIdMismatch { .. }
        );
        Self {
            error,
            root_may_help,
            named_root: None,
        }
    }
}

impl<'a, F: Fetch> Flow<'a, F> {
    fn new(server: &'a F, cache: &'a Cache, gun: &'a str, pinning: &'a TrustPinning) -> Self {
        Self {
            server,
            cache,
            gun,
            pinning,
            limits: cache.limits(),
            now: OffsetDateTime::now_utc(),
            uploaded: &[],
        }
    }

    async fn run(&self) -> Result<TrustedState> {
        let (mut root, mut root_changed) = self.trusted_root(Source::Server).await?;
        // TUF 5.3.10: an expired trusted root verifies nothing; the server may have a newer one.
        if verify::check_expiry("root", &root.file.signed.expires, self.now).is_err() {
            root = self.rotate_root(&root, None).await?;
            verify::check_expiry("root", &root.file.signed.expires, self.now)?;
            root_changed = true;
        }
        let chain = match self.chain(Source::Server, &root).await {
            Ok(chain) => chain,
            Err(broken) if !broken.root_may_help => return Err(broken.error),
            Err(broken) => {
                // Notary step 4: fetch the root once (by the verified snapshot's entry when there
                // is one), walk the rotation, and verify the chain again with the newest root.
                let newest = self.rotate_root(&root, broken.named_root.as_ref()).await?;
                if newest.bytes == root.bytes {
                    return Err(broken.error);
                }
                root = newest;
                root_changed = true;
                self.chain(Source::Server, &root)
                    .await
                    .map_err(|b| b.error)?
            }
        };

        // Everything verified: write the cache.
        if root_changed {
            self.cache.write("root", &root.bytes)?;
        }
        self.cache.write("timestamp", &chain.timestamp.bytes)?;
        self.cache.write("snapshot", &chain.snapshot.bytes)?;
        for (role, v) in &chain.targets {
            self.cache.write(role, &v.bytes)?;
        }
        Ok(state(root, chain))
    }

    /// The cached files verified as a chain, offline.
    async fn cached(&self) -> Result<TrustedState> {
        let (root, _) = self.trusted_root(Source::Cache).await?;
        verify::check_expiry("root", &root.file.signed.expires, self.now)?;
        let chain = self
            .chain(Source::Cache, &root)
            .await
            .map_err(|b| b.error)?;
        Ok(state(root, chain))
    }

    fn not_published(&self) -> Error {
        Error::NotPublished {
            gun: self.gun.to_owned(),
            server: self.server.server().to_owned(),
        }
    }

    /// Reads `file` (the server's name) of `role` from `source`, at most `limit` bytes.
    async fn get(
        &self,
        source: Source,
        file: &str,
        role: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>> {
        match source {
            Source::Server => self.server.fetch(self.gun, file, role, limit).await,
            Source::Cache => self.cache.read_within(role, self.limits.size_of(role)),
        }
    }

    /// Parses `bytes` of `role`; a file of the wrong shape names where it came from.
    fn parse<T: Signed>(
        &self,
        source: Source,
        role: &str,
        role_type: RoleType,
        file: &str,
        bytes: &[u8],
    ) -> Result<SignedFile<T>> {
        metadata::parse(role, role_type, bytes).map_err(|e| match (source, e) {
            (Source::Cache, e) => self.cache.corrupt(role, e),
            (Source::Server, Error::MalformedMetadata { role, reason }) => {
                Error::MalformedMetadata {
                    reason: format!("{} {reason}", self.server.location(self.gun, file)),
                    role,
                }
            }
            (Source::Server, e) => e,
        })
    }

    /// TUF 5.4.3, 5.5.5, 5.6.4: the version of the cached file of `role`, for rollback
    /// protection, read without parsing the whole file. A corrupt entry is refused, never
    /// read as "nothing cached".
    fn cached_version<T: Signed>(&self, role: &str, role_type: RoleType) -> Result<Option<i64>> {
        let Some(bytes) = self.cache.read_within(role, self.limits.size_of(role))? else {
            return Ok(None);
        };
        match metadata::peek_version(&bytes) {
            Some(version) if (1..=metadata::MAX_VERSION).contains(&version) => Ok(Some(version)),
            // Parsed in full only to say what is wrong with it.
            _ => match metadata::parse::<T>(role, role_type, &bytes) {
                Err(e) => Err(self.cache.corrupt(role, e)),
                Ok(file) => Ok(Some(file.signed.version())),
            },
        }
    }

    /// The bytes of `role` this client already holds (just uploaded, or cached) if they are
    /// exactly what `meta` records: TUF 5.5/5.6 allow skipping the download of an unchanged
    /// file, as the Go client does. A cache entry that cannot be read is refused.
    fn held(&self, source: Source, role: &str, meta: &FileMeta) -> Result<Option<Vec<u8>>> {
        if source == Source::Cache {
            return Ok(None);
        }
        if let Some((_, bytes)) = self.uploaded.iter().find(|(r, _)| r == role)
            && meta.check(role, bytes).is_ok()
        {
            return Ok(Some(bytes.clone()));
        }
        Ok(self
            .cache
            .read_within(role, self.limits.size_of(role))?
            .filter(|bytes| meta.check(role, bytes).is_ok()))
    }

    /// Reads the file of `role` that the verified `parent` records with `meta`: refused before
    /// the request when the recorded length passes the limit, read up to the recorded length,
    /// then checked against the recorded length and hashes (TUF 5.5.2, 5.6.2).
    async fn by_meta(
        &self,
        source: Source,
        parent: &str,
        role: &str,
        meta: &FileMeta,
    ) -> Result<Vec<u8>> {
        let length = u64::try_from(meta.length).map_err(|_| Error::MalformedMetadata {
            role: parent.to_owned(),
            reason: format!("negative length {} for {role}", meta.length),
        })?;
        let limit = self.limits.size_of(role);
        if length > limit {
            return Err(Error::LengthOverLimit {
                role: role.to_owned(),
                parent: parent.to_owned(),
                length: meta.length,
                limit,
                field: Limits::field_of(role),
            });
        }
        let file = format!("{role}.{}.json", hex_sha256(meta, role)?);
        if let Some(bytes) = self.held(source, role, meta)? {
            return Ok(bytes);
        }
        let bytes = self
            .get(source, &file, role, length)
            .await?
            .ok_or_else(|| Error::MalformedMetadata {
                role: role.to_owned(),
                reason: match source {
                    Source::Server => format!("the server has no {file}, which {parent} names"),
                    Source::Cache => format!("not cached, though the cached {parent} names it"),
                },
            })?;
        meta.check(role, &bytes).map_err(|e| match source {
            Source::Cache => self.cache.corrupt(role, e),
            Source::Server => e,
        })?;
        Ok(bytes)
    }

    /// TUF 5.2, notary step 1: the trusted root, and whether it is new to the cache. A cached
    /// root must still carry a threshold of its own signatures (a tampered cache is refused as
    /// a local problem) and pass the pins; a first root is checked on its own terms
    /// (certificates, signatures, expiry) and pinned, or trusted on first use.
    async fn trusted_root(&self, source: Source) -> Result<(Verified<Root>, bool)> {
        if let Some(bytes) = self.cache.read_within("root", self.limits.max_root_size)? {
            let file = self.parse::<Root>(Source::Cache, "root", RoleType::Root, "", &bytes)?;
            verify::check_root_shape(&file).map_err(|e| self.cache.corrupt("root", e))?;
            verify::check_pinning(self.gun, &file, self.pinning, Bootstrap::FromTrusted)?;
            return Ok((Verified { file, bytes }, false));
        }
        if source == Source::Cache {
            return Err(self.not_published());
        }
        let bytes = self
            .get(source, "root.json", "root", self.limits.max_root_size)
            .await?
            .ok_or_else(|| self.not_published())?;
        let file = self.parse::<Root>(source, "root", RoleType::Root, "root.json", &bytes)?;
        verify::check_root_self(self.gun, &file, self.now)?;
        verify::check_pinning(self.gun, &file, self.pinning, Bootstrap::First)?;
        Ok((Verified { file, bytes }, true))
    }

    /// TUF 5.3, notary step 4: walks the rotation from `trusted` to the newest root: the one
    /// the verified snapshot names (`named`), else the server's `root.json`. Each version is
    /// one newer and signed by a threshold of the previous root's keys and of its own; only
    /// the newest must be unexpired, and it must pass the pins. Returns `trusted` when the
    /// server has nothing newer.
    async fn rotate_root(
        &self,
        trusted: &Verified<Root>,
        named: Option<&FileMeta>,
    ) -> Result<Verified<Root>> {
        let (file, bytes) = match named {
            Some(meta) => (
                format!("root.{}.json", hex_sha256(meta, "root")?),
                self.by_meta(Source::Server, "snapshot", "root", meta)
                    .await?,
            ),
            None => (
                "root.json".to_owned(),
                self.get(
                    Source::Server,
                    "root.json",
                    "root",
                    self.limits.max_root_size,
                )
                .await?
                .ok_or_else(|| self.not_published())?,
            ),
        };
        if bytes == trusted.bytes {
            return Ok(trusted.clone());
        }
        let newest = self.parse::<Root>(Source::Server, "root", RoleType::Root, &file, &bytes)?;
        let (from, to) = (trusted.file.signed.version, newest.signed.version);
        verify::check_version("root", Some(from), to)?;
        if to == from {
            return Err(Error::MalformedMetadata {
                role: "root".to_owned(),
                reason: format!(
                    "{} is another root of the trusted version {from}",
                    self.server.location(self.gun, &file)
                ),
            });
        }
        let rotations = (to - from) as u64;
        if rotations > self.limits.max_root_rotations {
            return Err(Error::TooManyRootRotations {
                trusted: from,
                newest: to,
                limit: self.limits.max_root_rotations,
            });
        }
        let mut current = trusted.file.signed.clone();
        for version in from + 1..to {
            let name = format!("{version}.root.json");
            let bytes = self
                .get(Source::Server, &name, "root", self.limits.max_root_size)
                .await?
                .ok_or_else(|| Error::MalformedMetadata {
                    role: "root".to_owned(),
                    reason: format!(
                        "the server has no {name} to walk the rotation from version {from} to {to}"
                    ),
                })?;
            let file = self.parse::<Root>(Source::Server, "root", RoleType::Root, &name, &bytes)?;
            verify::check_root_rotation(
                self.gun,
                &current,
                &file,
                self.now,
                RotationStep::Intermediate,
            )?;
            current = file.signed;
        }
        verify::check_root_rotation(self.gun, &current, &newest, self.now, RotationStep::Newest)?;
        // Pins hold for every root that becomes trusted, not only the first one.
        verify::check_pinning(self.gun, &newest, self.pinning, Bootstrap::FromTrusted)?;
        Ok(Verified {
            file: newest,
            bytes,
        })
    }

    /// Timestamp, snapshot, targets and delegations, each verified with `root` before any of
    /// its meta is used.
    async fn chain(
        &self,
        source: Source,
        root: &Verified<Root>,
    ) -> std::result::Result<Chain, Broken> {
        let trusted = &root.file.signed;

        // TUF 5.4: timestamp.json, at most max_timestamp_size bytes (notary step 2).
        let timestamp_bytes = self
            .get(
                source,
                "timestamp.json",
                "timestamp",
                self.limits.max_timestamp_size,
            )
            .await?
            .ok_or_else(|| self.not_published())?;
        let timestamp = self.parse::<MetaFile>(
            source,
            "timestamp",
            RoleType::Timestamp,
            "timestamp.json",
            &timestamp_bytes,
        )?;
        // TUF 5.4.2-5.4.4: signed by the root's timestamp keys, no rollback, no freeze.
        let cached = self.cached_version::<MetaFile>("timestamp", RoleType::Timestamp)?;
        verify::check_base_role(trusted, "timestamp", &timestamp, cached, self.now)
            .map_err(Broken::signatures)?;

        // TUF 5.5: the snapshot the verified timestamp records, bounded by its length.
        let meta = meta_for(&timestamp.signed, "timestamp", "snapshot")?;
        let snapshot_bytes = self.by_meta(source, "timestamp", "snapshot", meta).await?;
        let file = format!("snapshot.{}.json", hex_sha256(meta, "snapshot")?);
        let snapshot = self.parse::<MetaFile>(
            source,
            "snapshot",
            RoleType::Snapshot,
            &file,
            &snapshot_bytes,
        )?;
        // TUF 5.5.3, 5.5.5, 5.5.6.
        let cached = self.cached_version::<MetaFile>("snapshot", RoleType::Snapshot)?;
        verify::check_base_role(trusted, "snapshot", &snapshot, cached, self.now)
            .map_err(Broken::signatures)?;

        // Notary step 4: the verified snapshot names the current root; another one is a
        // rotation to walk (notary's place for TUF 5.3).
        let root_meta = meta_for(&snapshot.signed, "snapshot", "root")?;
        if let Err(error) = root_meta.check("root", &root.bytes) {
            return Err(Broken {
                error,
                root_may_help: source == Source::Server,
                named_root: Some(root_meta.clone()),
            });
        }

        // TUF 5.6: top-level targets; a bad one is fatal (notary step 3).
        let meta = meta_for(&snapshot.signed, "snapshot", "targets")?;
        let targets_bytes = self.by_meta(source, "snapshot", "targets", meta).await?;
        let file = format!("targets.{}.json", hex_sha256(meta, "targets")?);
        let targets =
            self.parse::<Targets>(source, "targets", RoleType::Targets, &file, &targets_bytes)?;
        // TUF 5.6.3-5.6.5.
        let cached = self.cached_version::<Targets>("targets", RoleType::Targets)?;
        verify::check_base_role(trusted, "targets", &targets, cached, self.now)?;

        let (targets, skipped) = self
            .delegations(
                source,
                &snapshot.signed,
                Verified {
                    file: targets,
                    bytes: targets_bytes,
                },
            )
            .await;
        Ok(Chain {
            timestamp: Verified {
                file: timestamp,
                bytes: timestamp_bytes,
            },
            snapshot: Verified {
                file: snapshot,
                bytes: snapshot_bytes,
            },
            targets,
            skipped,
        })
    }

    /// TUF 5.6.7, notary step 3: every delegation of every verified targets file; one that
    /// does not verify is skipped with a warning (its own delegations with it).
    async fn delegations(
        &self,
        source: Source,
        snapshot: &MetaFile,
        targets: Verified<Targets>,
    ) -> (Vec<(String, Verified<Targets>)>, Vec<(String, Arc<Error>)>) {
        let mut verified = vec![("targets".to_owned(), targets)];
        let mut skipped = Vec::new();
        let mut index = 0;
        while index < verified.len() {
            let parent = verified[index].1.file.signed.delegations.clone();
            let parent_name = verified[index].0.clone();
            index += 1;
            for role in &parent.roles {
                match self
                    .delegation(source, snapshot, &parent_name, &parent.keys, role)
                    .await
                {
                    Ok(v) => verified.push((role.name.clone(), v)),
                    Err(e) => {
                        tracing::warn!(role = %role.name, error = &e as &dyn std::error::Error, "skipping delegation that does not verify");
                        skipped.push((role.name.clone(), Arc::new(e)));
                    }
                }
            }
        }
        // docker's lookup order: targets/releases, then targets, then the rest.
        if let Some(pos) = verified
            .iter()
            .position(|(name, _)| name == "targets/releases")
        {
            let releases = verified.remove(pos);
            verified.insert(0, releases);
        }
        (verified, skipped)
    }

    async fn delegation(
        &self,
        source: Source,
        snapshot: &MetaFile,
        parent: &str,
        keys: &std::collections::BTreeMap<String, metadata::KeyJson>,
        role: &metadata::DelegationRole,
    ) -> Result<Verified<Targets>> {
        verify::check_delegation_entry(parent, role)?;
        let meta = meta_for(snapshot, "snapshot", &role.name)?;
        let bytes = self.by_meta(source, "snapshot", &role.name, meta).await?;
        let file = format!("{}.{}.json", role.name, hex_sha256(meta, &role.name)?);
        let file = self.parse::<Targets>(source, &role.name, RoleType::Targets, &file, &bytes)?;
        let cached = self.cached_version::<Targets>(&role.name, RoleType::Targets)?;
        verify::check_delegation(role, keys, &file, cached, self.now)?;
        Ok(Verified { file, bytes })
    }
}

fn state(root: Verified<Root>, chain: Chain) -> TrustedState {
    TrustedState {
        root,
        timestamp: chain.timestamp,
        snapshot: chain.snapshot,
        targets: chain.targets,
        skipped: chain.skipped,
        from_cache: None,
    }
}

fn hex_sha256(meta: &FileMeta, role: &str) -> Result<String> {
    let b64 = meta
        .hashes
        .get("sha256")
        .ok_or_else(|| Error::MalformedMetadata {
            role: role.to_owned(),
            reason: "its parent records no sha256 hash".to_owned(),
        })?;
    let raw = B64.decode(b64).map_err(|_| Error::MalformedMetadata {
        role: role.to_owned(),
        reason: "its parent's sha256 hash is not base64".to_owned(),
    })?;
    Ok(hex::encode(raw))
}

fn meta_for<'a>(parent: &'a MetaFile, parent_role: &str, role: &str) -> Result<&'a FileMeta> {
    parent
        .meta
        .get(role)
        .ok_or_else(|| Error::MalformedMetadata {
            role: parent_role.to_owned(),
            reason: format!("no entry for {role}"),
        })
}
