//! The attack catalogue: each case is served by a tampering server (a mock is right here: a
//! real notary-server cannot be made to misbehave), in memory unless the attack is about bytes
//! on the wire, and must be refused with its own error, leaving the cache untouched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::*;

#[tokio::test]
async fn rollback_of_timestamp() {
    let (keys, mock, victim, root) = trusting_v2().await;
    mock.serve(&publication(&keys, &root, &Spec::version(1)));
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::Rollback { ref role, cached: 2, received: 1 } if role == "timestamp"),
        "{err}"
    );
}

#[tokio::test]
async fn rollback_of_snapshot_and_targets() {
    let (keys, mock, victim, root) = trusting_v2().await;
    // A fresh timestamp pointing at an old (validly signed) snapshot.
    let old = publication(&keys, &root, &Spec::version(1));
    mock.serve(&old);
    mock.put_bytes(
        "timestamp.json",
        &timestamp_for(&keys, &old.snapshot, 3, &future()),
    );
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::Rollback { ref role, .. } if role == "snapshot"),
        "{err}"
    );

    // A fresh snapshot pointing at old targets.
    let mut meta = BTreeMap::new();
    meta.insert("root".to_owned(), FileMeta::of_bytes(&root));
    meta.insert("targets".to_owned(), FileMeta::of_bytes(&old.targets));
    let snapshot = metadata::sign(
        &MetaFile {
            type_name: "Snapshot".into(),
            expires: future(),
            meta,
            version: 3,
        },
        &[signer(&keys.snapshot)],
    )
    .unwrap();
    mock.put_bytes(&format!("snapshot.{}.json", sha(&snapshot)), &snapshot);
    mock.put_bytes(
        "timestamp.json",
        &timestamp_for(&keys, &snapshot, 3, &future()),
    );
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::Rollback { ref role, .. } if role == "targets"),
        "{err}"
    );
}

#[tokio::test]
async fn rollback_of_root() {
    let keys = Keys::new();
    let mock = Mock::in_memory();
    let root1 = sign_root(&keys, &root_meta(&keys, 1, &future()));
    let root2 = metadata::sign(
        &root_meta(&keys, 2, &future()),
        &[SigningKey {
            key: &keys.root,
            key_id: keys.root_cert.key_id(),
        }],
    )
    .unwrap();
    mock.serve(&publication(&keys, &root2, &Spec::version(1)));
    let victim = Victim::new(&mock);
    victim.update().await.unwrap();
    mock.serve(&publication(&keys, &root1, &Spec::version(2)));
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::Rollback { ref role, cached: 2, received: 1 } if role == "root"),
        "{err}"
    );
}

#[tokio::test]
async fn freeze_with_an_expired_timestamp() {
    let (keys, mock, victim, root) = trusting_v2().await;
    let mut spec = Spec::version(3);
    spec.timestamp_expires = past();
    mock.serve(&publication(&keys, &root, &spec));
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::Expired { ref role, .. } if role == "timestamp"),
        "{err}"
    );
}

#[tokio::test]
async fn expired_root() {
    let keys = Keys::new();
    let mock = Mock::in_memory();
    let root = sign_root(&keys, &root_meta(&keys, 1, &past()));
    mock.serve(&publication(&keys, &root, &Spec::version(1)));
    let err = Victim::new(&mock).refused().await;
    assert!(
        matches!(err, Error::Expired { ref role, .. } if role == "root"),
        "{err}"
    );
}

#[tokio::test]
async fn mix_and_match_snapshot() {
    let (keys, mock, victim, root) = trusting_v2().await;
    // The timestamp names snapshot v3, the server answers with another (validly signed) one.
    let v3 = publication(&keys, &root, &Spec::version(3));
    // Of the same length, so that only the hash tells them apart (expiry fractions vary).
    let v4 = std::iter::repeat_with(|| publication(&keys, &root, &Spec::version(4)))
        .take(200)
        .find(|v4| v4.snapshot.len() == v3.snapshot.len())
        .expect("a snapshot of the same length");
    mock.serve(&v3);
    mock.put_bytes(
        &format!("snapshot.{}.json", sha(&v3.snapshot)),
        &v4.snapshot,
    );
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::HashMismatch { ref role, .. } if role == "snapshot"),
        "{err}"
    );
}

