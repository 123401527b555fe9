//! Offline interop tests of the key file codec and key store against the Go notary client
//! (`/usr/bin/notary`) and openssl, plus failure behaviour (typed errors, nothing changed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use keymgmt::keyfile::{self, KeyFile};
use keymgmt::keystore::{DecryptedKey, KeyStore, write_public_key};
use keymgmt::passphrase::{Callback, Chain, Fixed, NotaryEnv, Passphrase, PassphraseRequest};
use keymgmt::{Error, KeyAlgorithm, KeyId, PrivateKey, PublicKey, SignatureMethod};

#[path = "keyfile/failures.rs"]
mod failures;

fn tool(name: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(name);
    cmd.args(args).stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("{name} must be installed for the interop tests: {e}"))
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn notary(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut all = vec!["-d", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    tool("notary", &all, env)
}

/// Runs `notary key generate` and returns the reported key ID.
fn notary_generate(dir: &Path, role: &str, env: &[(&str, &str)]) -> String {
    let out = ok(notary(
        dir,
        &["key", "generate", "ecdsa", "--role", role],
        env,
    ));
    out.trim().rsplit(' ').next().unwrap().to_owned()
}

fn notary_env(vars: &[(&str, &str)]) -> NotaryEnv {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    NotaryEnv::with_lookup(move |name| map.get(name).cloned())
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A snapshot of every file under `dir` with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
                out.push((p, Vec::new()));
            } else {
                let bytes = fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

fn spki_from_pem(text: &str) -> PublicKey {
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.contains(':') && !l.is_empty())
        .collect();
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    PublicKey::from_parts(KeyAlgorithm::Ecdsa, der).unwrap()
}

#[test]
fn go_notary_keys_are_listed_decrypted_and_sign() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("trust");
    let deleg_env = [("NOTARY_DELEGATION_PASSPHRASE", "delegpass1")];
    let root_env = [("NOTARY_ROOT_PASSPHRASE", "rootpass12")];
    let deleg_id = notary_generate(&dir, "targets/releases", &deleg_env);
    let root_id = notary_generate(&dir, "root", &root_env);
    let listing = ok(notary(&dir, &["key", "list"], &[]));
    assert!(
        listing.contains(&deleg_id) && listing.contains(&root_id),
        "{listing}"
    );

    let store = KeyStore::open(&dir).unwrap();
    let keys = store.list().unwrap();
    let roles: HashMap<String, String> = keys
        .iter()
        .map(|k| (k.key_id.to_string(), k.role.clone()))
        .collect();
    assert_eq!(roles.len(), 2);
    assert_eq!(roles[&deleg_id], "targets/releases");
    assert_eq!(roles[&root_id], "root");
    for k in &keys {
        assert_eq!(
            k.path.file_name().unwrap().to_str().unwrap(),
            format!("{}.key", k.key_id)
        );
        assert!(!k.legacy);
        assert_eq!(k.gun, None);
    }

    let source = notary_env(&[
        ("NOTARY_DELEGATION_PASSPHRASE", "delegpass1"),
        ("NOTARY_ROOT_PASSPHRASE", "rootpass12"),
    ]);
    for id in [&deleg_id, &root_id] {
        let id = KeyId::parse(id).unwrap();
        let DecryptedKey { key, .. } = store.get(&id, &source).unwrap();
        // The key ID commits to the public key notary reported.
        assert_eq!(key.key_id(), id);
        let sig = key.sign(b"signed metadata");
        key.public_key()
            .verify(SignatureMethod::Ecdsa, b"signed metadata", &sig.bytes)
            .unwrap();
    }

    // With -o notary writes the public key too: verify our signature with *its* public key,
    // and check that our NAME.pub writer produces the same bytes.
    let out = tmp.path().join("out");
    ok(notary(
        &dir,
        &[
            "key",
            "generate",
            "ecdsa",
            "--role",
            "targets/releases",
            "-o",
            out.to_str().unwrap(),
        ],
        &deleg_env,
    ));
    let public_pem = fs::read_to_string(tmp.path().join("out.pem")).unwrap();
    let private_pem = fs::read(tmp.path().join("out-key.pem")).unwrap();
    let file: KeyFile =
        keyfile::decode(&private_pem, Some(&Passphrase::new("delegpass1")), None).unwrap();
    let sig = file.key.sign(b"m");
    spki_from_pem(&public_pem)
        .verify(SignatureMethod::Ecdsa, b"m", &sig.bytes)
        .unwrap();
    assert_eq!(
        keyfile::public_key_pem(&file.key.public_key(), "targets/releases"),
        public_pem
    );

    // And import it through the store (re-encrypted with the store passphrase).
    let id = store
        .import_pem(
            &private_pem,
            "targets/releases",
            None,
            &Fixed("delegpass1".into()),
            &Fixed("store-passphrase".into()),
        )
        .unwrap();
    assert_eq!(id, file.key.key_id());
    let DecryptedKey {
        key: again, role, ..
    } = store.get(&id, &Fixed("store-passphrase".into())).unwrap();
    assert_eq!((again.key_id(), role.as_str()), (id, "targets/releases"));
}

