//! Verify before use: a hostile server cannot make the client fetch (or hold) what unverified
//! or over-limit metadata names. The tampering server counts every byte it sends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use base64::Engine as _;
use harness::*;
use notary_client::limits::Limits;

/// What the hostile server claims and streams: 700,000,000 bytes.
const FORGED_LENGTH: u64 = 700_000_000;

/// The meta of a [`FORGED_LENGTH`]-byte body of spaces (what [`Body::Stream`] sends) and the
/// hex sha256 under which the client would ask for it.
fn forged_meta() -> (FileMeta, String) {
    static DIGEST: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let digest = DIGEST.get_or_init(|| {
        let chunk = vec![b' '; 1 << 20];
        let mut hasher = sha2::Sha256::new();
        let mut left = FORGED_LENGTH;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            hasher.update(&chunk[..n]);
            left -= n as u64;
        }
        hasher.finalize().into()
    });
    let mut hashes = BTreeMap::new();
    hashes.insert(
        "sha256".to_owned(),
        base64::engine::general_purpose::STANDARD.encode(digest),
    );
    let meta = FileMeta {
        hashes,
        length: FORGED_LENGTH as i64,
        custom: None,
    };
    (meta, hex::encode(digest))
}

fn signed_part<T: serde::de::DeserializeOwned>(file: &[u8]) -> T {
    let value: serde_json::Value = serde_json::from_slice(file).unwrap();
    serde_json::from_value(value["signed"].clone()).unwrap()
}

/// Re-signs the snapshot of `set` (by the snapshot key, as a server managing it can) after
/// `edit`, with a timestamp for it.
fn resign_snapshot(keys: &Keys, set: &mut FileSet, edit: impl FnOnce(&mut MetaFile)) {
    let mut snapshot: MetaFile = signed_part(&set.snapshot);
    edit(&mut snapshot);
    set.snapshot = metadata::sign(&snapshot, &[signer(&keys.snapshot)]).unwrap();
    set.timestamp = timestamp_for(keys, &set.snapshot, snapshot.version, &future());
}

/// The attack: `timestamp.json` rewritten to name a 700,000,000-byte snapshot (and its
/// hash), its signature left as it was, the server streaming that many bytes. The timestamp is
/// verified before its snapshot entry is used: the snapshot is never asked for.
#[tokio::test]
async fn forged_snapshot_length_is_refused_before_the_snapshot_is_fetched() {
    let (keys, mock, victim, root) = trusting_v2_over_http().await;
    let v3 = publication(&keys, &root, &Spec::version(3));
    mock.serve(&v3);
    let (meta, hex) = forged_meta();
    let mut timestamp: serde_json::Value = serde_json::from_slice(&v3.timestamp).unwrap();
    timestamp["signed"]["meta"]["snapshot"] = serde_json::to_value(&meta).unwrap();
    mock.put_bytes("timestamp.json", &serde_json::to_vec(&timestamp).unwrap());
    mock.put(&format!("snapshot.{hex}.json"), Body::Stream(FORGED_LENGTH));
    mock.reset_counts();

    let err = victim.refused().await;
    assert!(
        matches!(err, Error::BadSignature { ref role, .. } if role == "timestamp"),
        "{err}"
    );
    assert!(
        !mock.asked_for("snapshot."),
        "the forged snapshot was fetched"
    );
    let sent = mock.sent();
    assert!(
        sent < Limits::default().max_timestamp_size,
        "the hostile server sent {sent} bytes"
    );
}