#[tokio::test]
async fn target_hash_and_length_substitution() {
    let (keys, mock, victim, root) = trusting_v2().await;
    let v3 = publication(&keys, &root, &Spec::version(3));
    mock.serve(&v3);
    // Same length, one hash character changed, signature left as it was.
    let text = String::from_utf8(v3.targets.clone()).unwrap();
    let tampered = text.replacen("\"sha256\":\"", "\"sha256\":\"A", 1);
    // Drop one byte elsewhere (the last closing brace) to keep the length.
    let tampered = &tampered.as_bytes()[..v3.targets.len()];
    mock.put_bytes(&format!("targets.{}.json", sha(&v3.targets)), tampered);
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::HashMismatch { ref role, .. } if role == "targets"),
        "{err}"
    );

    // And a downloaded target is checked against what the trusted targets record.
    mock.serve(&v3);
    let state = victim.update().await.unwrap();
    let meta = &state.role("targets").unwrap().file.signed.targets["v3"];
    meta.check("v3", b"content 3").unwrap();
    assert!(matches!(
        meta.check("v3", b"content 4"),
        Err(Error::HashMismatch { .. })
    ));
    assert!(matches!(
        meta.check("v3", b"content 3 and more"),
        Err(Error::LengthMismatch { .. })
    ));
}

#[tokio::test]
async fn endless_data() {
    let (_keys, mock, victim, _root) = trusting_v2_over_http().await;
    mock.put("timestamp.json", Body::Endless);
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::TooLarge { ref role, .. } if role == "timestamp"),
        "{err}"
    );
}

#[tokio::test]
async fn endless_error_body() {
    let (_keys, mock, victim, _root) = trusting_v2_over_http().await;
    mock.put("timestamp.json", Body::EndlessError);
    let err = victim.refused().await;
    assert!(matches!(err, Error::Server { status: 500, .. }), "{err}");
    // The client read the start of the body for its message and hung up; what the server
    // wrote beyond that sits in loopback socket buffers (a few MiB at most), not 64 MiB.
    let sent = mock.endless_sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent < 32 * 1024 * 1024, "the client took {sent} bytes");
}

/// Re-signs the timestamp of `set` with an edited signature list.
fn edit_timestamp_signatures(
    timestamp: &[u8],
    edit: impl FnOnce(&mut Vec<serde_json::Value>),
) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(timestamp).unwrap();
    let mut sigs = value["signatures"].as_array().unwrap().clone();
    edit(&mut sigs);
    value["signatures"] = serde_json::Value::Array(sigs);
    serde_json::to_vec(&value).unwrap()
}

#[tokio::test]
async fn signature_method_not_matching_the_key_type() {
    let (keys, mock, victim, root) = trusting_v2().await;
    let v3 = publication(&keys, &root, &Spec::version(3));
    mock.serve(&v3);
    let ts = edit_timestamp_signatures(&v3.timestamp, |sigs| sigs[0]["method"] = "eddsa".into());
    mock.put_bytes("timestamp.json", &ts);
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::SignatureMethodMismatch { ref method, .. } if method == "eddsa"),
        "{err}"
    );
}

#[tokio::test]
async fn signature_key_not_in_the_role() {
    let (keys, mock, victim, root) = trusting_v2().await;
    let v3 = publication(&keys, &root, &Spec::version(3));
    mock.serve(&v3);
    // Signed by the targets key, which root lists, but not for timestamp.
    let meta: MetaFile = {
        let v: serde_json::Value = serde_json::from_slice(&v3.timestamp).unwrap();
        serde_json::from_value(v["signed"].clone()).unwrap()
    };
    let ts = metadata::sign(&meta, &[signer(&keys.targets)]).unwrap();
    mock.put_bytes("timestamp.json", &ts);
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::SignatureKeyNotInRole { ref role, .. } if role == "timestamp"),
        "{err}"
    );
}