#[test]
fn go_notary_reads_and_rewrites_our_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("trust");
    let store = KeyStore::open(&dir).unwrap();
    let deleg = PrivateKey::generate_ecdsa();
    let targets = PrivateKey::generate_ecdsa();
    let deleg_id = store
        .add(
            &deleg,
            "targets/releases",
            Some("example.com/app"),
            &Fixed("delegpass1".into()),
        )
        .unwrap();
    let targets_id = store
        .add(
            &targets,
            "targets",
            Some("example.com/app"),
            &Fixed("targetspass".into()),
        )
        .unwrap();
    // notary writes no gun header for delegation keys; neither do we.
    let text = fs::read_to_string(store.key_path(&deleg_id)).unwrap();
    assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: targets/releases\n\n"));

    let listing = ok(notary(&dir, &["key", "list"], &[]));
    let line = |id: &KeyId| {
        listing
            .lines()
            .find(|l| l.contains(id.as_str()))
            .unwrap_or_else(|| panic!("{listing}"))
            .to_owned()
    };
    assert!(
        line(&deleg_id).starts_with("targets/releases "),
        "{listing}"
    );
    let t = line(&targets_id);
    assert!(
        t.starts_with("targets ") && t.contains("example.com/app"),
        "{listing}"
    );

    // `key passwd` decrypts with the old passphrase and re-encrypts: proof that Go reads ours.
    let before = fs::read(store.key_path(&deleg_id)).unwrap();
    let wrong = notary(
        &dir,
        &["key", "passwd", deleg_id.as_str()],
        &[("NOTARY_DELEGATION_PASSPHRASE", "not-the-passphrase")],
    );
    assert!(!wrong.status.success());
    ok(notary(
        &dir,
        &["key", "passwd", deleg_id.as_str()],
        &[("NOTARY_DELEGATION_PASSPHRASE", "delegpass1")],
    ));
    ok(notary(
        &dir,
        &["key", "passwd", targets_id.as_str()],
        &[("NOTARY_TARGETS_PASSPHRASE", "targetspass")],
    ));
    let after = fs::read(store.key_path(&deleg_id)).unwrap();
    assert_ne!(before, after, "notary rewrote the file with a fresh salt");
    // ...and we read what Go wrote back.
    let DecryptedKey { key, role, .. } = store.get(&deleg_id, &Fixed("delegpass1".into())).unwrap();
    assert_eq!(
        (key.key_id(), role.as_str()),
        (deleg_id, "targets/releases")
    );
    let DecryptedKey { key, role, gun } = store
        .get(&targets_id, &Fixed("targetspass".into()))
        .unwrap();
    assert_eq!(key.key_id(), targets_id);
    assert_eq!(
        (role.as_str(), gun.as_deref()),
        ("targets", Some("example.com/app"))
    );
}

