//! A trust dir as notary clients before 0.4 wrote it (keys under `private/root_keys` and
//! `private/tuf_keys/<gun>/` with role-suffixed names and legacy encrypted PEM, certificates
//! under `trusted_certificates/`, a collection that signed its own timestamp and was never
//! published), built here from the old client's rules, then taken through a whole round by
//! ours and checked with the Go client and a real notary-server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use devstack::{DEFAULT_PASSPHRASE, NotaryCli, NotaryOptions, NotaryServer};
use keymgmt::passphrase::{Fixed, Passphrase};
use keymgmt::{PrivateKey, PublicKey};
use notary_client::changelist::{Action, Change, ChangeContent, Changelist};
use notary_client::metadata::{self, FileMeta, KeyJson, MetaFile, Root, RootRole, SigningKey};
use notary_client::repository::Client;
use notary_client::transport::{Security, ServerConfig};

const GUN: &str = "registry.example.com/legacy/app";

/// A P-256 key as `openssl ec -aes256` writes it: `EC PRIVATE KEY` with `Proc-Type` and
/// `DEK-Info` headers, the pre-0.4 notary format, encrypted with the devstack passphrase.
fn legacy_key(dir: &Path, name: &str) -> (Vec<u8>, PrivateKey) {
    let plain = dir.join(format!("{name}-plain.pem"));
    let encrypted = dir.join(format!("{name}.pem"));
    let run = |args: &[&str]| {
        let status = Command::new("openssl").args(args).status().unwrap();
        assert!(status.success(), "openssl {args:?}");
    };
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        plain.to_str().unwrap(),
    ]);
    run(&[
        "ec",
        "-in",
        plain.to_str().unwrap(),
        "-aes256",
        "-passout",
        &format!("pass:{DEFAULT_PASSPHRASE}"),
        "-out",
        encrypted.to_str().unwrap(),
    ]);
    let pem = std::fs::read(&encrypted).unwrap();
    assert!(String::from_utf8_lossy(&pem).contains("DEK-Info: AES-256-CBC"));
    let key = keymgmt::keyfile::decode(&pem, Some(&Passphrase::new(DEFAULT_PASSPHRASE)), None)
        .unwrap()
        .key;
    (pem, key)
}

fn sign_with(key: &PrivateKey, key_id: keymgmt::KeyId) -> SigningKey<'_> {
    SigningKey { key, key_id }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Builds the old trust dir: keys, certificate, a never-published collection whose root lists
