//! The SBS build manifest against the lab's own tools: the real `openssl`, `tar` and `bzip2`
//! verify what we sign, tampering is refused by both, archives are reproducible, secrets and
//! files outside the source tree stay out, crafted archives are refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use base64::Engine as _;
use hpvs_api::manifest::ManifestError as Refusal;
use hpvs_sim::sbs::manifest::{
    self, BuildManifest, ManifestError, ManifestInputs, ManifestKey, SignedManifest,
};
use serde_json::{Value, json};

const BUILD: &str = "docker.io.me.wallet.latest-0123abc.2024-05-01_10-20-30.123456";
const OUTSIDE_SECRET: &str = "OUTSIDE-THE-TREE-4f1c";

fn key() -> &'static ManifestKey {
    static KEY: OnceLock<ManifestKey> = OnceLock::new();
    KEY.get_or_init(|| ManifestKey::generate().unwrap())
}

fn other_key() -> &'static ManifestKey {
    static KEY: OnceLock<ManifestKey> = OnceLock::new();
    KEY.get_or_init(|| ManifestKey::generate().unwrap())
}

/// A cloned tree: `.git`, files, an executable, a path over 100 bytes (GNU long name), and
/// symlinks inside, to a file outside and to a directory outside.
struct Fixture {
    _dir: tempfile::TempDir,
    git: PathBuf,
    work: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let git = dir.path().join("clone");
    let outside = dir.path().join("outside");
    fs::create_dir_all(git.join(".git/refs/heads")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret.txt"), OUTSIDE_SECRET).unwrap();
    fs::write(git.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    fs::write(git.join(".git/refs/heads/main"), "0123abc\n").unwrap();
    fs::write(git.join("Dockerfile"), "FROM scratch\nCOPY app /app\n").unwrap();
    fs::write(git.join("build.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(git.join("build.sh"), fs::Permissions::from_mode(0o700)).unwrap();
    let deep = git.join("src").join("a".repeat(60)).join("b".repeat(60));
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("main.rs"), "fn main() {}\n").unwrap();
    symlink("Dockerfile", git.join("link-inside")).unwrap();
    symlink(outside.join("secret.txt"), git.join("link-outside")).unwrap();
    symlink(&outside, git.join("link-outside-dir")).unwrap();
    let work = dir.path().join("work");
    fs::create_dir(&work).unwrap();
    Fixture {
        _dir: dir,
        git,
        work,
    }
}

fn build_json() -> Value {
    json!({
        "status": "success",
        "build_name": BUILD,
        "manifest_key_gen": "soft_crypto",
        "manifest_public_key": format!("manifest.{BUILD}-public.pem"),
        "GITHUB_URL": "git@github.com:me/wallet.git",
        "GITHUB_KEY": "-----BEGIN OPENSSH PRIVATE KEY-----hunter2",
        "DOCKER_PASSWORD": "hunter2",
        "DOCKER_RO_PASSWORD": "hunter2",
        "SECRET": "aHVudGVyMg==",
        "NEW_SECRET": "aHVudGVyMg==",
        "ISV_SECRET": {"k": "hunter2"},
        "ARG": {"VERSION": "1.0", "api_key": "hunter2"},
        "ENV_WHITELIST": ["API_KEY"],
    })
}

fn inputs(fixture: &Fixture) -> ManifestInputs<'_> {
    ManifestInputs {
        build_json: build_json(),
        build_log: "2024-05-01 10:20:30,123  root       INFO    completed a build\n",
        git_dir: &fixture.git,
        root_ssh_dir: None,
        mtime: 0,
    }
}

fn create(fixture: &Fixture) -> SignedManifest {
    BuildManifest::create(BUILD, &inputs(fixture), key()).unwrap()
}

fn run(dir: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed (scripts/install-peers.sh): {e}"))
}

fn run_ok(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = run(dir, program, args);
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Unpacks `sig_tbz` with the real `tar -xjf` into `dir`: the `.tbz` and `.sig` paths.
fn unpack_outer(dir: &Path, sig_tbz: &[u8]) -> (String, String) {
    let file = format!("manifest.{BUILD}.sig.tbz");
    fs::write(dir.join(&file), sig_tbz).unwrap();
    run_ok(dir, "tar", &["-xjf", &file]);
    (
        format!("manifest.{BUILD}.tbz"),
        format!("manifest.{BUILD}.sig"),
    )
}

/// The lab's three commands (`xxd -r -p`, then `openssl dgst` twice); the hex is also decoded
/// here and compared with xxd's bytes. Returns openssl's output of the last command.
fn lab_verify(dir: &Path, tbz: &str, sig: &str, public_pem: &str) -> Output {
    let hex_text = fs::read_to_string(dir.join(sig)).unwrap();
    let script = format!("xxd -r -p < {sig} > sig.bin");
    run_ok(dir, "sh", &["-c", &script]);
    if hex_text.bytes().all(|b| b.is_ascii_hexdigit()) {
        assert_eq!(
            fs::read(dir.join("sig.bin")).unwrap(),
            hex::decode(hex_text.trim()).unwrap()
        );
    }
    fs::write(dir.join("pub.pem"), public_pem).unwrap();
    run_ok(
        dir,
        "openssl",
        &["dgst", "-sha256", "-binary", "-out", "tbz.sha256", tbz],
    );
    run(
        dir,
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "sig.bin",
            "tbz.sha256",
        ],
    )
}

/// Packs `files` of `dir` with the real `tar -cjf` into a `.sig.tbz`.
fn repack_outer(dir: &Path, files: &[&str]) -> Vec<u8> {
    let mut args = vec!["-cjf", "repacked.sig.tbz"];
    args.extend_from_slice(files);
    run_ok(dir, "tar", &args);
    fs::read(dir.join("repacked.sig.tbz")).unwrap()
}

fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A `.sig.tbz` whose members have exactly these raw names (no path checks).
fn crafted_outer(members: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    bzip2(&builder.into_inner().unwrap())
}

#[test]
fn the_labs_openssl_commands_verify_the_manifest() {
    let fixture = fixture();
    let signed = create(&fixture);
    let dir = &fixture.work;
    let (tbz, sig) = unpack_outer(dir, &signed.sig_tbz);
    assert_eq!(
        run_ok(dir, "tar", &["-tjf", &format!("{}.sig.tbz", signed.name)]),
        format!("{tbz}\n{sig}\n")
    );
    let sig_text = fs::read_to_string(dir.join(&sig)).unwrap();
    assert_eq!(sig_text, signed.signature_hex);
    assert_eq!(sig_text.len(), 512, "rsa-2048, lower-case hex, no newline");
    assert!(
        sig_text
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    );

    let output = lab_verify(dir, &tbz, &sig, key().public_key_pem());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Verified OK\n");
    assert!(output.status.success());
    let digest = fs::read(dir.join("tbz.sha256")).unwrap();
    assert_eq!(hex::encode(digest), signed.tbz_sha256_hex);

    let listing = run_ok(dir, "tar", &["-tjf", &tbz]);
    let names: Vec<&str> = listing.lines().collect();
    let long = format!("git/src/{}/{}/main.rs", "a".repeat(60), "b".repeat(60));
    for expected in [
        "data/build.json",
        "data/build.log",
        "git/",
        "git/.git/HEAD",
        "git/.git/refs/heads/main",
        "git/Dockerfile",
        "git/link-outside",
        &long,
        "root_ssh/",
    ] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "entries are sorted");
    assert_eq!(names.last(), Some(&"root_ssh/"));

    let verified = manifest::verify(&signed.sig_tbz, key().public_key_pem()).unwrap();
    assert_eq!(verified.name, format!("manifest.{BUILD}"));
    assert_eq!(verified.files, names);
    assert_eq!(verified.tbz_sha256_hex, signed.tbz_sha256_hex);
    assert_eq!(verified.build_json["status"], "success");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(signed.encoded())
            .unwrap(),
        signed.sig_tbz
    );
    let verbose = run_ok(dir, "tar", &["-tvjf", &tbz]);
    let line = |name: &str| {
        let found = verbose.lines().find(|line| line.ends_with(name));
        found
            .unwrap_or_else(|| panic!("{name} not in {verbose}"))
            .to_owned()
    };
    assert!(
        line("git/build.sh").starts_with("-rwxr-xr-x 0/0 "),
        "{verbose}"
    );
    assert!(
        line("git/Dockerfile").starts_with("-rw-r--r-- 0/0 "),
        "{verbose}"
    );
    assert!(
        line("git/.git/").starts_with("drwxr-xr-x 0/0 "),
        "{verbose}"
    );
}