#[test]
fn openssl_keys_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let path = |n: &str| tmp.path().join(n).to_str().unwrap().to_owned();
    ok(tool(
        "openssl",
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &path("ec.pem"),
        ],
        &[],
    ));
    ok(tool(
        "openssl",
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            &path("ec.pem"),
            "-passout",
            "pass:opensslpass",
            "-out",
            &path("p8.pem"),
        ],
        &[],
    ));
    ok(tool(
        "openssl",
        &[
            "ec",
            "-in",
            &path("ec.pem"),
            "-aes256",
            "-passout",
            "pass:legacypass",
            "-out",
            &path("legacy.pem"),
        ],
        &[],
    ));
    ok(tool(
        "openssl",
        &[
            "ec",
            "-in",
            &path("ec.pem"),
            "-aes128",
            "-passout",
            "pass:legacypass",
            "-out",
            &path("legacy128.pem"),
        ],
        &[],
    ));
    let read = |n: &str| fs::read(tmp.path().join(n)).unwrap();

    let plain = keyfile::decode(&read("ec.pem"), None, None).unwrap();
    let id = plain.key.key_id();
    let header = keyfile::peek(&read("ec.pem")).unwrap();
    assert!(header.legacy && !header.encrypted);

    let p8 = read("p8.pem");
    assert!(String::from_utf8_lossy(&p8).contains("BEGIN ENCRYPTED PRIVATE KEY"));
    let k = keyfile::decode(&p8, Some(&"opensslpass".into()), None).unwrap();
    assert_eq!(k.key.key_id(), id);
    assert!(matches!(
        keyfile::decode(&p8, Some(&"nope".into()), None),
        Err(Error::WrongPassphrase { .. })
    ));

    for legacy in ["legacy.pem", "legacy128.pem"] {
        let bytes = read(legacy);
        let h = keyfile::peek(&bytes).unwrap();
        assert!(h.legacy && h.encrypted);
        let k = keyfile::decode(&bytes, Some(&"legacypass".into()), None).unwrap();
        assert_eq!(k.key.key_id(), id);
        assert!(matches!(
            keyfile::decode(&bytes, Some(&"wrongpass".into()), None),
            Err(Error::WrongPassphrase { .. })
        ));
    }

    // Import the openssl key into a store; notary lists it under the role we chose.
    let dir = tmp.path().join("trust");
    let store = KeyStore::open(&dir).unwrap();
    let imported = store
        .import_pem(
            &read("ec.pem"),
            "root",
            None,
            &Chain::new(),
            &Fixed("rootpass12".into()),
        )
        .unwrap();
    assert_eq!(imported, id);
    let listing = ok(notary(&dir, &["key", "list"], &[]));
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("root ") && l.contains(id.as_str())),
        "{listing}"
    );

    // openssl's Ed25519 (RFC 8410 PKCS#8) is read too.
    ok(tool(
        "openssl",
        &["genpkey", "-algorithm", "ed25519", "-out", &path("ed.pem")],
        &[],
    ));
    let ed = keyfile::decode(&read("ed.pem"), None, None).unwrap();
    assert_eq!(ed.key.algorithm(), KeyAlgorithm::Ed25519);
}

#[test]
fn ed25519_and_rsa_round_trip() {
    let pass = Passphrase::new("round-trip");
    let rsa = PrivateKey::generate_rsa(2048).unwrap();
    for key in [
        PrivateKey::generate_ed25519(),
        rsa,
        PrivateKey::generate_ecdsa(),
    ] {
        let enc = keyfile::encode_encrypted(&key, "targets", Some("a/b"), &pass).unwrap();
        let back =
            keyfile::decode(enc.as_bytes(), Some(&pass), Some(key.key_id().as_str())).unwrap();
        assert_eq!(back.key.key_id(), key.key_id());
        assert_eq!(
            (back.role.as_deref(), back.gun.as_deref()),
            (Some("targets"), Some("a/b"))
        );
        let sig = back.key.sign(b"x");
        key.public_key()
            .verify(sig.method, b"x", &sig.bytes)
            .unwrap();

        let plain = keyfile::encode_unencrypted(&key, "snapshot", None).unwrap();
        assert!(plain.starts_with("-----BEGIN PRIVATE KEY-----\nrole: snapshot\n\n"));
        let back = keyfile::decode(plain.as_bytes(), None, None).unwrap();
        assert_eq!(back.key.key_id(), key.key_id());
        assert!(!keyfile::peek(plain.as_bytes()).unwrap().encrypted);
    }
    // Through the store as well.
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::open(&tmp.path().join("trust")).unwrap();
    let ed = PrivateKey::generate_ed25519();
    let id = store
        .add(
            &ed,
            "timestamp",
            Some("example.com/app"),
            &Fixed(pass.clone()),
        )
        .unwrap();
    let DecryptedKey {
        key: back,
        role,
        gun,
    } = store.get(&id, &Fixed(pass)).unwrap();
    assert_eq!(
        (back.key_id(), role.as_str(), gun.as_deref()),
        (id, "timestamp", Some("example.com/app"))
    );
}

