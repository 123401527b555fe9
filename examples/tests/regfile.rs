//! The `regfile` program end to end: keygen, create, open (with and without the expected
//! vendor), refusals with a non-zero exit and the error on stderr, and contract.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{failed, file_names as names_in, succeeded};
use std::path::Path;
use std::process::{Command, Output};

fn regfile(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regfile"))
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

fn ok(args: &[&str], envs: &[(&str, &str)]) -> String {
    succeeded(regfile(args, envs))
}

fn fails(args: &[&str], envs: &[(&str, &str)], needle: &str) {
    let stderr = failed(regfile(args, envs));
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr}");
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn keygen(dir: &Path, name: &str, pass_env: Option<&str>, envs: &[(&str, &str)]) -> String {
    let mut args = vec![
        "keygen",
        "--name",
        name,
        "--kind",
        "ed25519",
        "--out-dir",
        s(dir),
    ];
    if let Some(var) = pass_env {
        args.extend(["--passphrase-env", var]);
    }
    let out: serde_json::Value = serde_json::from_str(&ok(&args, envs)).unwrap();
    out["fingerprint"].as_str().unwrap().to_owned()
}

/// Runs `openssl ARGS`, which must succeed.
fn openssl(args: &[&str]) {
    succeeded(Command::new("openssl").args(args).output().unwrap());
}

/// A self-signed RSA certificate in place of the HPCR encryption certificate:
/// `dir/hpcr.key` and `dir/hpcr.crt`.
fn hpcr_certificate(dir: &Path) {
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=hpcr",
        "-days",
        "1",
        "-keyout",
        s(&dir.join("hpcr.key")),
        "-out",
        s(&dir.join("hpcr.crt")),
    ]);
}

