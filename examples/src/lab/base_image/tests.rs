//! Unit tests of the base image's plan, cache key and cache verification.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn options(cache: &Path) -> BaseImageOptions {
    BaseImageOptions {
        cache_dir: cache.to_owned(),
        platform: Platform::parse("linux/amd64").unwrap(),
        ..BaseImageOptions::default()
    }
}

#[test]
fn timestamps_are_rfc3339_utc() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(DEFAULT_SOURCE_DATE_EPOCH), "2023-06-10T00:00:00Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
}

#[test]
fn the_cache_key_follows_what_changes_the_image_and_not_package_order() {
    let dir = Path::new("/var/tmp/x");
    let base = plan(&options(dir)).unwrap();
    assert!(
        base.entry_name.starts_with("debian-python-bookworm-amd64-"),
        "{}",
        base.entry_name
    );
    let reordered = BaseImageOptions {
        packages: vec!["openssl".into(), "python3".into(), "openssl".into()],
        ..options(dir)
    };
    assert_eq!(plan(&reordered).unwrap().entry_name, base.entry_name);
    for changed in [
        BaseImageOptions {
            packages: vec!["python3".into()],
            ..options(dir)
        },
        BaseImageOptions {
            suite: "trixie".into(),
            ..options(dir)
        },
        BaseImageOptions {
            platform: Platform::parse("linux/s390x").unwrap(),
            ..options(dir)
        },
        BaseImageOptions {
            source_date_epoch: 0,
            ..options(dir)
        },
    ] {
        assert_ne!(plan(&changed).unwrap().entry_name, base.entry_name);
    }
}

#[test]
fn bad_options_are_refused_with_the_value() {
    let dir = Path::new("/var/tmp/x");
    let cases = [
        (
            BaseImageOptions {
                cache_dir: "relative/cache".into(),
                ..options(dir)
            },
            "cache_dir",
        ),
        (
            BaseImageOptions {
                suite: "bookworm; rm -rf /".into(),
                ..options(dir)
            },
            "suite",
        ),
        (
            BaseImageOptions {
                packages: vec!["python3".into(), "--allow-unauthenticated".into()],
                ..options(dir)
            },
            "packages",
        ),
    ];
    for (bad, expected) in cases {
        match plan(&bad) {
            Err(BaseImageError::InvalidOption { option, .. }) => assert_eq!(option, expected),
            other => panic!("{expected}: unexpected {:?}", other.map(|p| p.entry_name)),
        }
    }
    let windows = BaseImageOptions {
        platform: Platform::parse("windows/amd64").unwrap(),
        ..options(dir)
    };
    assert!(matches!(
        plan(&windows),
        Err(BaseImageError::UnsupportedPlatform { platform }) if platform == "windows/amd64"
    ));
}

#[test]
fn debian_architectures_map_from_go_names() {
    for (platform, arch) in [
        ("linux/amd64", "amd64"),
        ("linux/arm64", "arm64"),
        ("linux/s390x", "s390x"),
        ("linux/ppc64le", "ppc64el"),
        ("linux/arm/v7", "armhf"),
    ] {
        assert_eq!(
            debian_architecture(&Platform::parse(platform).unwrap()).unwrap(),
            arch
        );
    }
}

#[test]
fn mmdebstrap_gets_a_reproducible_devless_docless_tarball_command() {
    let opts = options(Path::new("/var/tmp/x"));
    let args = mmdebstrap_args(&opts, &plan(&opts).unwrap(), Path::new("/o/rootfs.tar"));
    for expected in [
        "--mode=root",
        "--variant=apt",
        "--architectures=amd64",
        "--include=openssl,python3",
        "--skip=output/dev",
        "--format=tar",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
    ] {
        assert!(args.iter().any(|a| a == expected), "{expected} in {args:?}");
    }
    assert_eq!(&args[args.len() - 2..], ["bookworm", "/o/rootfs.tar"]);
}

#[test]
fn every_error_formats_in_lower_case_with_its_values() {
    let io = || std::io::Error::other("boom");
    let errors = [
        BaseImageError::MmdebstrapMissing { source: io() },
        BaseImageError::MmdebstrapFailed {
            command: "mmdebstrap x".into(),
            status: "exit status: 1".into(),
            output_tail: "E: no".into(),
        },
        BaseImageError::InvalidOption {
            option: "suite",
            value: "X".into(),
            expected: "a suite",
        },
        BaseImageError::UnsupportedPlatform {
            platform: "linux/mips".into(),
        },
        BaseImageError::Cache {
            action: "create",
            path: "/c".into(),
            source: io(),
        },
        BaseImageError::Image {
            path: "/c/oci".into(),
            source: Box::new(oci_push::Error::InvalidOption {
                option: "x".into(),
                reason: "y".into(),
            }),
        },
        BaseImageError::FreshImageInvalid {
            path: "/c/oci".into(),
            reason: "digest mismatch".into(),
        },
        BaseImageError::TaskFailed,
    ];
    for error in &errors {
        let text = error.to_string();
        assert!(text.starts_with(|c: char| !c.is_uppercase()), "{text}");
        assert!(!text.contains("boom"), "the source is not repeated: {text}");
    }
    assert!(errors[0].to_string().contains("scripts/install-peers.sh"));
    assert!(errors[1].to_string().contains("E: no"));
    assert!(errors[3].to_string().contains("linux/mips"));
}

#[test]
fn a_corrupt_or_foreign_entry_does_not_verify() {
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path());
    let entry = cache.path().join("entry");
    let layout = Layout::create(entry.join("oci")).unwrap();
    let layer = layout
        .write_blob(media_type::OCI_LAYER_TAR, &b"not really a tar"[..])
        .unwrap();
    let config = serde_json::json!({
        "os": "linux", "architecture": "amd64",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest.as_str()]},
    });
    let config = layout
        .write_document(media_type::OCI_CONFIG, config.to_string().as_bytes())
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST,
        "config": {"mediaType": config.media_type, "digest": config.digest.as_str(), "size": config.size},
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest.as_str(), "size": layer.size}],
    });
    let manifest = layout
        .write_document(media_type::OCI_MANIFEST, manifest.to_string().as_bytes())
        .unwrap();
    layout.set_tag("bookworm", &manifest).unwrap();
    let image = verify_entry(&entry, &opts).unwrap();
    assert_eq!(image.digest, manifest.digest);
    assert_eq!(image.blob_bytes, config.size + layer.size);

    let s390x = BaseImageOptions {
        platform: Platform::parse("linux/s390x").unwrap(),
        ..opts.clone()
    };
    let reason = verify_entry(&entry, &s390x).unwrap_err();
    assert!(
        reason.contains("linux/amd64, expected linux/s390x"),
        "{reason}"
    );
    let trixie = BaseImageOptions {
        suite: "trixie".into(),
        ..opts.clone()
    };
    assert!(verify_entry(&entry, &trixie).is_err());

    // Same size, other bytes: caught by the hash, not just the size.
    std::fs::write(layout.blob_path(&layer.digest), b"not really a taR").unwrap();
    let reason = verify_entry(&entry, &opts).unwrap_err();
    assert!(reason.contains(layer.digest.hex()), "{reason}");
}

#[test]
fn a_killed_runs_temporary_is_removed_and_entries_stay() {
    let cache = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cache.path().join(".tmp-abc/oci")).unwrap();
    std::fs::create_dir_all(cache.path().join("debian-python-x")).unwrap();
    remove_stale_temporaries(cache.path()).unwrap();
    assert!(!cache.path().join(".tmp-abc").exists());
    assert!(cache.path().join("debian-python-x").exists());
}
