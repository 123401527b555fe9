//! Host-mounted quota volumes (the Secure Build Server's storage) against real loop devices:
//! data survives an unmount and a new mount on the same quotagroup and mount ID, `reset_root`
//! empties it, and writing past its size fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;

use hpvs_sim::runtime::{Filesystem, QuotaMount, Runtime};

fn data_mount(reset_root: bool) -> QuotaMount {
    QuotaMount {
        mount_id: "data".parse().unwrap(),
        mount: "/data".into(),
        filesystem: Filesystem::Ext4,
        size: 16 << 20,
        reset_root,
    }
}

#[test]
fn a_host_volume_keeps_its_data_until_reset_and_is_full_at_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(&dir.path().join("state")).unwrap();
    let id = "data".parse().unwrap();

    let point = runtime
        .mount_host_volume("sb_user00", &data_mount(false))
        .unwrap();
    std::fs::write(point.join("keys.json"), "kept").unwrap();
    runtime.unmount_host_volume("sb_user00", &id).unwrap();
    assert!(
        !point.join("keys.json").exists(),
        "still mounted after unmount"
    );

    let again = runtime
        .mount_host_volume("sb_user00", &data_mount(false))
        .unwrap();
    assert_eq!(again, point);
    assert_eq!(
        std::fs::read_to_string(point.join("keys.json")).unwrap(),
        "kept"
    );

    // Past its size: no space left.
    let mut fill = std::fs::File::create(point.join("fill")).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let full = (0..64).find_map(|_| fill.write_all(&chunk).err());
    let full = full
        .or_else(|| fill.sync_all().err())
        .expect("wrote 64 MiB into 16 MiB");
    assert_eq!(full.raw_os_error(), Some(28), "{full}");
    drop(fill);
    runtime.unmount_host_volume("sb_user00", &id).unwrap();

    // reset_root formats it anew.
    let reset = runtime
        .mount_host_volume("sb_user00", &data_mount(true))
        .unwrap();
    assert!(!reset.join("keys.json").exists());
    runtime.unmount_all_host_volumes().unwrap();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(dir.path().to_str().unwrap()), "{mounts}");
    assert!(
        runtime
            .mount_host_volume("../x", &data_mount(false))
            .is_err()
    );
}
