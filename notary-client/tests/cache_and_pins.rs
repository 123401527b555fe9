//! The local side of trust: a corrupt cache never drops rollback protection, trust pins hold
//! on every use (cached root, rotation) with Go's precedence, malformed pins are refused, and a
//! file of the wrong shape says which file it is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::*;
use notary_client::verify::{Bootstrap, TrustPinning, check_pinning};

fn cached_file(victim: &Victim, role: &str) -> PathBuf {
    victim
        .dir
        .path()
        .join("tuf")
        .join(GUN)
        .join("metadata")
        .join(format!("{role}.json"))
}

/// Serves a rollback that only the cached version of `role` can catch: everything older, or
/// fresh parents naming an old snapshot or old targets (all validly signed).
fn serve_rollback_of(keys: &Keys, mock: &Mock, root: &[u8], role: &str) {
    let old = publication(keys, root, &Spec::version(1));
    mock.serve(&old);
    match role {
        "snapshot" => mock.put_bytes(
            "timestamp.json",
            &timestamp_for(keys, &old.snapshot, 3, &future()),
        ),
        "targets" => {
            let mut meta = BTreeMap::new();
            meta.insert("root".to_owned(), FileMeta::of_bytes(root));
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
                &timestamp_for(keys, &snapshot, 3, &future()),
            );
        }
        _ => {}
    }
}

#[tokio::test]
async fn a_corrupt_cache_cannot_be_used_to_roll_back() {
    let (keys, mock, victim, root) = trusting_v2().await;
    let roles = ["timestamp", "snapshot", "targets"];
    let good: Vec<Vec<u8>> = roles
        .iter()
        .map(|r| std::fs::read(cached_file(&victim, r)).unwrap())
        .collect();
    let restore = || {
        for (role, bytes) in roles.iter().zip(&good) {
            std::fs::write(cached_file(&victim, role), bytes).unwrap();
        }
    };
    let oversized = vec![b' '; 65 << 20];
    for corrupt in [
        &b"{not json"[..],
        b"",
        b"{\"signed\":{},\"signatures\":[]}",
        &oversized,
    ] {
        // Each role's rollback with that role's cache corrupt, then everything rolled back with
        // the whole cache corrupt (what reading a corrupt entry as "nothing cached" let through).
        for (attack, broken) in [
            ("timestamp", &roles[..1]),
            ("snapshot", &roles[1..2]),
            ("targets", &roles[2..]),
            ("timestamp", &roles[..]),
        ] {
            serve_rollback_of(&keys, &mock, &root, attack);
            for role in broken {
                std::fs::write(cached_file(&victim, role), corrupt).unwrap();
            }
            let err = victim.refused().await;
            let first = broken[0];
            assert!(
                matches!(err, Error::CorruptCache { ref role, ref path, .. }
                    if role == first && *path == cached_file(&victim, first)),
                "{broken:?} {}: {err}",
                corrupt.len()
            );
            assert!(err.to_string().contains("trust delete"), "{err}");
            restore();
            // With the cache intact the same rollback is refused as one.
            let err = victim.refused().await;
            assert!(
                matches!(err, Error::Rollback { ref role, .. } if role == attack),
                "{attack}: {err}"
            );
        }
    }
}

