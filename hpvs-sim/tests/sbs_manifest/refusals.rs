//! Crafted archives and bombs refused by the verifier (`hpvs_api::manifest`, whose unit tests
//! format its refusals), and the catalogue of the errors of making a manifest.

use super::*;

#[test]
fn crafted_outer_archives_are_refused() {
    let fixture = fixture();
    let signed = create(&fixture);
    let (tbz_name, sig_name) = unpack_outer(&fixture.work, &signed.sig_tbz);
    let tbz = fs::read(fixture.work.join(&tbz_name)).unwrap();
    let sig = signed.signature_hex.as_bytes();
    let pem = key().public_key_pem();

    for name in [
        &b"../manifest.x.tbz"[..],
        b"/etc/manifest.x.tbz",
        b"a/../../b",
    ] {
        let crafted = crafted_outer(&[(name, &tbz), (sig_name.as_bytes(), sig)]);
        let err = manifest::verify(&crafted, pem).unwrap_err();
        assert!(
            matches!(&err, Refusal::UnsafeMemberPath { name: got, .. } if got.as_bytes() == name),
            "{err:?}"
        );
    }
    let extra = crafted_outer(&[
        (tbz_name.as_bytes(), &tbz),
        (sig_name.as_bytes(), sig),
        (b"README", b"hi"),
    ]);
    assert!(matches!(
        manifest::verify(&extra, pem),
        Err(Refusal::UnexpectedMember { name }) if name == "README"
    ));
    let twice = crafted_outer(&[(tbz_name.as_bytes(), &tbz), (tbz_name.as_bytes(), &tbz)]);
    assert!(matches!(
        manifest::verify(&twice, pem),
        Err(Refusal::UnexpectedMember { .. })
    ));
    let mixed = crafted_outer(&[(tbz_name.as_bytes(), &tbz), (b"manifest.other.sig", sig)]);
    assert!(matches!(
        manifest::verify(&mixed, pem),
        Err(Refusal::UnexpectedMember { name }) if name == "manifest.other.sig"
    ));
    let alone = crafted_outer(&[(tbz_name.as_bytes(), &tbz)]);
    assert!(matches!(
        manifest::verify(&alone, pem),
        Err(Refusal::MissingMember { expected, .. }) if expected == sig_name
    ));
    for bad_sig in [
        format!("{}\n", signed.signature_hex),
        signed.signature_hex.to_uppercase(),
        "0".repeat(5000),
    ] {
        let crafted = crafted_outer(&[
            (tbz_name.as_bytes(), &tbz),
            (sig_name.as_bytes(), bad_sig.as_bytes()),
        ]);
        assert!(matches!(
            manifest::verify(&crafted, pem),
            Err(Refusal::MalformedSignature { length }) if length == bad_sig.len()
        ));
    }
    let good = crafted_outer(&[(tbz_name.as_bytes(), &tbz), (sig_name.as_bytes(), sig)]);
    manifest::verify(&good, pem).unwrap();
    let mut trailing =
        bzip2(&[good_tar(&tbz_name, &tbz, &sig_name, sig), b"junk".to_vec()].concat());
    assert!(matches!(
        manifest::verify(&trailing, pem),
        Err(Refusal::TrailingData { .. })
    ));
    trailing.truncate(20);
    assert!(matches!(
        manifest::verify(&trailing, pem),
        Err(Refusal::MalformedArchive { .. })
    ));
    assert!(matches!(
        manifest::verify(b"not bzip2 at all", pem),
        Err(Refusal::MalformedArchive { .. })
    ));
}

fn good_tar(tbz_name: &str, tbz: &[u8], sig_name: &str, sig: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in [(tbz_name, tbz), (sig_name, sig)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, data).unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn a_bzip2_bomb_is_refused_by_the_limit() {
    let bomb = bzip2(&vec![0u8; 4 << 20]);
    assert!(bomb.len() < 4096);
    assert!(matches!(
        manifest::verify_with_limit(&bomb, key().public_key_pem(), 1 << 20),
        Err(Refusal::TooLarge { limit, .. }) if limit == 1 << 20
    ));
    let fixture = fixture();
    let signed = create(&fixture);
    assert!(matches!(
        manifest::verify_with_limit(&signed.sig_tbz, key().public_key_pem(), 1024),
        Err(Refusal::TooLarge { .. })
    ));
}

#[test]
fn the_manifest_key_is_redacted_and_every_error_formats() {
    let debug = format!("{:?}", key());
    assert!(
        debug.contains("[redacted]") && !debug.contains("PRIVATE"),
        "{debug}"
    );
    assert!(
        key()
            .public_key_pem()
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );

    let io = || std::io::Error::other("boom");
    let ssc = || ssc_register::Error::InvalidKeyId { key_id: "x".into() };
    let path = PathBuf::from("/tmp/clone");
    let errors = [
        (
            ManifestError::InvalidBuildName {
                name: "a/b".into(),
                reason: "no slash",
            },
            "a/b",
        ),
        (
            ManifestError::BuildJsonNotObject { found: "an array" },
            "an array",
        ),
        (
            ManifestError::MissingDirectory { path: path.clone() },
            "/tmp/clone",
        ),
        (
            ManifestError::UnsupportedFileType { path: path.clone() },
            "/tmp/clone",
        ),
        (
            ManifestError::ChangedDuringSnapshot { path: path.clone() },
            "/tmp/clone",
        ),
        (
            ManifestError::ReadFailed {
                path: path.clone(),
                source: io(),
            },
            "/tmp/clone",
        ),
        (
            ManifestError::ArchiveWrite {
                name: path,
                source: io(),
            },
            "/tmp/clone",
        ),
        (
            ManifestError::Key {
                operation: "generation",
                source: ssc(),
            },
            "generation",
        ),
        (
            ManifestError::TooLarge {
                archive: "x.tbz",
                limit: 7,
            },
            "7 bytes",
        ),
    ];
    for (error, value) in errors {
        let message = error.to_string();
        assert!(message.contains(value), "{message:?} lacks {value:?}");
        assert!(!message.contains("boom"), "{message:?} repeats its source");
        assert!(!message.starts_with(char::is_uppercase), "{message:?}");
    }
}
