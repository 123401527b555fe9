//! The `regfile` program end to end: keygen, create, open (with and without the expected
//! vendor), refusals with a non-zero exit and the error on stderr, and contract.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
    let out = regfile(args, envs);
    assert!(
        out.status.success(),
        "regfile {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str], envs: &[(&str, &str)], needle: &str) {
    let out = regfile(args, envs);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "regfile {args:?} should fail");
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
    let out = create(&["--env-whitelist", "WALLET_MODE,LOG_LEVEL"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let out = create(&["--env-whitelist", "POD"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reserved"));
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
    let run = |args: &[&str]| {
        let st = Command::new("openssl").args(args).output().unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    };
    run(&[
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
        s(&d.join("hpcr.key")),
        "-out",
        s(&d.join("hpcr.crt")),
    ]);
    run(&["genrsa", "-out", s(&d.join("sign.pem")), "2048"]);
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
