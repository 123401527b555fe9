//! Publish planning without I/O: staged changes applied to the targets roles, which roles
//! to sign (parents first) with which keys, and the snapshot that follows. Signing and the
//! upload are `publish`'s.

use std::collections::BTreeMap;

use crate::changelist::{Action, Change, ChangeContent};
use crate::error::{Error, Result};
use crate::metadata::{self, DelegationRole, FileMeta, KeyJson, MetaFile, Root, Targets};
use crate::names::parent_of;

/// A targets role to sign: its new contents and the keys the signature must come from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ToSign {
    /// The role.
    pub role: String,
    /// Its new contents, version and expiry set.
    pub targets: Targets,
    /// The key IDs that may sign it.
    pub keyids: Vec<String>,
    /// The keys those IDs name.
    pub keys: BTreeMap<String, KeyJson>,
}

/// What a publish changes in the targets roles.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Plan {
    /// Roles to sign, parents before their delegations.
    pub to_sign: Vec<ToSign>,
    /// Delegations removed, whose files (and their own delegations) go.
    pub deleted: Vec<String>,
}

impl Plan {
    /// Whether the publish changes nothing.
    pub fn is_empty(&self) -> bool {
        self.to_sign.is_empty() && self.deleted.is_empty()
    }
}

/// Applies `changes` to the targets roles of `base` (the verified ones, or what init signed).
/// With `bump`, every changed role gets the next version; without it (a first publication)
/// versions stay where init left them.
pub(super) fn plan(
    root: &Root,
    base: &BTreeMap<String, Targets>,
    changes: &[Change],
    bump: bool,
) -> Result<Plan> {
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
    let mut to_sign = Vec::new();
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
        to_sign.push(ToSign {
            role,
            targets,
            keyids,
            keys,
        });
    }
    Ok(Plan { to_sign, deleted })
}

/// The snapshot after a publish: `previous` (if any) with the new root and `signed` files,
/// without the `deleted` delegations and theirs.
pub(super) fn snapshot_after<'a>(
    previous: Option<&MetaFile>,
    root_bytes: &[u8],
    signed: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    deleted: &[String],
) -> MetaFile {
    let mut snapshot = new_snapshot(
        previous.map_or(1, |p| p.version + 1),
        root_bytes,
        signed,
        previous,
    );
    snapshot.meta.retain(|role, _| {
        !deleted
            .iter()
            .any(|d| role == d || role.starts_with(&format!("{d}/")))
    });
    snapshot
}