/// A snapshot not signed by the snapshot key names a 700,000,000-byte root: the root rotation
/// is walked from verified data only, so that root is never asked for.
#[tokio::test]
async fn unverified_snapshot_cannot_start_a_root_rotation() {
    let (keys, mock, victim, root) = trusting_v2_over_http().await;
    let mut v3 = publication(&keys, &root, &Spec::version(3));
    let (meta, hex) = forged_meta();
    let mut snapshot: MetaFile = signed_part(&v3.snapshot);
    snapshot.meta.insert("root".to_owned(), meta);
    // Signed by the targets key, which root does not list for snapshot.
    v3.snapshot = metadata::sign(&snapshot, &[signer(&keys.targets)]).unwrap();
    v3.timestamp = timestamp_for(&keys, &v3.snapshot, 3, &future());
    mock.serve(&v3);
    mock.put(&format!("root.{hex}.json"), Body::Stream(FORGED_LENGTH));
    mock.reset_counts();

    let err = victim.refused().await;
    assert!(
        matches!(err, Error::SignatureKeyNotInRole { ref role, .. } if role == "snapshot"),
        "{err}"
    );
    assert!(
        !mock.asked_for(&format!("root.{hex}")),
        "the forged root was fetched"
    );
    let sent = mock.sent();
    assert!(
        sent < Limits::default().max_timestamp_size,
        "the hostile server sent {sent} bytes"
    );
}

/// notary-server holds the timestamp key (and often the snapshot key), so a hostile server can
/// sign any length: each by-meta download is bounded by the limit of its kind as well, and a
/// length over it is refused before the request.
#[tokio::test]
async fn signed_lengths_over_the_limits_are_refused_before_the_request() {
    let (keys, mock, victim, root) = trusting_v2_over_http().await;
    let (meta, hex) = forged_meta();

    // The snapshot, named by a validly signed timestamp.
    let mut v3 = publication(&keys, &root, &Spec::version(3));
    let mut timestamp: MetaFile = signed_part(&v3.timestamp);
    timestamp.meta.insert("snapshot".to_owned(), meta.clone());
    v3.timestamp = metadata::sign(&timestamp, &[signer(&keys.timestamp)]).unwrap();
    mock.serve(&v3);
    mock.put(&format!("snapshot.{hex}.json"), Body::Stream(FORGED_LENGTH));
    mock.reset_counts();
    let err = victim.refused().await;
    assert!(
        matches!(
            err,
            Error::LengthOverLimit { ref role, length, limit, .. }
                if role == "snapshot" && length == FORGED_LENGTH as i64 && limit == 16 << 20
        ),
        "{err}"
    );
    assert!(!mock.asked_for(&format!("snapshot.{hex}")));
    assert!(mock.sent() < Limits::default().max_timestamp_size);

    // Top-level targets, named by a validly signed snapshot.
    let mut v3 = publication(&keys, &root, &Spec::version(3));
    resign_snapshot(&keys, &mut v3, |s| {
        s.meta.insert("targets".to_owned(), meta.clone());
    });
    mock.serve(&v3);
    mock.put(&format!("targets.{hex}.json"), Body::Stream(FORGED_LENGTH));
    mock.reset_counts();
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::LengthOverLimit { ref role, field, .. } if role == "targets" && field == "max_targets_size"),
        "{err}"
    );
    assert!(!mock.asked_for(&format!("targets.{hex}")));
    assert!(mock.sent() < Limits::default().max_timestamp_size);
}

#[tokio::test]
async fn an_over_limit_delegation_is_skipped_without_being_fetched() {
    let keys = Keys::new();
    let mock = Mock::start().await;
    let root = sign_root(&keys, &root_meta(&keys, 1, &future()));
    let spec = with_releases_delegation(&[("v1", &b"released v1"[..])], &[""]);
    let mut set = publication(&keys, &root, &spec);
    let (meta, hex) = forged_meta();
    resign_snapshot(&keys, &mut set, |s| {
        s.meta.insert("targets/releases".to_owned(), meta.clone());
    });
    mock.serve(&set);
    mock.put(
        &format!("targets/releases.{hex}.json"),
        Body::Stream(FORGED_LENGTH),
    );
    mock.reset_counts();
    let victim = Victim::new(&mock);
    let state = victim.update().await.unwrap();
    assert!(state.role("targets/releases").is_none());
    assert_eq!(state.skipped.len(), 1, "{:?}", state.skipped);
    let (role, error) = &state.skipped[0];
    assert_eq!(role, "targets/releases");
    assert!(
        matches!(
            &**error,
            notary_client::Error::LengthOverLimit { role, parent, limit: 67_108_864, .. }
                if role == "targets/releases" && parent == "snapshot"
        ),
        "{error:?}"
    );
    assert!(!mock.asked_for("targets/releases."));
    assert!(mock.sent() < Limits::default().max_timestamp_size);
    // The delegation's tag is not resolved; targets' own is.
    let repo = victim.client.repository(GUN).unwrap();
    assert_eq!(repo.lookup("v1").await.unwrap().role, "targets");
}