#[tokio::test]
async fn a_file_of_the_wrong_shape_names_the_file_and_what_was_expected() {
    let (_keys, mock, victim, _root) = trusting_v2().await;
    for (body, expected) in [
        (&br#"{"files":[]}"#[..], "expected a signed envelope"),
        (
            br#"{"signed":{"_type":"Timestamp"},"signatures":[]}"#,
            "expected the signed part of a Timestamp file",
        ),
    ] {
        mock.put_bytes("timestamp.json", body);
        let err = victim.refused().await;
        let text = err.to_string();
        assert!(
            matches!(err, Error::MalformedMetadata { ref role, .. } if role == "timestamp"),
            "{err}"
        );
        assert!(
            text.contains(&format!("{}/v2/{GUN}/_trust/tuf/timestamp.json", mock.url))
                && text.contains(expected),
            "{text}"
        );
    }
}

/// A root of version 2 that moves the root role to a new key, signed by the old and new
/// root keys (a legitimate rotation); the other roles' keys stay.
fn rotated_root(keys: &Keys) -> (Vec<u8>, String) {
    let new_key = PrivateKey::generate_ecdsa();
    let new_cert = keymgmt::x509::generate_root_certificate(GUN, &new_key).unwrap();
    let mut root = root_meta(keys, 2, &future());
    let old_id = keys.root_cert.key_id().to_string();
    let new_id = new_cert.key_id().to_string();
    root.keys.remove(&old_id);
    root.keys
        .insert(new_id.clone(), KeyJson::from_public(&new_cert));
    root.roles.insert(
        "root".into(),
        RootRole {
            keyids: vec![new_id.clone()],
            threshold: 1,
        },
    );
    let bytes = metadata::sign(
        &root,
        &[
            SigningKey {
                key: &keys.root,
                key_id: keys.root_cert.key_id(),
            },
            SigningKey {
                key: &new_key,
                key_id: new_cert.key_id(),
            },
        ],
    )
    .unwrap();
    (bytes, new_id)
}

#[tokio::test]
async fn pins_hold_with_a_cached_root_and_after_a_rotation() {
    let (keys, mock, victim, root) = trusting_v2().await;
    mock.serve(&publication(&keys, &root, &Spec::version(3)));
    let right = keys.root_cert.key_id().to_string();
    let victim = &victim;
    let update = |pinning: TrustPinning| {
        let client = victim.client.clone().with_pinning(pinning);
        async move { victim.update_with(&client).await }
    };
    let before = victim.cache();

    // The trust dir holds a root trusted on first use: a pin it fails is still refused.
    let err = update(TrustPinning::default().pin_cert(GUN, "0".repeat(64)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RootNotPinned { .. }), "{err}");
    let other_ca = keymgmt::mtls::CertificateAuthority::generate("other CA").unwrap();
    let err =
        update(TrustPinning::default().pin_ca(GUN, other_ca.certificate_pem().as_bytes().to_vec()))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::RootNotPinned { .. }), "{err}");

    // Pins that cannot be pins are refused, cached root or not.
    for bad in ["zz", "", &"g".repeat(64), &right[..63]] {
        let err = update(TrustPinning::default().pin_cert(GUN, bad))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidPin { ref reason, .. } if reason.contains("64 hex digits")),
            "{bad:?}: {err}"
        );
    }
    for bad in [
        &b""[..],
        b"\n",
        b"not a certificate",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        let err = update(TrustPinning::default().pin_ca(GUN, bad.to_vec()))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidPin { .. }), "{bad:?}: {err}");
    }
    assert_eq!(before, victim.cache(), "a refused pin changed the cache");

    // The right pin passes.
    update(TrustPinning::default().pin_cert(GUN, right.clone()))
        .await
        .unwrap();

    // After a rotation to a new root key, the newest root must pass the pins too.
    let (root2, new_id) = rotated_root(&keys);
    mock.serve(&publication(&keys, &root2, &Spec::version(4)));
    let before = victim.cache();
    let err = update(TrustPinning::default().pin_cert(GUN, right.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RootNotPinned { .. }), "{err}");
    assert_eq!(before, victim.cache());
    // Pinning only the new key refuses the cached root; pinning both follows the rotation,
    // after which the new key alone holds (and the old one alone no longer does).
    let err = update(TrustPinning::default().pin_cert(GUN, new_id.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RootNotPinned { .. }), "{err}");
    let both = TrustPinning::default()
        .pin_cert(GUN, right.clone())
        .pin_cert(GUN, new_id.clone());
    let state = update(both).await.unwrap();
    assert_eq!(state.root.file.signed.version, 2);
    update(TrustPinning::default().pin_cert(GUN, new_id))
        .await
        .unwrap();
    let err = update(TrustPinning::default().pin_cert(GUN, right))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RootNotPinned { .. }), "{err}");
}

