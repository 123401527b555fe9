//! Registration files and contracts, ours next to the CLIs in one run.
//!
//! - create (encrypt + sign) and open (decrypt + verify) of a registration file: ours vs
//!   `gpg --encrypt --sign --armor` / `gpg --decrypt`, with the lab's keys (RSA 4096 vendor key
//!   with a passphrase, RSA 4096 appliance key) made by `gpg --batch --generate-key` and used
//!   by both sides;
//! - contract encryption (two sections + signature): ours vs the openssl commands
//!   (`rand`, `pkeyutl -encrypt`, `enc -aes-256-cbc -pbkdf2` per section, `dgst -sha256 -sign`).
//!
//! Prints ms per operation for both and the ratio (CLI time / ours; above 1 means ours is
//! faster). `REGFILE_BENCH_N` sets the iteration count (default 20).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use benches::env_number;
use benches::stats::ratio;
use ssc_register::seal::{open, seal};
use ssc_register::{
    Contract, OpenOptions, PublicKey, Registration, RootKey, RsaRecipient, RsaSecretKey, Secret,
    SecretKey,
};

const PW: &str = "bench passphrase";

fn run(program: &str, home: Option<&Path>, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut cmd = Command::new(program);
    if let Some(home) = home {
        cmd.env("GNUPGHOME", home).args([
            "--batch",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            "--trust-model",
            "always",
        ]);
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn time<T>(n: u32, mut f: impl FnMut() -> T) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(f());
    }
    start.elapsed() / n
}

fn row(name: &str, ours: Duration, theirs: Duration, tool: &str) {
    let (ours, theirs) = (ours.as_secs_f64() * 1e3, theirs.as_secs_f64() * 1e3);
    let ratio = ratio(theirs, ours).map_or_else(|| "-".to_owned(), |r| format!("{r:.1}x"));
    println!("{name:<28} {ours:>10.3} {theirs:>12.3} {ratio:>9}  ({tool})");
}

