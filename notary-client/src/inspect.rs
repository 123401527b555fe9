//! The `docker trust inspect` view of a verified collection (same JSON shape).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::update::TrustedState;

/// Docker's name for signatures by the `targets` role.
const REPO_ADMIN: &str = "Repo Admin";
const RELEASES: &str = "targets/releases";

/// One repository as `docker trust inspect` prints it (the command prints a JSON array).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Inspection {
    /// The GUN.
    pub name: String,
    /// Released tags: those in `targets` or `targets/releases`.
    pub signed_tags: Vec<SignedTag>,
    /// Delegated signers (without `releases`).
    pub signers: Vec<Signer>,
    /// `Root` and `Repository` (targets) keys.
    pub administrative_keys: Vec<Signer>,
}

/// A released tag and who signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignedTag {
    /// The tag.
    pub signed_tag: String,
    /// Hex sha256 of the manifest.
    pub digest: String,
    /// Signer names (`Repo Admin` for the targets role).
    pub signers: Vec<String>,
}

/// A named set of keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Signer {
    /// The signer's name.
    pub name: String,
    /// Its keys.
    pub keys: Vec<KeyRef>,
}

/// A key ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRef {
    /// The key ID.
    #[serde(rename = "ID")]
    pub id: String,
}

/// Builds the inspection of `gun` from verified trust data.
pub fn inspect(gun: &str, state: &TrustedState) -> Inspection {
    let signer_name = |role: &str| -> Option<String> {
        match role {
            "targets" => Some(REPO_ADMIN.to_owned()),
            RELEASES => None,
            other => Some(other.trim_start_matches("targets/").to_owned()),
        }
    };
    // (tag, digest) -> signers, for tags released by targets or targets/releases.
    let mut tags: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (role, verified) in &state.targets {
        if role != "targets" && role != RELEASES {
            continue;
        }
        for (tag, meta) in &verified.file.signed.targets {
            if let Some(sha) = meta.sha256() {
                tags.entry((tag.clone(), hex::encode(sha))).or_default();
            }
        }
    }
    for (role, verified) in &state.targets {
        for (tag, meta) in &verified.file.signed.targets {
            let Some(sha) = meta.sha256() else { continue };
            if let (Some(signers), Some(name)) = (
                tags.get_mut(&(tag.clone(), hex::encode(sha))),
                signer_name(role),
            ) && !signers.contains(&name)
            {
                signers.push(name);
            }
        }
    }
    let signed_tags = tags
        .into_iter()
        .map(|((tag, digest), mut signers)| {
            signers.sort();
            SignedTag {
                signed_tag: tag,
                digest,
                signers,
            }
        })
        .collect();

    let mut signers = Vec::new();
    for (_, verified) in &state.targets {
        for role in &verified.file.signed.delegations.roles {
            if role.name == RELEASES {
                continue;
            }
            signers.push(Signer {
                name: role.name.trim_start_matches("targets/").to_owned(),
                keys: role
                    .keyids
                    .iter()
                    .map(|id| KeyRef { id: id.clone() })
                    .collect(),
            });
        }
    }
    signers.sort_by(|a, b| a.name.cmp(&b.name));

    let root = &state.root.file.signed;
    let keys_of = |role: &str| {
        root.roles
            .get(role)
            .map(|r| {
                r.keyids
                    .iter()
                    .map(|id| KeyRef { id: id.clone() })
                    .collect()
            })
            .unwrap_or_default()
    };
    Inspection {
        name: gun.to_owned(),
        signed_tags,
        signers,
        administrative_keys: vec![
            Signer {
                name: "Root".to_owned(),
                keys: keys_of("root"),
            },
            Signer {
                name: "Repository".to_owned(),
                keys: keys_of("targets"),
            },
        ],
    }
}
