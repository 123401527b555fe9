//! The manifest `hpvs-api` verifies in its doctest and unit tests
//! (`hpvs-api/tests/fixtures/manifest/`), made here by the emulator's packer.

use super::*;

const FIXTURE_BUILD: &str = "fixture";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hpvs-api/tests/fixtures/manifest")
}

/// The inner `.tbz` of the fixture: a fixed tree, a fixed log, mtime 0.
fn fixture_manifest() -> BuildManifest {
    let dir = tempfile::tempdir().unwrap();
    let git = dir.path().join("clone");
    fs::create_dir_all(git.join(".git")).unwrap();
    fs::write(git.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    fs::write(git.join("Dockerfile"), "FROM scratch\n").unwrap();
    BuildManifest::pack(
        FIXTURE_BUILD,
        &ManifestInputs {
            build_json: json!({
                "status": "success",
                "build_name": FIXTURE_BUILD,
                "git_commit": "0123abc",
                "DOCKER_PASSWORD": "hunter2",
            }),
            build_log: "1970-01-01 00:00:00,000  root       INFO    completed a build\n",
            git_dir: &git,
            root_ssh_dir: None,
            mtime: 0,
        },
    )
    .unwrap()
}

/// The committed fixture holds what the packer makes today, signed by its `public.pem`.
#[test]
fn hpvs_apis_fixture_is_what_the_packer_makes() {
    let dir = fixture_dir();
    let sig_tbz = fs::read(dir.join("manifest.fixture.sig.tbz")).unwrap();
    let public = fs::read_to_string(dir.join("public.pem")).unwrap();
    let verified = manifest::verify(&sig_tbz, &public).unwrap();
    let expected = fixture_manifest();
    assert_eq!(
        verified.tbz_sha256_hex,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(expected.tbz())),
        "the packer changed: regenerate with \
         cargo test -p hpvs-sim --test sbs_manifest -- --ignored regenerate"
    );
}

/// Rewrites the fixture with fresh keys.
#[test]
#[ignore = "rewrites hpvs-api/tests/fixtures/manifest"]
fn regenerate_hpvs_apis_fixture() {
    let dir = fixture_dir();
    let signed = fixture_manifest().sign(key()).unwrap();
    fs::write(dir.join("manifest.fixture.sig.tbz"), &signed.sig_tbz).unwrap();
    fs::write(dir.join("public.pem"), key().public_key_pem()).unwrap();
    fs::write(dir.join("other-public.pem"), other_key().public_key_pem()).unwrap();
}