#[test]
fn legacy_layout_is_listed_and_read() {
    let tmp = tempfile::tempdir().unwrap();
    let private = tmp.path().join("trust/private");
    let legacy_pem = |name: &str, pass: &str| -> (PathBuf, KeyId) {
        let p = tmp.path().join(name);
        ok(tool(
            "openssl",
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                p.to_str().unwrap(),
            ],
            &[],
        ));
        let enc = tmp.path().join(format!("{name}.enc"));
        ok(tool(
            "openssl",
            &[
                "ec",
                "-in",
                p.to_str().unwrap(),
                "-aes256",
                "-passout",
                &format!("pass:{pass}"),
                "-out",
                enc.to_str().unwrap(),
            ],
            &[],
        ));
        let id = keyfile::decode(&fs::read(&p).unwrap(), None, None)
            .unwrap()
            .key
            .key_id();
        (enc, id)
    };
    let (root_file, root_id) = legacy_pem("root", "rootpass12");
    let (tgt_file, tgt_id) = legacy_pem("targets", "targetspass");
    fs::create_dir_all(private.join("root_keys")).unwrap();
    fs::create_dir_all(private.join("tuf_keys/example.com/app")).unwrap();
    fs::copy(
        &root_file,
        private.join(format!("root_keys/{root_id}_root.key")),
    )
    .unwrap();
    fs::copy(
        &tgt_file,
        private.join(format!("tuf_keys/example.com/app/{tgt_id}_targets.key")),
    )
    .unwrap();

    let store = KeyStore::open(&tmp.path().join("trust")).unwrap();
    let keys = store.list().unwrap();
    assert_eq!(keys.len(), 2);
    let find = |id: &KeyId| keys.iter().find(|k| &k.key_id == id).unwrap();
    assert_eq!(
        (find(&root_id).role.as_str(), find(&root_id).legacy),
        ("root", true)
    );
    let t = find(&tgt_id);
    assert_eq!(
        (t.role.as_str(), t.gun.as_deref()),
        ("targets", Some("example.com/app"))
    );
    let DecryptedKey { key: k, role, .. } =
        store.get(&tgt_id, &Fixed("targetspass".into())).unwrap();
    assert_eq!((k.key_id(), role.as_str()), (tgt_id.clone(), "targets"));
    match store.get(&root_id, &Fixed("targetspass".into())) {
        Err(Error::WrongPassphrase { role, .. }) => assert_eq!(role, "root"),
        other => panic!("{other:?}"),
    }
    store.remove(&tgt_id).unwrap();
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn public_key_file_like_docker() {
    let tmp = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate_ecdsa();
    let path = write_public_key(tmp.path(), "alice", &key.public_key()).unwrap();
    assert_eq!(path, tmp.path().join("alice.pub"));
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("-----BEGIN PUBLIC KEY-----\nrole: alice\n\n"));
    assert_eq!(spki_from_pem(&text).key_id(), key.key_id());
    assert!(matches!(
        write_public_key(tmp.path(), "../evil", &key.public_key()),
        Err(Error::InvalidRole { .. })
    ));
}