/// Applies one change to the targets file that owns it; returns the name of a deleted
/// delegation, whose file must go too.
pub(super) fn apply_change(file: &mut Targets, change: &Change) -> Result<Option<String>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changelist::DelegationChange;
    use crate::metadata::RootRole;

    fn root() -> Root {
        let key = keymgmt::PrivateKey::generate_ecdsa().public_key();
        let id = key.key_id().to_string();
        let mut keys = BTreeMap::new();
        keys.insert(id.clone(), KeyJson::from_public(&key));
        let mut roles = BTreeMap::new();
        for role in ["root", "targets", "snapshot", "timestamp"] {
            roles.insert(
                role.to_owned(),
                RootRole {
                    keyids: vec![id.clone()],
                    threshold: 1,
                },
            );
        }
        Root {
            type_name: "Root".into(),
            consistent_snapshot: false,
            expires: metadata::expires_in(metadata::ROOT_EXPIRY),
            keys,
            roles,
            version: 1,
        }
    }

    fn base(version: i64) -> BTreeMap<String, Targets> {
        BTreeMap::from([("targets".to_owned(), metadata::empty_targets(version))])
    }

    fn add_target(role: &str, name: &str) -> Change {
        Change {
            action: Action::Create,
            role: role.to_owned(),
            path: name.to_owned(),
            content: ChangeContent::Target(Some(FileMeta::of_bytes(name.as_bytes()))),
        }
    }

    fn delegation(action: Action, role: &str, keys: Vec<KeyJson>) -> Change {
        Change {
            action,
            role: role.to_owned(),
            path: String::new(),
            content: ChangeContent::Delegation(DelegationChange {
                add_keys: keys,
                add_paths: vec![String::new()],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_target_bumps_the_targets_version_and_is_signed_by_the_root_s_targets_keys() {
        let root = root();
        let plan = plan(&root, &base(3), &[add_target("targets", "v1")], true).unwrap();
        let [signed] = plan.to_sign.as_slice() else {
            panic!("{plan:?}")
        };
        assert_eq!(signed.role, "targets");
        assert_eq!(signed.targets.version, 4);
        assert!(signed.targets.targets.contains_key("v1"));
        assert_eq!(signed.keyids, root.roles["targets"].keyids);
        assert!(plan.deleted.is_empty());
    }

    #[test]
    fn a_first_publication_keeps_the_version_init_signed() {
        let plan = plan(&root(), &base(1), &[add_target("targets", "v1")], false).unwrap();
        assert_eq!(plan.to_sign[0].targets.version, 1);
        let none = plan_of_nothing();
        assert!(none.is_empty());
    }

    fn plan_of_nothing() -> Plan {
        plan(&root(), &base(1), &[], true).unwrap()
    }

    #[test]
    fn a_new_delegation_is_signed_after_its_parent_with_the_keys_the_parent_lists() {
        let key = keymgmt::PrivateKey::generate_ecdsa().public_key();
        let changes = [
            add_target("targets/releases", "v2"),
            delegation(
                Action::Create,
                "targets/releases",
                vec![KeyJson::from_public(&key)],
            ),
        ];
        let plan = plan(&root(), &base(1), &changes, true).unwrap();
        let roles: Vec<&str> = plan.to_sign.iter().map(|s| s.role.as_str()).collect();
        assert_eq!(roles, ["targets", "targets/releases"]);
        let releases = &plan.to_sign[1];
        assert_eq!(releases.keyids, [key.key_id().to_string()]);
        assert!(releases.keys.contains_key(key.key_id().as_str()));
        assert_eq!(releases.targets.version, 1);
        let parent = &plan.to_sign[0].targets.delegations;
        assert_eq!(parent.roles[0].name, "targets/releases");
        assert_eq!(parent.roles[0].paths, [""]);
    }

    #[test]
    fn a_deleted_delegation_leaves_its_parent_and_the_snapshot_with_its_own() {
        let key = KeyJson::from_public(&keymgmt::PrivateKey::generate_ecdsa().public_key());
        let mut base = base(1);
        apply_change(
            base.get_mut("targets").unwrap(),
            &delegation(Action::Create, "targets/a", vec![key]),
        )
        .unwrap();
        let removal = Change {
            content: ChangeContent::Delegation(DelegationChange::default()),
            ..delegation(Action::Delete, "targets/a", Vec::new())
        };
        let plan = plan(&root(), &base, &[removal], true).unwrap();
        assert_eq!(plan.deleted, ["targets/a"]);
        let targets = &plan.to_sign[0].targets;
        assert!(targets.delegations.roles.is_empty());
        assert!(
            targets.delegations.keys.is_empty(),
            "unused keys are pruned"
        );

        let mut previous = new_snapshot(4, b"root", [("targets", &b"t"[..])], None);
        for role in ["targets/a", "targets/a/b", "targets/ab"] {
            previous
                .meta
                .insert(role.to_owned(), FileMeta::of_bytes(b"x"));
        }
        let after = snapshot_after(
            Some(&previous),
            b"root v2",
            [("targets", &b"t2"[..])],
            &plan.deleted,
        );
        assert_eq!(after.version, 5);
        let roles: Vec<&str> = after.meta.keys().map(String::as_str).collect();
        assert_eq!(roles, ["root", "targets", "targets/ab"]);
        assert_eq!(after.meta["root"], FileMeta::of_bytes(b"root v2"));
        assert_eq!(after.meta["targets"], FileMeta::of_bytes(b"t2"));
    }

    #[test]
    fn updating_a_delegation_that_does_not_exist_is_refused() {
        let change = delegation(Action::Update, "targets/missing", Vec::new());
        assert!(matches!(
            plan(&root(), &base(1), &[change], true),
            Err(Error::InvalidRole { ref role }) if role == "targets/missing"
        ));
    }
}