#[tokio::test]
async fn threshold_not_met() {
    let (keys, mock, victim, root) = trusting_v2().await;
    let v3 = publication(&keys, &root, &Spec::version(3));
    mock.serve(&v3);
    mock.put_bytes(
        "timestamp.json",
        &edit_timestamp_signatures(&v3.timestamp, Vec::clear),
    );
    let err = victim.refused().await;
    assert!(
        matches!(
            err,
            Error::ThresholdNotMet {
                required: 1,
                valid: 0,
                ..
            }
        ),
        "{err}"
    );
    // A signature over other bytes does not count either.
    let other = timestamp_for(&keys, &v3.snapshot, 4, &future());
    let forged = edit_timestamp_signatures(&v3.timestamp, |sigs| {
        let v: serde_json::Value = serde_json::from_slice(&other).unwrap();
        sigs[0] = v["signatures"][0].clone();
    });
    mock.put_bytes("timestamp.json", &forged);
    let err = victim.refused().await;
    assert!(matches!(err, Error::BadSignature { .. }), "{err}");
}

#[tokio::test]
async fn root_rotation_without_the_old_roots_signature() {
    let (keys, mock, victim, _root) = trusting_v2().await;
    let new_keys = Keys {
        root: PrivateKey::generate_ecdsa(),
        ..Keys::new()
    };
    let new_keys = Keys {
        root_cert: keymgmt::x509::generate_root_certificate(GUN, &new_keys.root).unwrap(),
        ..new_keys
    };
    let mut rotated = root_meta(&new_keys, 2, &future());
    // Same non-root keys so that only the rotation is at fault.
    let old = root_meta(&keys, 2, &future());
    for role in ["targets", "snapshot", "timestamp"] {
        rotated.roles.insert(role.into(), old.roles[role].clone());
    }
    rotated
        .keys
        .retain(|id, _| rotated.roles["root"].keyids.contains(id));
    rotated.keys.extend(
        old.keys
            .into_iter()
            .filter(|(id, _)| !old.roles["root"].keyids.contains(id)),
    );
    let root2 = sign_root(&new_keys, &rotated);
    mock.serve(&publication(&keys, &root2, &Spec::version(3)));
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::RootRotationUnsigned { version: 2, .. }),
        "{err}"
    );
}

/// Serves a first publication whose root certificate is `keys.root_cert` to a new client and
/// returns why the certificate was refused.
async fn first_root_certificate_refusal(keys: &Keys) -> Box<keymgmt::Error> {
    let mock = Mock::in_memory();
    let root = sign_root(keys, &root_meta(keys, 1, &future()));
    mock.serve(&publication(keys, &root, &Spec::version(1)));
    match Victim::new(&mock).refused().await {
        Error::RootCertificate { source, .. } => source,
        other => panic!("expected RootCertificate, got {other}"),
    }
}

#[tokio::test]
async fn root_certificate_for_another_gun() {
    let mut keys = Keys::new();
    keys.root_cert =
        keymgmt::x509::generate_root_certificate("registry.example.com/other", &keys.root).unwrap();
    let source = first_root_certificate_refusal(&keys).await;
    assert!(
        matches!(*source, keymgmt::Error::CertificateNameMismatch { .. }),
        "{source}"
    );
}

#[tokio::test]
async fn sha1_root_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("k.pem");
    let cert_path = dir.path().join("c.pem");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl: run ./scripts/test.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        key_path.to_str().unwrap(),
    ]);
    run(&[
        "req",
        "-x509",
        "-sha1",
        "-key",
        key_path.to_str().unwrap(),
        "-subj",
        &format!("/CN={}", GUN.replace('/', "\\/")),
        "-days",
        "30",
        "-out",
        cert_path.to_str().unwrap(),
    ]);
    let root_key = keymgmt::keyfile::decode(&std::fs::read(&key_path).unwrap(), None, None)
        .unwrap()
        .key;
    let mut keys = Keys::new();
    keys.root = root_key;
    keys.root_cert = PublicKey::from_certificate_pem(&std::fs::read(&cert_path).unwrap()).unwrap();
    let source = first_root_certificate_refusal(&keys).await;
    assert!(
        matches!(*source, keymgmt::Error::WeakCertificateSignature { .. }),
        "{source}"
    );
}

