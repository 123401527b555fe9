//! keymgmt key operations next to `openssl speed` on the same machine.
//!
//! Criterion measures our P-256 and Ed25519 sign/verify and the decryption of a notary key
//! file; then `openssl speed ecdsap256 ed25519` runs and a table prints both rates and the
//! ratio (ours / openssl; above 1 means faster than openssl).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use benches::stats::ratio;
use benches::{criterion_mean_ns, openssl_speed, parse_speed_row};
use criterion::{Criterion, black_box};
use keymgmt::passphrase::Passphrase;
use keymgmt::{PrivateKey, keyfile};

const GROUP: &str = "keymgmt";

fn run(c: &mut Criterion) {
    let message = [0x5au8; 512];
    let mut group = c.benchmark_group(GROUP);
    for (name, key) in [
        ("p256", PrivateKey::generate_ecdsa()),
        ("ed25519", PrivateKey::generate_ed25519()),
    ] {
        let public = key.public_key();
        let sig = key.sign(&message);
        group.bench_function(format!("{name}_sign"), |b| {
            b.iter(|| key.sign(black_box(&message)))
        });
        group.bench_function(format!("{name}_verify"), |b| {
            b.iter(|| {
                public
                    .verify(sig.method, black_box(&message), &sig.bytes)
                    .unwrap()
            })
        });
    }
    let passphrase = Passphrase::new("benchmark-passphrase");
    let key = PrivateKey::generate_ecdsa();
    let pem =
        keyfile::encode_encrypted(&key, "targets", Some("example.com/app"), &passphrase).unwrap();
    group.bench_function("keyfile_decrypt", |b| {
        b.iter(|| keyfile::decode(black_box(pem.as_bytes()), Some(&passphrase), None).unwrap())
    });
    group.finish();
}

fn main() {
    let out = tempfile::tempdir().unwrap();
    let mut criterion = Criterion::default()
        .output_directory(out.path())
        .configure_from_args();
    run(&mut criterion);
    criterion.final_summary();

    let per_sec =
        |function: &str| criterion_mean_ns(out.path(), GROUP, function).map(|ns| 1e9 / ns);
    let openssl = match openssl_speed(1, &["ecdsap256", "ed25519"]) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    println!();
    println!(
        "{:<18} {:>14} {:>14} {:>8}",
        "operation", "ours (op/s)", "openssl (op/s)", "ratio"
    );
    for (ours, label, alg) in [
        ("p256", "ecdsa (nistp256)", "P-256"),
        ("ed25519", "EdDSA (Ed25519)", "Ed25519"),
    ] {
        let theirs = parse_speed_row(&openssl, label);
        for (op, ours_rate, their_rate) in [
            (
                "sign",
                per_sec(&format!("{ours}_sign")),
                theirs.map(|r| r.sign_per_sec),
            ),
            (
                "verify",
                per_sec(&format!("{ours}_verify")),
                theirs.map(|r| r.verify_per_sec),
            ),
        ] {
            let fmt = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.0}"));
            let ratio = match (ours_rate, their_rate) {
                (Some(a), Some(b)) => ratio(a, b).map(|r| format!("{r:.2}x")),
                _ => None,
            };
            let ratio = ratio.unwrap_or_else(|| "n/a".to_owned());
            println!(
                "{:<18} {:>14} {:>14} {:>8}",
                format!("{alg} {op}"),
                fmt(ours_rate),
                fmt(their_rate),
                ratio
            );
        }
    }
    if let Some(ns) = criterion_mean_ns(out.path(), GROUP, "keyfile_decrypt") {
        println!(
            "{:<18} {:>14} {:>14} {:>8}",
            "key file decrypt",
            format!("{:.2} ms", ns / 1e6),
            "(no openssl speed row)",
            ""
        );
    }
}
