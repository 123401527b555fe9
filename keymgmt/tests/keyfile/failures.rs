//! Failure behaviour of the key store: broken files give typed errors and change nothing;
//! wrong passphrases are asked again where a prompt can answer, never in a loop.

use super::*;

#[test]
fn broken_files_give_typed_errors_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("trust");
    let store = KeyStore::open(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("private")), 0o700);
    let key = PrivateKey::generate_ecdsa();
    let id = store
        .add(&key, "root", None, &Fixed("rootpass12".into()))
        .unwrap();
    let path = store.key_path(&id);
    assert_eq!(mode(&path), 0o600);
    let good = fs::read(&path).unwrap();
    let snapshot = tree(&dir);

    // Wrong passphrase: typed error, file untouched.
    match store.get(&id, &Fixed("wrongpass1".into())) {
        Err(Error::WrongPassphrase { key_id, role, gun }) => {
            assert_eq!(
                (key_id.as_str(), role.as_str(), gun),
                (id.as_str(), "root", None)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tree(&dir), snapshot);

    let decode =
        |bytes: &[u8]| keyfile::decode(bytes, Some(&"rootpass12".into()), Some(id.as_str()));
    // Truncation.
    for cut in [10, good.len() / 2, good.len() - 30] {
        assert!(
            matches!(decode(&good[..cut]), Err(Error::CorruptPrivateKey { .. })),
            "cut at {cut}"
        );
    }
    // Garbage and a non-key PEM.
    assert!(matches!(
        decode(b"\x00\xffgarbage"),
        Err(Error::CorruptPrivateKey { .. })
    ));
    assert!(matches!(
        decode(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        Err(Error::CorruptPrivateKey { .. })
    ));
    assert!(matches!(
        decode(&vec![b'A'; 2 * 1024 * 1024]),
        Err(Error::CorruptPrivateKey { .. })
    ));
    // Flipped bytes: in the DER structure it is corruption; in the ciphertext it cannot be told
    // from a wrong passphrase. Either way a typed error, never a wrong key.
    let text = String::from_utf8(good.clone()).unwrap();
    let body_start = text.find("\n\n").unwrap() + 2;
    for offset in [0, 1, 5, 40, 100, 200, 290] {
        let mut bad = good.clone();
        let i = body_start + offset;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        match decode(&bad) {
            Err(
                Error::CorruptPrivateKey { .. }
                | Error::WrongPassphrase { .. }
                | Error::UnsupportedKeyType { .. },
            ) => {}
            other => panic!("offset {offset}: {other:?}"),
        }
    }
    // The same damage through the store names the file.
    fs::write(&path, &good[..good.len() / 2]).unwrap();
    match store.get(&id, &Fixed("rootpass12".into())) {
        Err(Error::CorruptPrivateKey { path: Some(p), .. }) => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
    fs::write(&path, &good).unwrap();

    // Path traversal in a GUN, bad roles, short passphrases: refused, nothing written.
    let other = PrivateKey::generate_ecdsa();
    for gun in ["../../tmp/x", "/etc", "a\\b", ""] {
        assert!(matches!(
            store.add(&other, "targets", Some(gun), &Fixed("longenough".into())),
            Err(Error::InvalidGun { .. })
        ));
    }
    assert!(matches!(
        store.add(&other, "../root", None, &Fixed("longenough".into())),
        Err(Error::InvalidRole { .. })
    ));
    assert!(matches!(
        store.add(&other, "root", None, &Fixed("short".into())),
        Err(Error::PassphraseTooShort { minimum: 8, .. })
    ));
    assert_eq!(tree(&dir), snapshot);
    assert!(!tmp.path().join("tmp").exists());

    // Same key, other role: refused; same key, same role: no-op.
    assert!(matches!(
        store.add(&key, "targets/releases", None, &Fixed("longenough".into())),
        Err(Error::KeyExists { ref stored_role, ref role, .. })
            if stored_role == "root" && role == "targets/releases"
    ));
    assert_eq!(
        store
            .add(&key, "root", None, &Fixed("whatever!".into()))
            .unwrap(),
        id
    );
    assert_eq!(tree(&dir), snapshot);

    // A file renamed to another key's ID is detected.
    let fake = KeyId::parse(&"ab".repeat(32)).unwrap();
    fs::copy(&path, store.key_path(&fake)).unwrap();
    assert!(matches!(
        store.get(&fake, &Fixed("rootpass12".into())),
        Err(Error::CorruptPrivateKey { .. })
    ));
    store.remove(&fake).unwrap();
    assert_eq!(tree(&dir), snapshot);
    assert!(matches!(
        store.remove(&fake),
        Err(Error::KeyNotFound { .. })
    ));
}

#[test]
fn retries_ask_again_but_env_sources_do_not_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let store = KeyStore::open(&tmp.path().join("trust")).unwrap();
    let key = PrivateKey::generate_ecdsa();
    let id = store
        .add(&key, "targets/releases", None, &Fixed("delegpass1".into()))
        .unwrap();

    let asked = Arc::new(AtomicU32::new(0));
    let counter = asked.clone();
    let prompt = Callback::new(move |r: &PassphraseRequest<'_>| {
        counter.fetch_add(1, Ordering::SeqCst);
        assert_eq!(r.role, "targets/releases");
        Ok(if r.attempt < 2 {
            "typo".into()
        } else {
            "delegpass1".into()
        })
    });
    let DecryptedKey { key: k, .. } = store.get(&id, &prompt).unwrap();
    assert_eq!(k.key_id(), id);
    assert_eq!(asked.load(Ordering::SeqCst), 3);

    // Env var wrong: one try, then the WrongPassphrase error (not "unavailable").
    let env = notary_env(&[("NOTARY_DELEGATION_PASSPHRASE", "wrong")]);
    assert!(matches!(
        store.get(&id, &env),
        Err(Error::WrongPassphrase { .. })
    ));
    // Env var missing: names the variable.
    match store.get(&id, &notary_env(&[])) {
        Err(Error::PassphraseUnavailable { reason, .. }) => {
            assert!(reason.contains("NOTARY_DELEGATION_PASSPHRASE"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Env first, then a fixed passphrase: both decline retries, so after the wrong env value
    // the store stops with WrongPassphrase (the fixed one is never reached).
    let chain = Chain::new()
        .with(notary_env(&[("NOTARY_DELEGATION_PASSPHRASE", "wrong")]))
        .with(Fixed("delegpass1".into()));
    assert!(matches!(
        store.get(&id, &chain),
        Err(Error::WrongPassphrase { .. })
    ));
    // Env first, then a prompt: the prompt gets the retry.
    let chain = Chain::new()
        .with(notary_env(&[("NOTARY_DELEGATION_PASSPHRASE", "wrong")]))
        .with(Callback::new(|_| Ok("delegpass1".into())));
    assert_eq!(store.get(&id, &chain).unwrap().key.key_id(), id);
}