#[tokio::test]
async fn huge_versions() {
    let (keys, mock, victim, root) = trusting_v2().await;
    for version in [2_147_483_647_i64, 2_147_483_648, i64::MAX] {
        let v3 = publication(&keys, &root, &Spec::version(3));
        mock.serve(&v3);
        mock.put_bytes(
            "timestamp.json",
            &timestamp_for(&keys, &v3.snapshot, version, &future()),
        );
        let err = victim.refused().await;
        assert!(
            matches!(err, Error::VersionOutOfRange { version: v, .. } if v == version),
            "{err}"
        );
    }
}

#[tokio::test]
async fn unsigned_extra_field_in_the_envelope() {
    let keys = Keys::new();
    let mock = Mock::in_memory();
    let root = sign_root(&keys, &root_meta(&keys, 1, &future()));
    let mut set = publication(&keys, &root, &Spec::version(1));
    let text = String::from_utf8(set.root.clone()).unwrap();
    set.root = text
        .replacen("{\"signed\"", "{\"unsigned\":\"x\",\"signed\"", 1)
        .into_bytes();
    mock.serve(&set);
    let err = Victim::new(&mock).refused().await;
    assert!(
        matches!(err, Error::MalformedMetadata { ref role, .. } if role == "root"),
        "{err}"
    );
}

#[tokio::test]
async fn gun_path_traversal() {
    let mock = Mock::in_memory();
    let victim = Victim::new(&mock);
    for gun in ["../../x", "a/../../x", "/etc/x", "a\\b"] {
        let err = victim.client.repository(gun).unwrap_err();
        assert!(
            matches!(err, Error::Key(ref e) if matches!(**e, keymgmt::Error::InvalidGun { .. })),
            "{gun}: {err}"
        );
    }
    assert!(victim.cache().is_empty());
}

#[tokio::test]
async fn delegation_signing_outside_its_paths() {
    let keys = Keys::new();
    let mock = Mock::start().await;
    let root = sign_root(&keys, &root_meta(&keys, 1, &future()));
    let spec = with_releases_delegation(
        &[("release-1", &b"ok"[..]), ("evil", b"evil")],
        &["release-"],
    );
    mock.serve(&publication(&keys, &root, &spec));
    let victim = Victim::new(&mock);
    let state = victim.update().await.unwrap();
    // The delegation is skipped as a whole (spec step 3), and says why.
    assert!(state.role("targets/releases").is_none());
    assert_eq!(state.skipped.len(), 1);
    let (skipped_role, error) = &state.skipped[0];
    assert_eq!(skipped_role, "targets/releases");
    assert!(
        matches!(
            &**error,
            Error::DelegationPathViolation { role, target, paths }
                if role == "targets/releases" && target == "evil" && paths == &["release-"]
        ),
        "{error:?}"
    );
    assert_eq!(error.blame(), notary_client::Blame::Peer);
    let repo = victim.client.repository(GUN).unwrap();
    assert!(matches!(
        repo.lookup("evil").await,
        Err(Error::TargetNotFound { .. })
    ));
    assert_eq!(repo.lookup("v1").await.unwrap().role, "targets");
}

#[tokio::test]
async fn a_valid_delegation_wins_in_dockers_order() {
    let keys = Keys::new();
    let mock = Mock::start().await;
    let root = sign_root(&keys, &root_meta(&keys, 1, &future()));
    let spec = with_releases_delegation(&[("v1", &b"released v1"[..])], &[""]);
    mock.serve(&publication(&keys, &root, &spec));
    let repo_client = Victim::new(&mock);
    let found = repo_client
        .client
        .repository(GUN)
        .unwrap()
        .lookup("v1")
        .await
        .unwrap();
    assert_eq!(found.role, "targets/releases");
    assert_eq!(
        found.sha256.unwrap().as_slice(),
        sha2::Sha256::digest(b"released v1").as_slice()
    );
}