#[test]
fn a_flipped_byte_in_the_tbz_is_refused_by_verify_and_openssl() {
    let fixture = fixture();
    let signed = create(&fixture);
    let dir = &fixture.work;
    let (tbz, sig) = unpack_outer(dir, &signed.sig_tbz);
    let mut bytes = fs::read(dir.join(&tbz)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(dir.join(&tbz), &bytes).unwrap();

    let output = lab_verify(dir, &tbz, &sig, key().public_key_pem());
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Verification failure\n"
    );
    let repacked = repack_outer(dir, &[&tbz, &sig]);
    let err = manifest::verify(&repacked, key().public_key_pem()).unwrap_err();
    assert!(
        matches!(&err, Refusal::SignatureMismatch { tbz_sha256 } if *tbz_sha256 != signed.tbz_sha256_hex),
        "{err:?}"
    );
}

#[test]
fn a_flipped_byte_in_the_sig_is_refused_by_verify_and_openssl() {
    let fixture = fixture();
    let signed = create(&fixture);
    let dir = &fixture.work;
    let (tbz, sig) = unpack_outer(dir, &signed.sig_tbz);
    let mut text = fs::read(dir.join(&sig)).unwrap();
    text[10] = if text[10] == b'0' { b'1' } else { b'0' };
    fs::write(dir.join(&sig), &text).unwrap();

    let output = lab_verify(dir, &tbz, &sig, key().public_key_pem());
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Verification failure\n"
    );
    let repacked = repack_outer(dir, &[&tbz, &sig]);
    assert!(matches!(
        manifest::verify(&repacked, key().public_key_pem()),
        Err(Refusal::SignatureMismatch { .. })
    ));
    // A GNU-tar-made archive of the untouched files verifies: only the bytes matter.
    fs::write(dir.join(&sig), &signed.signature_hex).unwrap();
    let repacked = repack_outer(dir, &[&sig, &tbz]);
    manifest::verify(&repacked, key().public_key_pem()).unwrap();
}