/// The limits are the client's: smaller ones refuse what the defaults accept.
#[tokio::test]
async fn limits_are_set_on_the_client() {
    let keys = Keys::new();
    let mock = Mock::in_memory();
    let root1 = sign_root(&keys, &root_meta(&keys, 1, &future()));
    mock.serve(&publication(&keys, &root1, &Spec::version(1)));

    let mut victim = Victim::new(&mock);
    victim.client = victim.client.clone().with_limits(Limits {
        max_snapshot_size: 100,
        ..Limits::default()
    });
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::LengthOverLimit { ref role, limit: 100, .. } if role == "snapshot"),
        "{err}"
    );
    victim.client = victim.client.clone().with_limits(Limits {
        max_timestamp_size: 100,
        ..Limits::default()
    });
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::TooLarge { ref role, limit: 100 } if role == "timestamp"),
        "{err}"
    );
    victim.client = victim.client.clone().with_limits(Limits {
        max_root_size: 100,
        ..Limits::default()
    });
    let err = victim.refused().await;
    assert!(
        matches!(err, Error::TooLarge { ref role, limit: 100 } if role == "root"),
        "{err}"
    );

    // With the defaults it verifies; then a two-version rotation meets a limit of one.
    victim.client = victim.client.clone().with_limits(Limits::default());
    victim.update().await.unwrap();
    let root2 = sign_root(&keys, &root_meta(&keys, 2, &future()));
    let root3 = sign_root(&keys, &root_meta(&keys, 3, &future()));
    mock.serve(&publication(&keys, &root3, &Spec::version(2)));
    mock.put_bytes("2.root.json", &root2);
    victim.client = victim.client.clone().with_limits(Limits {
        max_root_rotations: 1,
        ..Limits::default()
    });
    let err = victim.refused().await;
    assert!(
        matches!(
            err,
            Error::TooManyRootRotations {
                trusted: 1,
                newest: 3,
                limit: 1
            }
        ),
        "{err}"
    );
    victim.client = victim.client.clone().with_limits(Limits::default());
    let state = victim.update().await.unwrap();
    assert_eq!(state.root.file.signed.version, 3);
}

/// Files the verified snapshot records with the hashes of the cached ones are not fetched
/// again (as Go does); a changed one is, and a cache edited behind the client's back is not
/// trusted for it.
#[tokio::test]
async fn unchanged_files_come_from_the_cache() {
    let (keys, mock, victim, root) = trusting_v2().await;
    mock.reset_counts();
    victim.update().await.unwrap();
    assert_eq!(mock.memory.requests(), ["timestamp.json"]);

    let next = publication(&keys, &root, &Spec::version(3));
    mock.serve(&next);
    mock.reset_counts();
    victim.update().await.unwrap();
    assert_eq!(
        mock.memory.requests(),
        [
            "timestamp.json".to_owned(),
            format!("snapshot.{}.json", sha(&next.snapshot)),
            format!("targets.{}.json", sha(&next.targets)),
        ]
    );

    let cached_targets = victim
        .dir
        .path()
        .join("tuf")
        .join(GUN)
        .join("metadata/targets.json");
    let mut edited = next.targets.clone();
    edited.push(b' ');
    std::fs::write(&cached_targets, edited).unwrap();
    mock.reset_counts();
    let state = victim.update().await.unwrap();
    assert!(mock.asked_for("targets."));
    assert_eq!(std::fs::read(&cached_targets).unwrap(), next.targets);
    assert_eq!(state.role("targets").unwrap().bytes, next.targets);
}