#[tokio::test]
async fn tampered_local_root_is_refused_not_trusted() {
    let (keys, mock, victim, root) = trusting_v2().await;
    mock.serve(&publication(&keys, &root, &Spec::version(3)));
    let cached = victim
        .dir
        .path()
        .join("tuf")
        .join(GUN)
        .join("metadata/root.json");
    // A cached root with a role removed, and one edited after signing: both are refused
    // instead of trusted (or panicking).
    let mut rogue = root_meta(&Keys::new(), 1, &future());
    rogue.roles.remove("timestamp");
    std::fs::write(&cached, sign_root(&keys, &rogue)).unwrap();
    // Both read as a problem of the local file, which they name, not as a bad server root.
    let local = |err: &Error| {
        let text = err.to_string();
        text.contains(cached.to_str().unwrap()) && text.contains("local trust dir")
    };
    let err = victim.update().await.unwrap_err();
    assert!(
        matches!(err, Error::CorruptCache { ref role, ref source, .. }
            if role == "root" && matches!(**source, Error::MalformedMetadata { .. })),
        "{err}"
    );
    assert!(local(&err), "{err}");
    let mut edited: serde_json::Value = serde_json::from_slice(&root).unwrap();
    edited["signed"]["version"] = 7.into();
    std::fs::write(&cached, serde_json::to_vec(&edited).unwrap()).unwrap();
    let err = victim.update().await.unwrap_err();
    assert!(
        matches!(err, Error::CorruptCache { ref source, .. } if matches!(**source, Error::BadSignature { .. })),
        "{err}"
    );
    assert!(local(&err), "{err}");
    std::fs::write(&cached, b"\x00garbage").unwrap();
    let err = victim.update().await.unwrap_err();
    assert!(
        matches!(err, Error::CorruptCache { .. }) && local(&err),
        "{err}"
    );
}

#[tokio::test]
async fn pinned_ca_and_pinned_key_ids() {
    // A root certificate issued by a CA (with CN = GUN) instead of self-signed.
    let ca = keymgmt::mtls::CertificateAuthority::generate("root CA").unwrap();
    let issued = ca.issue_server(GUN, &[]).unwrap();
    let mut keys = Keys::new();
    keys.root = keymgmt::keyfile::decode(issued.private_key_pem().as_bytes(), None, None)
        .unwrap()
        .key;
    keys.root_cert = PublicKey::from_certificate_pem(issued.certificate_pem().as_bytes()).unwrap();
    let mock = Mock::in_memory();
    let root = sign_root(&keys, &root_meta(&keys, 1, &future()));
    mock.serve(&publication(&keys, &root, &Spec::version(1)));

    let pinned = |pinning: notary_client::verify::TrustPinning| {
        let victim = Victim::new(&mock);
        let client = victim.client.clone().with_pinning(pinning);
        (victim, client)
    };
    // The issuing CA is pinned for a prefix covering the GUN: accepted.
    let (v, client) = pinned(notary_client::verify::TrustPinning::default().pin_ca(
        "registry.example.com/*",
        ca.certificate_pem().as_bytes().to_vec(),
    ));
    v.update_with(&client).await.unwrap();
    // Another CA: refused.
    let other = keymgmt::mtls::CertificateAuthority::generate("root CA").unwrap();
    let (v, client) = pinned(
        notary_client::verify::TrustPinning::default()
            .pin_ca(GUN, other.certificate_pem().as_bytes().to_vec()),
    );
    let err = v.update_with(&client).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::RootNotPinned {
                failure: PinFailure::NoCertificateFromPinnedCa,
                ..
            }
        ),
        "{err}"
    );
    // Pinned key IDs: the right one passes, another is refused, and TOFU can be turned off.
    let (v, client) = pinned(
        notary_client::verify::TrustPinning::default()
            .pin_cert(GUN, keys.root_cert.key_id().to_string()),
    );
    v.update_with(&client).await.unwrap();
    let (v, client) = pinned(
        notary_client::verify::TrustPinning::default()
            .pin_cert("registry.example.com/*", "0".repeat(64)),
    );
    let root_id = keys.root_cert.key_id().to_string();
    match v.update_with(&client).await {
        Err(Error::RootNotPinned {
            root_keys,
            failure: PinFailure::NoPinnedKey { pinned },
            ..
        }) => {
            assert_eq!(root_keys, [root_id]);
            assert_eq!(pinned, ["0".repeat(64)]);
        }
        other => panic!("expected RootNotPinned, got {other:?}"),
    }
    let no_tofu = notary_client::verify::TrustPinning {
        first_use: notary_client::verify::FirstUse::Refuse,
        ..Default::default()
    };
    let (v, client) = pinned(no_tofu);
    assert!(matches!(
        v.update_with(&client).await,
        Err(Error::RootNotPinned {
            failure: PinFailure::FirstUseRefused,
            ..
        })
    ));
}