/// Go's `trustpinning` precedence: certificate IDs of the exact GUN, else of the longest
/// matching `prefix*`; only then CAs, of the longest GUN prefix; TOFU last, and disabling it
/// only refuses a first root.
#[test]
fn pin_precedence_matches_go() {
    let ca = keymgmt::mtls::CertificateAuthority::generate("root CA").unwrap();
    let other_ca = keymgmt::mtls::CertificateAuthority::generate("root CA").unwrap();
    let issued = ca.issue_server(GUN, &[]).unwrap();
    let mut keys = Keys::new();
    keys.root = keymgmt::keyfile::decode(issued.private_key_pem().as_bytes(), None, None)
        .unwrap()
        .key;
    keys.root_cert = PublicKey::from_certificate_pem(issued.certificate_pem().as_bytes()).unwrap();
    let bytes = sign_root(&keys, &root_meta(&keys, 1, &future()));
    let root = metadata::parse::<Root>("root", metadata::RoleType::Root, &bytes).unwrap();
    let right = keys.root_cert.key_id().to_string();
    let wrong = "0".repeat(64);
    let ca_pem = ca.certificate_pem().as_bytes().to_vec();
    let other_pem = other_ca.certificate_pem().as_bytes().to_vec();
    let pins = TrustPinning::default;
    let accepted = |p: TrustPinning| check_pinning(GUN, &root, &p, Bootstrap::First).is_ok();

    // The exact GUN beats every wildcard.
    assert!(accepted(
        pins()
            .pin_cert("registry.example.com/*", &*wrong)
            .pin_cert(GUN, &*right)
    ));
    assert!(!accepted(
        pins()
            .pin_cert("registry.example.com/*", &*right)
            .pin_cert(GUN, &*wrong)
    ));
    // The longest matching wildcard decides, whatever the order of the entries.
    for (longer, shorter, ok) in [(&right, &wrong, true), (&wrong, &right, false)] {
        assert_eq!(
            accepted(
                pins()
                    .pin_cert("registry.example.com/*", &**shorter)
                    .pin_cert("registry.example.com/attacks/*", &**longer)
            ),
            ok
        );
        assert_eq!(
            accepted(
                pins()
                    .pin_cert("registry.example.com/attacks/*", &**longer)
                    .pin_cert("registry.example.com/*", &**shorter)
            ),
            ok
        );
    }
    // `*` covers every GUN; a pattern without `*` is exact; other prefixes do not apply.
    assert!(!accepted(pins().pin_cert("*", &*wrong)));
    assert!(accepted(
        pins().pin_cert("registry.example.com/attacks", &*wrong)
    ));
    assert!(accepted(pins().pin_cert("other.example.com/*", &*wrong)));
    // Certificate pins come before CA pins, even a CA pin for the exact GUN.
    assert!(!accepted(
        pins()
            .pin_ca(GUN, ca_pem.clone())
            .pin_cert("registry.example.com/*", &*wrong)
    ));
    assert!(accepted(
        pins()
            .pin_ca(GUN, other_pem.clone())
            .pin_cert("registry.example.com/*", &*right)
    ));
    // CA pins are GUN prefixes; the longest decides (a trailing `*` reads as the prefix).
    assert!(accepted(
        pins().pin_ca("registry.example.com/", ca_pem.clone())
    ));
    assert!(accepted(
        pins().pin_ca("registry.example.com/*", ca_pem.clone())
    ));
    assert!(!accepted(
        pins()
            .pin_ca("registry.example.com/", ca_pem.clone())
            .pin_ca("registry.example.com/attacks", other_pem.clone())
    ));
    assert!(accepted(
        pins()
            .pin_ca("registry.example.com/attacks", ca_pem.clone())
            .pin_ca("registry.example.com/", other_pem.clone())
    ));
    // A bundle: any of its CAs will do.
    let bundle = [other_pem.clone(), ca_pem.clone()].concat();
    assert!(accepted(pins().pin_ca(GUN, bundle)));
    // No pin covers it: TOFU, unless disabled for a first root (a cached one stays trusted).
    let no_tofu = TrustPinning {
        first_use: notary_client::verify::FirstUse::Refuse,
        ..pins().pin_cert("other.example.com/*", &*wrong)
    };
    assert!(matches!(
        check_pinning(GUN, &root, &no_tofu, Bootstrap::First),
        Err(Error::RootNotPinned { .. })
    ));
    check_pinning(GUN, &root, &no_tofu, Bootstrap::FromTrusted).unwrap();
}