#[test]
fn create_open_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let envs = [
        ("VENDOR_PW", "vendor secret"),
        ("APPLIANCE_PW", "appliance secret"),
    ];
    let vendor_fpr = keygen(d, "vendor", Some("VENDOR_PW"), &envs);
    keygen(d, "appliance", Some("APPLIANCE_PW"), &envs);
    keygen(d, "other", None, &envs);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.join("vendor.secret.asc"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let key_id = "ab".repeat(32);
    let enc = d.join("REPO.enc");
    let vendor_secret = d.join("vendor.secret.asc");
    let appliance_public = d.join("appliance.public.asc");
    let create = |extra: &[&str]| {
        let mut args = vec![
            "create",
            "--repository",
            "docker.io/user/wallet",
            "--public-key-id",
            &key_id,
            "--public-key",
            "cm9vdCBrZXk=",
            "--vendor-key",
            s(&vendor_secret),
            "--vendor-passphrase-env",
            "VENDOR_PW",
            "--appliance-key",
            s(&appliance_public),
            "--out",
            s(&enc),
        ];
        args.extend_from_slice(extra);
        regfile(&args, &envs)
    };
    succeeded(create(&["--env-whitelist", "WALLET_MODE,LOG_LEVEL"]));
    assert!(
        std::fs::read_to_string(&enc)
            .unwrap()
            .starts_with("-----BEGIN PGP MESSAGE-----")
    );

    let open_args = |vendor: Option<&str>| {
        let mut args = vec![
            "open".to_owned(),
            "--appliance-key".to_owned(),
            s(&d.join("appliance.secret.asc")).to_owned(),
            "--appliance-passphrase-env".to_owned(),
            "APPLIANCE_PW".to_owned(),
            "--in".to_owned(),
            s(&enc).to_owned(),
        ];
        if let Some(v) = vendor {
            args.extend(["--vendor-key".to_owned(), s(&d.join(v)).to_owned()]);
        }
        args
    };
    let args = open_args(Some("vendor.public.asc"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let opened: serde_json::Value = serde_json::from_str(&ok(&args, &envs)).unwrap();
    assert_eq!(opened["signer_fingerprint"], vendor_fpr.as_str());
    let reg = &opened["registration"];
    assert_eq!(reg["repository_name"], "docker.io/user/wallet");
    assert_eq!(reg["public_key_id"], key_id.as_str());
    let whitelist = reg["envs_whitelist"].as_array().unwrap();
    assert!(whitelist.iter().any(|e| e == "WALLET_MODE"));
    assert!(whitelist.iter().any(|e| e == "RUNQ_ROOTDISK"));

    // Expected vendor is someone else.
    let args = open_args(Some("other.public.asc"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails(&args, &envs, "not by the vendor key");
    // Wrong passphrase.
    let args = open_args(None);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    fails(&args, &[("APPLIANCE_PW", "nope")], "wrong passphrase");
    // Reserved env name.
    assert!(failed(create(&["--env-whitelist", "POD"])).contains("reserved"));
    // Neither --root-json nor a key.
    fails(
        &[
            "create",
            "--repository",
            "x",
            "--vendor-key",
            "v",
            "--appliance-key",
            "a",
            "--out",
            "o",
        ],
        &[],
        "--root-json",
    );
}

#[test]
fn create_from_root_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    keygen(d, "vendor", None, &[]);
    keygen(d, "appliance", None, &[]);
    let key = keymgmt::PrivateKey::generate_ecdsa();
    let cert = keymgmt::x509::generate_root_certificate("docker.io/user/wallet", &key).unwrap();
    let id = cert.key_id();
    let root_json = serde_json::json!({"signed": {
        "keys": {id.as_str(): {"keytype": "ecdsa-x509", "keyval": {"private": null, "public": cert.public_base64()}}},
        "roles": {"root": {"keyids": [id.as_str()], "threshold": 1}}}, "signatures": []});
    std::fs::write(d.join("root.json"), root_json.to_string()).unwrap();
    let enc = d.join("r.enc");
    ok(
        &[
            "create",
            "--repository",
            "docker.io/user/wallet",
            "--root-json",
            s(&d.join("root.json")),
            "--vendor-key",
            s(&d.join("vendor.secret.asc")),
            "--appliance-key",
            s(&d.join("appliance.public.asc")),
            "--out",
            s(&enc),
        ],
        &[],
    );
    let opened: serde_json::Value = serde_json::from_str(&ok(
        &[
            "open",
            "--appliance-key",
            s(&d.join("appliance.secret.asc")),
            "--in",
            s(&enc),
        ],
        &[],
    ))
    .unwrap();
    assert_eq!(opened["registration"]["public_key_id"], id.as_str());
    assert_eq!(
        opened["registration"]["public_key"],
        cert.public_base64().as_str()
    );
}

#[test]
fn contract_is_written_and_decrypts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    hpcr_certificate(d);
    openssl(&["genrsa", "-out", s(&d.join("sign.pem")), "2048"]);
    std::fs::write(
        d.join("w.yaml"),
        "type: workload\ncompose:\n  archive: H4sI\n",
    )
    .unwrap();
    std::fs::write(d.join("e.yaml"), "type: env\nenv:\n  A: b\n").unwrap();
    std::fs::write(d.join("bad.yaml"), "type: workload\n").unwrap();
    let out = d.join("contract.yaml");
    let contract_args = |env: &str| {
        vec![
            "contract".to_owned(),
            "--cert".to_owned(),
            s(&d.join("hpcr.crt")).to_owned(),
            "--workload".to_owned(),
            s(&d.join("w.yaml")).to_owned(),
            "--env".to_owned(),
            s(&d.join(env)).to_owned(),
            "--signing-key".to_owned(),
            s(&d.join("sign.pem")).to_owned(),
            "--out".to_owned(),
            s(&out).to_owned(),
        ]
    };
    let args = contract_args("e.yaml");
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    let yaml = std::fs::read_to_string(&out).unwrap();
    let contract = ssc_register::Contract::from_yaml(&yaml).unwrap();
    let hpcr =
        ssc_register::RsaSecretKey::from_pem(&std::fs::read_to_string(d.join("hpcr.key")).unwrap())
            .unwrap();
    assert_eq!(
        ssc_register::basic::decrypt(&contract.workload, &hpcr).unwrap(),
        b"type: workload\ncompose:\n  archive: H4sI\n"
    );
    let env =
        String::from_utf8(ssc_register::basic::decrypt(&contract.env, &hpcr).unwrap()).unwrap();
    assert!(env.contains("signingKey"), "{env}");

    let args = contract_args("bad.yaml");
    fails(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
        "expected \"env\"",
    );
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_keeps_an_existing_key_unless_forced_and_always_writes_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = keygen(d, "vendor", None, &[]);
    let secret = d.join("vendor.secret.asc");
    let public = d.join("vendor.public.asc");
    let before = std::fs::read(&secret).unwrap();
    let args = [
        "keygen",
        "--name",
        "vendor",
        "--kind",
        "ed25519",
        "--out-dir",
        s(d),
    ];
    fails(&args, &[], "vendor.secret.asc exists: pass --force");
    assert_eq!(std::fs::read(&secret).unwrap(), before);
    // Only the public file there is enough to refuse: the pair must stay a pair.
    let other = tempfile::tempdir().unwrap();
    std::fs::copy(&public, other.path().join("vendor.public.asc")).unwrap();
    let other_args = [
        "keygen",
        "--name",
        "vendor",
        "--kind",
        "ed25519",
        "--out-dir",
        s(other.path()),
    ];
    fails(&other_args, &[], "vendor.public.asc exists");
    assert_eq!(names_in(other.path()), ["vendor.public.asc"]);

    // Someone left the secret file world-readable: --force replaces it, and it ends 0600.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut forced = args.to_vec();
    forced.push("--force");
    let out: serde_json::Value = serde_json::from_str(&ok(&forced, &[])).unwrap();
    assert_ne!(out["fingerprint"].as_str().unwrap(), first);
    assert_ne!(std::fs::read(&secret).unwrap(), before);
    assert_eq!(mode(&secret), 0o600);
    assert_eq!(mode(&public), 0o644);
    // Written through a temporary file renamed into place: nothing else is left behind.
    assert_eq!(names_in(d), ["vendor.public.asc", "vendor.secret.asc"]);
}

#[test]
fn keygen_refuses_an_empty_passphrase_and_names_that_make_hidden_files_or_paths() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let keygen_args = |name: &'static str, extra: &[&'static str]| {
        let mut args = vec![
            "keygen".to_owned(),
            "--name".to_owned(),
            name.to_owned(),
            "--kind".to_owned(),
            "ed25519".to_owned(),
            "--out-dir".to_owned(),
            s(&keys).to_owned(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    };
    let run = |args: &[String], envs: &[(&str, &str)], needle: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(&args, envs, needle);
    };
    run(
        &keygen_args("vendor", &["--passphrase-env", "REGFILE_TEST_EMPTY_PW"]),
        &[("REGFILE_TEST_EMPTY_PW", "")],
        "environment variable REGFILE_TEST_EMPTY_PW is empty",
    );
    run(
        &keygen_args("vendor", &["--passphrase-env", "REGFILE_TEST_UNSET_PW"]),
        &[],
        "REGFILE_TEST_UNSET_PW is not set",
    );
    for name in [
        "",
        "   ",
        ".vendor",
        "../vendor",
        "keys/vendor",
        "a\\b",
        "tab\there",
    ] {
        run(&keygen_args(name, &[]), &[], "invalid --name");
    }
    // Nothing was written, not even an empty directory's worth of key files.
    assert!(!keys.exists() || names_in(&keys).is_empty());
}

/// Unprotected vendor and appliance keys in `d` and a registration between them, `d/r.enc`
/// (written as a bare file name from inside `d`).
fn make_registration(d: &Path) -> std::path::PathBuf {
    keygen(d, "vendor", None, &[]);
    keygen(d, "appliance", None, &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_regfile"))
        .current_dir(d)
        .args([
            "create",
            "--repository",
            "docker.io/user/wallet",
            "--public-key-id",
            &"ab".repeat(32),
            "--public-key",
            "cm9vdCBrZXk=",
            "--vendor-key",
            "vendor.secret.asc",
            "--appliance-key",
            "appliance.public.asc",
            "--out",
            "r.enc",
        ])
        .output()
        .unwrap();
    succeeded(out);
    d.join("r.enc")
}

#[test]
fn open_calls_a_cut_file_corrupt_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let enc = make_registration(d);
    let full = std::fs::read(&enc).unwrap();
    let cut = d.join("cut.enc");
    for at in [full.len() / 3, full.len() / 2, full.len() - 40] {
        std::fs::write(&cut, &full[..at]).unwrap();
        let out = regfile(
            &[
                "open",
                "--appliance-key",
                s(&d.join("appliance.secret.asc")),
                "--in",
                s(&cut),
            ],
            &[],
        );
        let stderr = failed(out);
        assert!(
            stderr.contains("registration file is corrupt") && stderr.contains("cut short"),
            "cut at {at}: {stderr}"
        );
        // Never the parser's internal state (`Error(Error { input: [..], code: Tag })`).
        assert!(
            !stderr.contains("Error {") && !stderr.contains("input: ["),
            "{stderr}"
        );
    }
}

#[test]
fn a_closed_stdout_ends_regfile_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let enc = make_registration(d);
    let closed_stdout = |args: &[&str]| {
        // The reading end is gone before regfile starts: its first write gets EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_regfile"))
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "regfile {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    };
    closed_stdout(&[
        "open",
        "--appliance-key",
        s(&d.join("appliance.secret.asc")),
        "--in",
        s(&enc),
    ]);
    let keys = d.join("more");
    closed_stdout(&[
        "keygen",
        "--name",
        "late",
        "--kind",
        "ed25519",
        "--out-dir",
        s(&keys),
    ]);
    assert_eq!(names_in(&keys), ["late.public.asc", "late.secret.asc"]);
}

#[test]
fn contract_names_the_supported_signing_key_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = |name: &str| s(&d.join(name)).to_owned();
    hpcr_certificate(d);
    std::fs::write(d.join("w.yaml"), "type: workload\n").unwrap();
    std::fs::write(d.join("e.yaml"), "type: env\n").unwrap();
    openssl(&[
        "genrsa",
        "-aes256",
        "-passout",
        "pass:pw",
        "-out",
        &path("pkcs8-enc.pem"),
        "2048",
    ]);
    openssl(&[
        "genrsa",
        "-traditional",
        "-aes256",
        "-passout",
        "pass:pw",
        "-out",
        &path("pkcs1-enc.pem"),
        "2048",
    ]);
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &path("ec-pkcs8.pem"),
    ]);
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &path("ec.pem"),
    ]);
    openssl(&[
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        &path("ed25519.pem"),
    ]);
    openssl(&[
        "pkey",
        "-in",
        &path("ec.pem"),
        "-pubout",
        "-out",
        &path("public.pem"),
    ]);
    let contract = |key: &str| {
        vec![
            "contract".to_owned(),
            "--cert".to_owned(),
            path("hpcr.crt"),
            "--workload".to_owned(),
            path("w.yaml"),
            "--env".to_owned(),
            path("e.yaml"),
            "--signing-key".to_owned(),
            path(key),
            "--out".to_owned(),
            path("contract.yaml"),
        ]
    };
    let supported = "supported are unencrypted rsa private keys in pem";
    for (key, found, hint) in [
        ("pkcs8-enc.pem", "an encrypted pkcs#8 key", "openssl pkey"),
        ("pkcs1-enc.pem", "an encrypted rsa key", "openssl pkey"),
        ("ec-pkcs8.pem", "an ec key", "openssl genrsa"),
        ("ec.pem", "an ec key", "openssl genrsa"),
        ("ed25519.pem", "an ed25519 key", "openssl genrsa"),
        (
            "public.pem",
            "a public key (no private key)",
            "openssl genrsa",
        ),
    ] {
        let args = contract(key);
        let stderr = failed(regfile(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &[],
        ));
        for needle in [key, found, supported, hint] {
            assert!(
                stderr.contains(needle),
                "{key}: expected {needle:?} in {stderr}"
            );
        }
    }
    assert!(!d.join("contract.yaml").exists());
    // The way out the message names works: the decrypted key signs the contract.
    openssl(&[
        "pkey",
        "-in",
        &path("pkcs8-enc.pem"),
        "-passin",
        "pass:pw",
        "-out",
        &path("plain.pem"),
    ]);
    let args = contract("plain.pem");
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert!(d.join("contract.yaml").exists());
}
