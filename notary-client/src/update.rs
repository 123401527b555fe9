//! The client update flow: download, verify and cache a GUN's trust data.
//!
//! Order and checks follow the spec's "Client update": root (cached, or pinned/TOFU), then
//! timestamp, snapshot, targets and delegations, each bounded in size, checked against its
//! parent's hashes and length, signed by a threshold of the keys its parent lists, never older
//! than the cached version and not expired. Nothing is written to the cache until everything
//! verified, so a refused update leaves the cache untouched.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use time::OffsetDateTime;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::metadata::{self, FileMeta, KeyJson, MetaFile, RoleType, Root, SignedFile, Targets};
use crate::transport::{Fetched, Transport};
use crate::verify::{self, TrustPinning};

/// Size limit of `timestamp.json` and of a root fetched without a known length.
pub const MAX_TIMESTAMP_SIZE: u64 = 1024 * 1024;
/// Size limit of a root file.
pub const MAX_ROOT_SIZE: u64 = 1024 * 1024;

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
    /// Delegations that did not verify, skipped with the reason (spec step 3).
    pub skipped: Vec<(String, String)>,
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

fn cached<T: metadata::Signed>(
    cache: &Cache,
    role: &str,
    role_type: RoleType,
) -> Option<SignedFile<T>> {
    let bytes = cache.read(role).ok()??;
    metadata::parse(role, role_type, &bytes).ok()
}

/// Downloads a file whose length and hashes the parent records, and checks them.
async fn fetch_by_meta(
    transport: &Transport,
    gun: &str,
    role: &str,
    meta: &FileMeta,
) -> Result<Vec<u8>> {
    if meta.length < 0 {
        return Err(Error::MalformedMetadata {
            role: role.to_owned(),
            reason: format!("negative length {}", meta.length),
        });
    }
    let file = format!("{role}.{}.json", hex_sha256(meta, role)?);
    match transport.get(gun, &file, role, meta.length as u64).await? {
        Fetched::Found(bytes) => {
            meta.check(role, &bytes)?;
            Ok(bytes)
        }
        Fetched::NotFound => Err(Error::MalformedMetadata {
            role: role.to_owned(),
            reason: format!("the server has no {file}, which the snapshot names"),
        }),
    }
}