/// a local timestamp key (v1 of every role, target `old-1`), and one staged change.
fn old_trust_dir(trust: &Path, scratch: &Path) {
    let private = trust.join("private");
    let (root_pem, root_key) = legacy_key(scratch, "root");
    write(
        &private
            .join("root_keys")
            .join(format!("{}_root.key", root_key.key_id())),
        &root_pem,
    );
    let mut keys = BTreeMap::new();
    for role in ["targets", "snapshot", "timestamp"] {
        let (pem, key) = legacy_key(scratch, role);
        write(
            &private
                .join("tuf_keys")
                .join(GUN)
                .join(format!("{}_{role}.key", key.key_id())),
            &pem,
        );
        keys.insert(role, key);
    }
    let cert = keymgmt::x509::generate_root_certificate(GUN, &root_key).unwrap();
    let cert_json = KeyJson::from_public(&cert);
    let cert_pem = base64::engine::general_purpose::STANDARD
        .decode(&cert_json.keyval.public)
        .unwrap();
    write(
        &trust
            .join("trusted_certificates")
            .join(GUN)
            .join(format!("{}.crt", cert.key_id())),
        &cert_pem,
    );

    let mut root_keys = BTreeMap::new();
    let mut roles = BTreeMap::new();
    let publics: Vec<(&str, PublicKey)> = [("root", cert.clone())]
        .into_iter()
        .chain(keys.iter().map(|(role, key)| (*role, key.public_key())))
        .collect();
    for (role, public) in &publics {
        let id = public.key_id().to_string();
        root_keys.insert(id.clone(), KeyJson::from_public(public));
        roles.insert(
            (*role).to_owned(),
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
        keys: root_keys,
        roles,
        version: 1,
    };
    let root_bytes = metadata::sign(&root, &[sign_with(&root_key, cert.key_id())]).unwrap();
    let mut targets = metadata::empty_targets(1);
    targets.targets.insert(
        "old-1".to_owned(),
        FileMeta::of_bytes(b"signed by an old client"),
    );
    let targets_bytes = metadata::sign(
        &targets,
        &[sign_with(&keys["targets"], keys["targets"].key_id())],
    )
    .unwrap();
    let snapshot = MetaFile {
        type_name: "Snapshot".to_owned(),
        expires: metadata::expires_in(metadata::SNAPSHOT_EXPIRY),
        meta: [
            ("root".to_owned(), FileMeta::of_bytes(&root_bytes)),
            ("targets".to_owned(), FileMeta::of_bytes(&targets_bytes)),
        ]
        .into(),
        version: 1,
    };
    let snapshot_bytes = metadata::sign(
        &snapshot,
        &[sign_with(&keys["snapshot"], keys["snapshot"].key_id())],
    )
    .unwrap();
    let timestamp = MetaFile {
        type_name: "Timestamp".to_owned(),
        expires: metadata::expires_in(time::Duration::days(14)),
        meta: [("snapshot".to_owned(), FileMeta::of_bytes(&snapshot_bytes))].into(),
        version: 1,
    };
    let timestamp_bytes = metadata::sign(
        &timestamp,
        &[sign_with(&keys["timestamp"], keys["timestamp"].key_id())],
    )
    .unwrap();
    let cache = trust.join("tuf").join(GUN).join("metadata");
    for (role, bytes) in [
        ("root", &root_bytes),
        ("targets", &targets_bytes),
        ("snapshot", &snapshot_bytes),
        ("timestamp", &timestamp_bytes),
    ] {
        write(&cache.join(format!("{role}.json")), bytes);
    }
    Changelist::new(trust.join("tuf").join(GUN).join("changelist"))
        .add(&Change {
            action: Action::Create,
            role: "targets".to_owned(),
            path: "staged-1".to_owned(),
            content: ChangeContent::Target(Some(FileMeta::of_bytes(b"staged by an old client"))),
        })
        .unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir` with its contents, by relative path.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

fn client(server: &NotaryServer, trust: &Path) -> Client {
    Client::new(
        trust,
        &ServerConfig {
            url: server.url().to_owned(),
            security: Security::InsecureHttp,
            ..Default::default()
        },
        Fixed(Passphrase::new(DEFAULT_PASSPHRASE)),
    )
    .unwrap()
}

fn go_names(cli: &NotaryCli) -> Vec<String> {
    cli.run(&["list", GUN])
        .unwrap()
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_trust_dir_is_migrated_as_go_does_then_rotated_and_published() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ours_dir = dir.path().join("ours");
    old_trust_dir(&ours_dir, dir.path());
    let go_dir = dir.path().join("go");
    copy_tree(&ours_dir, &go_dir);

    // The same old dir opened by Go and by us: the same key files, byte for byte.
    let go = NotaryCli::with_trust_dir(&server, &go_dir).unwrap();
    let go_keys = go.run(&["key", "list"]).unwrap();
    let ours = client(&server, &ours_dir);
    assert_eq!(
        tree(&ours_dir.join("private")),
        tree(&go_dir.join("private"))
    );
    assert!(!ours_dir.join("private/root_keys").exists());
    assert!(!ours_dir.join("private/tuf_keys").exists());
    let listed = ours.keystore().list().unwrap();
    let roles: Vec<(&str, Option<&str>)> = listed
        .iter()
        .map(|k| (k.role.as_str(), k.gun.as_deref()))
        .collect();
    assert_eq!(roles.len(), 4, "{roles:?}");
    for role in ["targets", "snapshot", "timestamp"] {
        assert!(roles.contains(&(role, Some(GUN))), "{roles:?}");
        assert!(go_keys.contains(role), "{go_keys}");
    }
    assert!(roles.contains(&("root", None)), "{roles:?}");

    // status and list of the never-published collection read the trust dir.
    let repo = ours.repository(GUN).unwrap();
    let staged = repo.status().unwrap();
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].path, "staged-1");

    // The server will not serve a timestamp it cannot sign: move it to the server's key, which
    // publishes the collection, then publish the staged change.
    let new_key = repo
        .rotate_key(notary_client::repository::KeyRotation::Timestamp)
        .await
        .unwrap();
    repo.publish().await.unwrap();
    assert!(repo.status().unwrap().is_empty());

    let fresh_go = NotaryCli::new(&server).unwrap();
    assert_eq!(go_names(&fresh_go), ["old-1", "staged-1"]);
    let fresh_root: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            fresh_go
                .trust_dir()
                .join("tuf")
                .join(GUN)
                .join("metadata/root.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        fresh_root["signed"]["roles"]["timestamp"]["keyids"][0],
        new_key.key_id().to_string()
    );
    let fresh_ours_dir = tempfile::tempdir().unwrap();
    let fresh_ours = client(&server, fresh_ours_dir.path());
    let names: Vec<String> = fresh_ours
        .repository(GUN)
        .unwrap()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["old-1", "staged-1"]);

    // Go signs with the migrated keys in our trust dir, and we follow.
    let payload = dir.path().join("go-1");
    std::fs::write(&payload, b"go one").unwrap();
    NotaryCli::with_trust_dir(&server, &ours_dir)
        .unwrap()
        .run(&["add", GUN, "go-1", payload.to_str().unwrap(), "-p"])
        .unwrap();
    assert_eq!(repo.list().await.unwrap().len(), 3);
    assert_eq!(
        go_names(&NotaryCli::new(&server).unwrap()),
        ["go-1", "old-1", "staged-1"]
    );
}