#[test]
fn another_key_is_refused() {
    let fixture = fixture();
    let signed = create(&fixture);
    assert!(matches!(
        manifest::verify(&signed.sig_tbz, other_key().public_key_pem()),
        Err(Refusal::SignatureMismatch { tbz_sha256 }) if tbz_sha256 == signed.tbz_sha256_hex
    ));
    assert!(matches!(
        manifest::verify(&signed.sig_tbz, "not a pem"),
        Err(Refusal::Key {
            operation: "public key parsing",
            ..
        })
    ));
}

#[test]
fn the_same_inputs_give_identical_bytes() {
    let fixture = fixture();
    let first = create(&fixture);
    let second = create(&fixture);
    assert_eq!(first, second);
    let later = BuildManifest::create(
        BUILD,
        &ManifestInputs {
            mtime: 1_714_558_830,
            ..inputs(&fixture)
        },
        key(),
    )
    .unwrap();
    assert_ne!(later.tbz_sha256_hex, first.tbz_sha256_hex);
    let listing = {
        let (tbz, _) = unpack_outer(&fixture.work, &later.sig_tbz);
        run_ok(&fixture.work, "tar", &["--utc", "-tvjf", &tbz])
    };
    assert!(listing.contains("2024-05-01 10:20"), "{listing}");
}

#[test]
fn secrets_are_stripped_from_build_json() {
    let fixture = fixture();
    let signed = create(&fixture);
    let verified = manifest::verify(&signed.sig_tbz, key().public_key_pem()).unwrap();
    let record = &verified.build_json;
    for secret in [
        "GITHUB_KEY",
        "DOCKER_PASSWORD",
        "DOCKER_RO_PASSWORD",
        "SECRET",
        "NEW_SECRET",
        "ISV_SECRET",
    ] {
        assert!(record.get(secret).is_none(), "{secret} kept");
    }
    assert!(record["ARG"].get("api_key").is_none());
    assert_eq!(record["ARG"]["VERSION"], "1.0");
    assert_eq!(record["manifest_key_gen"], "soft_crypto");
    assert_eq!(
        record["manifest_public_key"],
        build_json()["manifest_public_key"]
    );
    assert_eq!(
        record["ENV_WHITELIST"],
        json!(["API_KEY"]),
        "values are kept"
    );

    let (tbz, _) = unpack_outer(&fixture.work, &signed.sig_tbz);
    let tar = run_ok(&fixture.work, "bzip2", &["-dc", &tbz]);
    assert!(!tar.contains("hunter2") && !tar.contains("aHVudGVyMg=="));

    let mut value = build_json();
    assert_eq!(
        manifest::strip_secrets(&mut value),
        [
            "ARG.api_key",
            "DOCKER_PASSWORD",
            "DOCKER_RO_PASSWORD",
            "GITHUB_KEY",
            "ISV_SECRET",
            "NEW_SECRET",
            "SECRET"
        ]
    );
    let mut nested = json!({"LIST": [{"Token_Key": 1, "name": "x"}], "keyid": "abc"});
    assert_eq!(
        manifest::strip_secrets(&mut nested),
        ["LIST[0].Token_Key", "keyid"]
    );
    assert_eq!(nested, json!({"LIST": [{"name": "x"}]}));
    assert!(manifest::is_secret_field("docker_password"));
    assert!(!manifest::is_secret_field("manifest_public_key"));
    assert!(!manifest::is_secret_field("GITHUB_URL"));
}