/// Runs the update flow for `gun` and caches the result.
pub async fn update(
    transport: &Transport,
    cache: &Cache,
    gun: &str,
    pinning: &TrustPinning,
) -> Result<TrustedState> {
    let now = OffsetDateTime::now_utc();

    // Step 1: the trusted root: cached, or downloaded and pinned.
    let mut root = match cache.read("root")? {
        Some(bytes) => {
            let file = metadata::parse::<Root>("root", RoleType::Root, &bytes)?;
            verify::check_root_shape(&file)?;
            Verified { file, bytes }
        }
        None => {
            let bytes = match transport
                .get(gun, "root.json", "root", MAX_ROOT_SIZE)
                .await?
            {
                Fetched::Found(bytes) => bytes,
                Fetched::NotFound => {
                    return Err(Error::NotPublished {
                        gun: gun.to_owned(),
                        server: transport.base_url().to_owned(),
                    });
                }
            };
            let file = metadata::parse::<Root>("root", RoleType::Root, &bytes)?;
            verify::check_root_self(gun, &file, now)?;
            verify::check_pinning(gun, &file.signed, pinning)?;
            Verified { file, bytes }
        }
    };
    let mut root_changed = cache.read("root")?.is_none();

    // Step 2: timestamp.
    let timestamp_bytes = match transport
        .get(gun, "timestamp.json", "timestamp", MAX_TIMESTAMP_SIZE)
        .await?
    {
        Fetched::Found(bytes) => bytes,
        Fetched::NotFound => {
            return Err(Error::NotPublished {
                gun: gun.to_owned(),
                server: transport.base_url().to_owned(),
            });
        }
    };
    let timestamp =
        metadata::parse::<MetaFile>("timestamp", RoleType::Timestamp, &timestamp_bytes)?;

    // Snapshot, by the hash the timestamp records.
    let snapshot_meta = meta_for(&timestamp.signed, "timestamp", "snapshot")?.clone();
    let snapshot_bytes = fetch_by_meta(transport, gun, "snapshot", &snapshot_meta).await?;
    let snapshot = metadata::parse::<MetaFile>("snapshot", RoleType::Snapshot, &snapshot_bytes)?;

    // Step 4: a root newer than ours is walked version by version, each signed by the previous
    // root's keys and its own.
    let root_meta = meta_for(&snapshot.signed, "snapshot", "root")?.clone();
    if root_meta.check("root", &root.bytes).is_err() {
        let newest = fetch_by_meta(transport, gun, "root", &root_meta).await?;
        let newest_file = metadata::parse::<Root>("root", RoleType::Root, &newest)?;
        verify::check_version(
            "root",
            Some(root.file.signed.version),
            newest_file.signed.version,
        )?;
        let mut current = root;
        for version in current.file.signed.version + 1..newest_file.signed.version {
            let name = format!("{version}.root.json");
            let bytes = match transport.get(gun, &name, "root", MAX_ROOT_SIZE).await? {
                Fetched::Found(bytes) => bytes,
                Fetched::NotFound => {
                    return Err(Error::MalformedMetadata {
                        role: "root".to_owned(),
                        reason: format!("the server has no {name} to walk the rotation"),
                    });
                }
            };
            let file = metadata::parse::<Root>("root", RoleType::Root, &bytes)?;
            verify::check_root_rotation(gun, &current.file.signed, &file, now)?;
            current = Verified { file, bytes };
        }
        verify::check_root_rotation(gun, &current.file.signed, &newest_file, now)?;
        root = Verified {
            file: newest_file,
            bytes: newest,
        };
        root_changed = true;
    }
    verify::check_expiry("root", &root.file.signed.expires, now)?;
    let root_signed = &root.file.signed;

    let check_base = |role: &str, file: &SignedFile<MetaFile>, cached: Option<i64>| -> Result<()> {
        let entry = root_signed.role(role)?;
        verify::check_signatures(
            role,
            file,
            &entry.keyids,
            entry.threshold,
            &root_signed.keys,
        )?;
        verify::check_version(role, cached, file.signed.version)?;
        verify::check_expiry(role, &file.signed.expires, now)
    };
    let cached_version = |role: &str, role_type: RoleType| {
        cached::<MetaFile>(cache, role, role_type).map(|f| f.signed.version)
    };
    check_base(
        "timestamp",
        &timestamp,
        cached_version("timestamp", RoleType::Timestamp),
    )?;
    check_base(
        "snapshot",
        &snapshot,
        cached_version("snapshot", RoleType::Snapshot),
    )?;

    // Step 2 continued: top-level targets (fatal when bad).
    let targets_meta = meta_for(&snapshot.signed, "snapshot", "targets")?;
    let targets_bytes = fetch_by_meta(transport, gun, "targets", targets_meta).await?;
    let targets_file = metadata::parse::<Targets>("targets", RoleType::Targets, &targets_bytes)?;
    let entry = &root_signed.role("targets")?;
    verify::check_signatures(
        "targets",
        &targets_file,
        &entry.keyids,
        entry.threshold,
        &root_signed.keys,
    )?;
    verify::check_version(
        "targets",
        cached::<Targets>(cache, "targets", RoleType::Targets).map(|f| f.signed.version),
        targets_file.signed.version,
    )?;
    verify::check_expiry("targets", &targets_file.signed.expires, now)?;

    // Step 3: delegations depth-first; a bad one is skipped with a warning.
    let mut verified = vec![(
        "targets".to_owned(),
        Verified {
            file: targets_file,
            bytes: targets_bytes,
        },
    )];
    let mut skipped = Vec::new();
    let mut index = 0;
    while index < verified.len() {
        let parent = verified[index].1.file.signed.delegations.clone();
        let parent_name = verified[index].0.clone();
        index += 1;
        for role in &parent.roles {
            match verify_delegation(
                transport,
                cache,
                gun,
                &snapshot.signed,
                &parent.keys,
                &parent_name,
                role,
                now,
            )
            .await
            {
                Ok(v) => verified.push((role.name.clone(), v)),
                Err(e) => {
                    tracing::warn!(role = %role.name, error = %e, "skipping delegation that does not verify");
                    skipped.push((role.name.clone(), e.to_string()));
                }
            }
        }
    }

    // Everything verified: write the cache.
    if root_changed {
        cache.write("root", &root.bytes)?;
    }
    cache.write("timestamp", &timestamp_bytes)?;
    cache.write("snapshot", &snapshot_bytes)?;
    for (role, v) in &verified {
        cache.write(role, &v.bytes)?;
    }

    // docker's lookup order: targets/releases, then targets, then the rest.
    if let Some(pos) = verified
        .iter()
        .position(|(name, _)| name == "targets/releases")
    {
        let releases = verified.remove(pos);
        verified.insert(0, releases);
    }
    Ok(TrustedState {
        root,
        timestamp: Verified {
            file: timestamp,
            bytes: timestamp_bytes,
        },
        snapshot: Verified {
            file: snapshot,
            bytes: snapshot_bytes,
        },
        targets: verified,
        skipped,
    })
}

#[allow(clippy::too_many_arguments)]
async fn verify_delegation(
    transport: &Transport,
    cache: &Cache,
    gun: &str,
    snapshot: &MetaFile,
    keys: &BTreeMap<String, KeyJson>,
    parent: &str,
    role: &metadata::DelegationRole,
    now: OffsetDateTime,
) -> Result<Verified<Targets>> {
    if !metadata::is_delegation_name(&role.name)
        || !role.name.starts_with(&format!("{parent}/"))
        || role.name[parent.len() + 1..].contains('/')
    {
        return Err(Error::InvalidRole {
            role: role.name.clone(),
        });
    }
    let meta = meta_for(snapshot, "snapshot", &role.name)?;
    let bytes = fetch_by_meta(transport, gun, &role.name, meta).await?;
    let file = metadata::parse::<Targets>(&role.name, RoleType::Targets, &bytes)?;
    verify::check_signatures(&role.name, &file, &role.keyids, role.threshold, keys)?;
    verify::check_version(
        &role.name,
        cached::<Targets>(cache, &role.name, RoleType::Targets).map(|f| f.signed.version),
        file.signed.version,
    )?;
    verify::check_expiry(&role.name, &file.signed.expires, now)?;
    if let Some(target) = file.signed.targets.keys().find(|t| !role.covers(t)) {
        return Err(Error::DelegationPathViolation {
            role: role.name.clone(),
            target: target.clone(),
            paths: role.paths.clone(),
        });
    }
    Ok(Verified { file, bytes })
}