fn main() {
    let n: u32 = env_number("REGFILE_BENCH_N", 20).max(1);
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("gnupg");
    std::fs::create_dir(&home).unwrap();
    let home = home.as_path();
    eprintln!("generating the lab's RSA 4096 keys with gpg...");
    let params = format!(
        "Key-Type: RSA\nKey-Length: 4096\nKey-Usage: sign\nSubkey-Type: RSA\nSubkey-Length: 4096\n\
         Subkey-Usage: encrypt\nName-Real: Vendor\nName-Email: vendor@example.com\nExpire-Date: 0\n\
         Passphrase: {PW}\n%commit\n\
         Key-Type: RSA\nKey-Length: 4096\nKey-Usage: sign\nSubkey-Type: RSA\nSubkey-Length: 4096\n\
         Subkey-Usage: encrypt\nName-Real: Appliance\nName-Email: appliance@example.com\n\
         Expire-Date: 0\nPassphrase: {PW}\n%commit\n"
    );
    run("gpg", Some(home), &["--generate-key"], params.as_bytes());
    let export = |user: &str| {
        run(
            "gpg",
            Some(home),
            &["--passphrase", PW, "--armor", "--export-secret-keys", user],
            b"",
        )
    };
    let vendor = SecretKey::from_armored(&export("vendor@example.com"), Secret::new(PW)).unwrap();
    let appliance =
        SecretKey::from_armored(&export("appliance@example.com"), Secret::new(PW)).unwrap();
    let appliance_public: PublicKey = appliance.public_key();
    let root = RootKey::new("ab".repeat(32), "cm9vdCBrZXk=").unwrap();
    let registration = Registration::builder("docker.io/user/wallet", root)
        .env_whitelist(["WALLET_MODE"])
        .build(&vendor.public_key())
        .unwrap();
    let json = registration.to_json().unwrap();

    let gpg_create = || {
        run(
            "gpg",
            Some(home),
            &[
                "--armor",
                "--encrypt",
                "--sign",
                "--local-user",
                "vendor@example.com",
                "-r",
                "appliance@example.com",
                "--passphrase",
                PW,
            ],
            &json,
        )
    };
    let sealed_by_gpg = gpg_create();
    let sealed_by_us = seal(&registration, &vendor, &appliance_public).unwrap();
    // Both sides open both files before timing.
    open(&sealed_by_gpg, &appliance, &OpenOptions::default()).unwrap();
    run(
        "gpg",
        Some(home),
        &["--passphrase", PW, "--decrypt"],
        sealed_by_us.as_bytes(),
    );

    let ours_create = time(n, || {
        seal(&registration, &vendor, &appliance_public).unwrap()
    });
    let gpg_create_t = time(n, gpg_create);
    let ours_open = time(n, || {
        open(&sealed_by_gpg, &appliance, &OpenOptions::default()).unwrap()
    });
    let gpg_open_t = time(n, || {
        run(
            "gpg",
            Some(home),
            &["--passphrase", PW, "--decrypt"],
            &sealed_by_gpg,
        )
    });

    // Contracts: an HPCR-like RSA 4096 certificate and an RSA 2048 signing key from openssl.
    let d = dir.path();
    let p = |name: &str| d.join(name).to_str().unwrap().to_owned();
    run(
        "openssl",
        None,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:4096",
            "-nodes",
            "-subj",
            "/CN=hpcr",
            "-days",
            "1",
            "-keyout",
            &p("hpcr.key"),
            "-out",
            &p("hpcr.crt"),
        ],
        b"",
    );
    run(
        "openssl",
        None,
        &["genrsa", "-out", &p("sign.pem"), "2048"],
        b"",
    );
    let workload = "type: workload\ncompose:\n  archive: H4sIAAAAAAAAA+3OMQ6CQBCF4T3FnmB3ZtmFxsZ4AhNLG7KBRDAFJBAb7m5hY2OhgY7/K17xqvfmeZjLqW5DZ+c+j2Ewv0HXxGmXz+LZ4qqYlZ/7QuSk4qlSLwnU1xJU1XP3uKHz+PyNEPT8AAAAAAAAAAAAAAAAAP8kPQmdDn4AKAAA\n";
    let env = "type: env\nenv:\n  WALLET_MODE: test\n";
    std::fs::write(d.join("workload.yaml"), workload).unwrap();
    std::fs::write(d.join("env.yaml"), env).unwrap();
    let hpcr = RsaRecipient::from_pem(&std::fs::read(d.join("hpcr.crt")).unwrap()).unwrap();
    let signing =
        RsaSecretKey::from_pem(&std::fs::read_to_string(d.join("sign.pem")).unwrap()).unwrap();
    let ours_contract = time(n, || {
        Contract::build(workload, env, &hpcr, &signing, None).unwrap()
    });
    let openssl_contract = time(n, || {
        let mut signed = Vec::new();
        for section in ["workload.yaml", "env.yaml"] {
            // `-pass stdin` fails on a leading NUL and takes a leading newline as an empty password.
            let password = loop {
                let password = run("openssl", None, &["rand", "32"], b"");
                if password[0] != b'\n' && password[0] != 0 {
                    break password;
                }
            };
            let encrypted_password = run(
                "openssl",
                None,
                &[
                    "pkeyutl",
                    "-encrypt",
                    "-certin",
                    "-inkey",
                    &p("hpcr.crt"),
                    "-pkeyopt",
                    "rsa_padding_mode:pkcs1",
                ],
                &password,
            );
            let data = run(
                "openssl",
                None,
                &[
                    "enc",
                    "-aes-256-cbc",
                    "-pbkdf2",
                    "-pass",
                    "stdin",
                    "-in",
                    &p(section),
                ],
                &password,
            );
            signed.extend_from_slice(&encrypted_password);
            signed.extend_from_slice(&data);
        }
        run(
            "openssl",
            None,
            &["dgst", "-sha256", "-sign", &p("sign.pem")],
            &signed,
        )
    });
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", home)
        .args(["--kill", "gpg-agent"])
        .status();

    println!();
    println!("registration files and contracts, {n} iterations each");
    println!(
        "{:<28} {:>10} {:>12} {:>9}",
        "operation", "ours (ms)", "cli (ms)", "cli/ours"
    );
    row("create (encrypt + sign)", ours_create, gpg_create_t, "gpg");
    row("open (decrypt + verify)", ours_open, gpg_open_t, "gpg");
    row(
        "contract (2 sections + sig)",
        ours_contract,
        openssl_contract,
        "openssl, 7 commands",
    );
}