#[test]
fn symlinks_stay_symlinks_and_nothing_outside_the_tree_leaks() {
    let fixture = fixture();
    let signed = create(&fixture);
    let dir = &fixture.work;
    let (tbz, _) = unpack_outer(dir, &signed.sig_tbz);
    let raw = run_ok(dir, "bzip2", &["-dc", &tbz]);
    assert!(
        !raw.contains(OUTSIDE_SECRET),
        "a file outside the tree leaked"
    );

    let verbose = run_ok(dir, "tar", &["-tvjf", &tbz]);
    assert!(
        verbose.contains("git/link-inside -> Dockerfile"),
        "{verbose}"
    );
    assert!(verbose.contains("git/link-outside -> /"), "{verbose}");
    let listing = run_ok(dir, "tar", &["-tjf", &tbz]);
    assert!(!listing.contains("link-outside-dir/"), "{listing}");

    let out = dir.join("extracted");
    fs::create_dir(&out).unwrap();
    run_ok(&out, "tar", &["-xjf", &format!("../{tbz}")]);
    for link in [
        "git/link-inside",
        "git/link-outside",
        "git/link-outside-dir",
    ] {
        assert!(
            fs::symlink_metadata(out.join(link)).unwrap().is_symlink(),
            "{link}"
        );
    }
    assert_eq!(
        fs::read_to_string(out.join("git/Dockerfile")).unwrap(),
        "FROM scratch\nCOPY app /app\n"
    );
    assert!(fs::read_dir(out.join("root_ssh")).unwrap().next().is_none());
}

#[test]
fn a_root_ssh_dir_is_snapshotted_when_given() {
    let fixture = fixture();
    let ssh = fixture.work.join("ssh");
    fs::create_dir(&ssh).unwrap();
    fs::write(ssh.join("authorized_keys"), "ssh-ed25519 AAAA me\n").unwrap();
    let signed = BuildManifest::create(
        BUILD,
        &ManifestInputs {
            root_ssh_dir: Some(&ssh),
            ..inputs(&fixture)
        },
        key(),
    )
    .unwrap();
    let verified = manifest::verify(&signed.sig_tbz, key().public_key_pem()).unwrap();
    let tail: Vec<&str> = verified
        .files
        .iter()
        .rev()
        .take(2)
        .map(String::as_str)
        .collect();
    assert_eq!(tail, ["root_ssh/authorized_keys", "root_ssh/"]);
}

#[test]
fn missing_directories_and_bad_inputs_are_named() {
    let fixture = fixture();
    let gone = fixture.work.join("gone");
    let err = BuildManifest::create(
        BUILD,
        &ManifestInputs {
            git_dir: &gone,
            ..inputs(&fixture)
        },
        key(),
    )
    .unwrap_err();
    assert!(matches!(&err, ManifestError::MissingDirectory { path } if *path == gone));
    assert!(err.to_string().contains(&gone.display().to_string()));

    let file = fixture.git.join("Dockerfile");
    assert!(matches!(
        BuildManifest::pack(BUILD, &ManifestInputs { git_dir: &file, ..inputs(&fixture) }),
        Err(ManifestError::MissingDirectory { path }) if path == file
    ));
    assert!(matches!(
        BuildManifest::pack(
            BUILD,
            &ManifestInputs {
                git_dir: &fixture.git.join("link-outside-dir"),
                ..inputs(&fixture)
            }
        ),
        Err(ManifestError::MissingDirectory { .. })
    ));
    for bad in ["", "a/b", "../x", ".hidden", "a b", "x\n"] {
        assert!(
            matches!(
                BuildManifest::pack(bad, &inputs(&fixture)),
                Err(ManifestError::InvalidBuildName { name, .. }) if name == bad
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        BuildManifest::pack(
            BUILD,
            &ManifestInputs {
                build_json: json!(["x"]),
                ..inputs(&fixture)
            }
        ),
        Err(ManifestError::BuildJsonNotObject { found: "an array" })
    ));
    let fifo = fixture.git.join("pipe");
    run_ok(&fixture.work, "mkfifo", &[fifo.to_str().unwrap()]);
    assert!(matches!(
        BuildManifest::pack(BUILD, &inputs(&fixture)),
        Err(ManifestError::UnsupportedFileType { path }) if path == fifo
    ));
}

#[path = "sbs_manifest/refusals.rs"]
mod refusals;

#[path = "sbs_manifest/api_fixture.rs"]
mod api_fixture;
