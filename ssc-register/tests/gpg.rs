//! Interop with GnuPG 2.2, both directions: registration files sealed by us and decrypted by
//! `gpg --decrypt`, files made by `gpg --encrypt --sign --armor` opened by us, keys made by
//! `gpg --batch --generate-key` used by us and ours imported by gpg, and the refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use ssc_register::seal::{open, seal};
use ssc_register::{
    Error, KeyKind, OpenOptions, PublicKey, Registration, RootKey, Secret, SecretKey,
};

const VENDOR_PW: &str = "vendor passphrase";
const APPLIANCE_PW: &str = "appliance passphrase";

/// A temporary GNUPGHOME; its gpg-agent is killed on drop.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        Self { home }
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args([
                "--batch",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--trust-model",
                "always",
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gpg runs");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn import(&self, armored: &str, passphrase: &str) {
        self.ok(
            &["--passphrase", passphrase, "--import"],
            armored.as_bytes(),
        );
    }

    fn fingerprint(&self, user: &str) -> String {
        let out = self.ok(&["--with-colons", "--fingerprint", user], b"");
        let text = String::from_utf8(out).unwrap();
        text.lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .unwrap()
            .to_owned()
    }

    fn export_secret(&self, user: &str, passphrase: &str) -> String {
        let out = self.ok(
            &[
                "--passphrase",
                passphrase,
                "--armor",
                "--export-secret-keys",
                user,
            ],
            b"",
        );
        String::from_utf8(out).unwrap()
    }

    fn export_public(&self, user: &str) -> String {
        String::from_utf8(self.ok(&["--armor", "--export", user], b"")).unwrap()
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// Keys made once per test binary: ours (RSA 4096 vendor as in the lab, Ed25519 appliance)
/// and gpg's (RSA 4096 vendor with a passphrase, Ed25519 appliance with a passphrase).
struct Keys {
    our_vendor: SecretKey,
    our_appliance: SecretKey,
    gpg_vendor_armored: String,
    gpg_vendor_fpr: String,
    gpg_appliance_armored: String,
    gpg_appliance_fpr: String,
    gpg_other_armored: String,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let our_vendor =
            SecretKey::generate(KeyKind::Rsa4096, "Our Vendor <ourvendor@example.com>", Secret::new(VENDOR_PW))
                .unwrap();
        let our_appliance =
            SecretKey::generate(KeyKind::Ed25519, "Our Appliance <ourappliance@example.com>", Secret::new(APPLIANCE_PW))
                .unwrap();
        let gpg = Gpg::new();
        let params = format!(
            "Key-Type: RSA\nKey-Length: 4096\nKey-Usage: sign\nSubkey-Type: RSA\nSubkey-Length: 4096\n\
             Subkey-Usage: encrypt\nName-Real: Gpg Vendor\nName-Email: gpgvendor@example.com\n\
             Expire-Date: 0\nPassphrase: {VENDOR_PW}\n%commit\n\
             Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\nSubkey-Type: ECDH\n\
             Subkey-Curve: cv25519\nSubkey-Usage: encrypt\nName-Real: Gpg Appliance\n\
             Name-Email: gpgappliance@example.com\nExpire-Date: 0\nPassphrase: {APPLIANCE_PW}\n%commit\n\
             Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\nSubkey-Type: ECDH\n\
             Subkey-Curve: cv25519\nSubkey-Usage: encrypt\nName-Real: Gpg Other\n\
             Name-Email: gpgother@example.com\nExpire-Date: 0\n%no-protection\n%commit\n"
        );
        gpg.ok(&["--generate-key"], params.as_bytes());
        Keys {
            gpg_vendor_armored: gpg.export_secret("gpgvendor@example.com", VENDOR_PW),
            gpg_vendor_fpr: gpg.fingerprint("gpgvendor@example.com"),
            gpg_appliance_armored: gpg.export_secret("gpgappliance@example.com", APPLIANCE_PW),
            gpg_appliance_fpr: gpg.fingerprint("gpgappliance@example.com"),
            gpg_other_armored: gpg.export_secret("gpgother@example.com", ""),
            our_vendor,
            our_appliance,
        }
    })
}

fn root() -> RootKey {
    RootKey::new("0f".repeat(32), "cm9vdCBrZXk=").unwrap()
}

fn registration_for(vendor: &PublicKey) -> Registration {
    Registration::builder("docker.io/user/wallet", root())
        .env_whitelist(["WALLET_MODE"])
        .docker_credentials("user", Secret::new("token"))
        .build(vendor)
        .unwrap()
}

fn gpg_vendor() -> SecretKey {
    SecretKey::from_armored(keys().gpg_vendor_armored.as_bytes(), Secret::new(VENDOR_PW)).unwrap()
}

fn gpg_appliance() -> SecretKey {
    SecretKey::from_armored(
        keys().gpg_appliance_armored.as_bytes(),
        Secret::new(APPLIANCE_PW),
    )
    .unwrap()
}

/// A GNUPGHOME holding the gpg-made keys (secret) and our public keys.
fn gpg_home() -> Gpg {
    let k = keys();
    let gpg = Gpg::new();
    gpg.import(&k.gpg_vendor_armored, VENDOR_PW);
    gpg.import(&k.gpg_appliance_armored, APPLIANCE_PW);
    gpg.import(&k.gpg_other_armored, "");
    gpg
}

fn gpg_encrypt(gpg: &Gpg, signer: Option<(&str, &str)>, recipient: &str, data: &[u8]) -> Vec<u8> {
    let mut args = vec!["--armor", "--encrypt", "-r", recipient];
    if let Some((user, pw)) = signer {
        args.extend(["--sign", "--local-user", user, "--passphrase", pw]);
    }
    gpg.ok(&args, data)
}

#[test]
fn ours_creates_gpg_decrypts_and_reports_the_vendor_signature() {
    let k = keys();
    let gpg = gpg_home();
    // Our keys, exported by us, imported by gpg.
    gpg.import(&k.our_appliance.to_armored().unwrap(), APPLIANCE_PW);
    gpg.import(&k.our_vendor.public_key().to_armored().unwrap(), "");

    let reg = registration_for(&k.our_vendor.public_key());
    let sealed = seal(&reg, &k.our_vendor, &k.our_appliance.public_key()).unwrap();
    let out = gpg.run(
        &[
            "--status-fd",
            "2",
            "--passphrase",
            APPLIANCE_PW,
            "--decrypt",
        ],
        sealed.as_bytes(),
    );
    let status = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{status}");
    let validsig = status
        .lines()
        .find(|l| l.starts_with("[GNUPG:] VALIDSIG"))
        .unwrap_or_else(|| panic!("no VALIDSIG in {status}"));
    assert!(
        validsig.ends_with(&k.our_vendor.fingerprint()),
        "{validsig}"
    );
    assert!(status.contains("[GNUPG:] GOODSIG"));
    assert!(status.contains("[GNUPG:] DECRYPTION_OKAY"));

    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in [
        "repository_name",
        "docker_username",
        "docker_password",
        "envs_whitelist",
        "public_key_id",
        "public_key",
        "vendor_key",
        "cap_add",
    ] {
        assert!(json.get(field).is_some(), "{field} missing from {json}");
    }
    assert_eq!(json["repository_name"], "docker.io/user/wallet");
    assert_eq!(json["docker_password"], "token");
    assert_eq!(json["public_key_id"], "0f".repeat(32));
    assert!(
        json["vendor_key"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    );
    assert!(
        json["envs_whitelist"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "RUNQ_ROOTDISK")
    );
}

#[test]
fn gpg_encrypts_and_signs_ours_opens_and_names_the_vendor() {
    let k = keys();
    let gpg = gpg_home();
    // Keys made by `gpg --batch --generate-key` (RSA 4096 with a passphrase) work in ours.
    let vendor = gpg_vendor();
    let appliance = gpg_appliance();
    assert_eq!(vendor.fingerprint(), k.gpg_vendor_fpr);
    assert_eq!(appliance.fingerprint(), k.gpg_appliance_fpr);
    let vendor_public =
        PublicKey::from_armored(gpg.export_public("gpgvendor@example.com").as_bytes()).unwrap();

    let reg = registration_for(&vendor_public);
    let message = gpg_encrypt(
        &gpg,
        Some(("gpgvendor@example.com", VENDOR_PW)),
        "gpgappliance@example.com",
        &reg.to_json().unwrap(),
    );
    let opened = open(
        &message,
        &appliance,
        &OpenOptions {
            expected_vendor: Some(&vendor_public),
            registered: Some(&reg),
        },
    )
    .unwrap();
    assert_eq!(opened.signer_fingerprint, k.gpg_vendor_fpr);
    assert_eq!(opened.registration, reg);

    // And ours seals with gpg's keys; gpg opens it.
    let sealed = seal(&reg, &vendor, &appliance.public_key()).unwrap();
    let out = gpg.run(
        &[
            "--status-fd",
            "2",
            "--passphrase",
            APPLIANCE_PW,
            "--decrypt",
        ],
        sealed.as_bytes(),
    );
    let status = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && status.contains(&format!("VALIDSIG {}", k.gpg_vendor_fpr)),
        "{status}"
    );
}

#[test]
fn keys_generated_by_ours_work_inside_gpg() {
    let k = keys();
    let gpg = gpg_home();
    // Our secret keys, passphrase-protected, imported by gpg and used there to sign and decrypt.
    gpg.import(&k.our_vendor.to_armored().unwrap(), VENDOR_PW);
    gpg.import(&k.our_appliance.to_armored().unwrap(), APPLIANCE_PW);
    let reg = registration_for(&k.our_vendor.public_key());
    let message = gpg_encrypt(
        &gpg,
        Some(("ourvendor@example.com", VENDOR_PW)),
        "ourappliance@example.com",
        &reg.to_json().unwrap(),
    );
    let opened = open(&message, &k.our_appliance, &OpenOptions::default()).unwrap();
    assert_eq!(opened.signer_fingerprint, k.our_vendor.fingerprint());
    assert_eq!(
        gpg.fingerprint("ourvendor@example.com"),
        k.our_vendor.fingerprint()
    );
    assert_eq!(
        gpg.fingerprint("ourappliance@example.com"),
        k.our_appliance.fingerprint()
    );
}

#[test]
fn forged_unsigned_tampered_and_misaddressed_files_are_refused() {
    let k = keys();
    let gpg = gpg_home();
    let appliance = gpg_appliance();
    let vendor_public = gpg_vendor().public_key();
    let reg = registration_for(&vendor_public);
    let json = reg.to_json().unwrap();

    // Forged: names the vendor, signed by another key.
    let forged = gpg_encrypt(
        &gpg,
        Some(("gpgother@example.com", "")),
        "gpgappliance@example.com",
        &json,
    );
    let err = open(&forged, &appliance, &OpenOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::SignerNotVendor { vendor, .. } if *vendor == k.gpg_vendor_fpr),
        "{err:?}"
    );

    // Unsigned.
    let unsigned = gpg_encrypt(&gpg, None, "gpgappliance@example.com", &json);
    let err = open(&unsigned, &appliance, &OpenOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Unsigned), "{err:?}");

    // Wrongly addressed: encrypted to another key.
    let elsewhere = gpg_encrypt(
        &gpg,
        Some(("gpgvendor@example.com", VENDOR_PW)),
        "gpgother@example.com",
        &json,
    );
    let err = open(&elsewhere, &appliance, &OpenOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotForThisAppliance { .. }), "{err:?}");

    // Tampered: one bit of the encrypted data flipped (binary form from `gpg --dearmor`).
    let good = gpg_encrypt(
        &gpg,
        Some(("gpgvendor@example.com", VENDOR_PW)),
        "gpgappliance@example.com",
        &json,
    );
    let mut binary = gpg.ok(&["--dearmor"], &good);
    let at = binary.len() - 30;
    binary[at] ^= 0x01;
    let err = open(&binary, &appliance, &OpenOptions::default()).unwrap_err();
    assert!(matches!(err, Error::TamperedCiphertext { .. }), "{err:?}");

    // Signed and addressed correctly, but not a registration.
    let not_json = gpg_encrypt(
        &gpg,
        Some(("gpgvendor@example.com", VENDOR_PW)),
        "gpgappliance@example.com",
        b"hello",
    );
    let err = open(&not_json, &appliance, &OpenOptions::default()).unwrap_err();
    assert!(matches!(err, Error::MalformedJson { .. }), "{err:?}");
    let mut value = serde_json::to_value(&reg).unwrap();
    value.as_object_mut().unwrap().remove("vendor_key");
    let missing = gpg_encrypt(
        &gpg,
        Some(("gpgvendor@example.com", VENDOR_PW)),
        "gpgappliance@example.com",
        &serde_json::to_vec(&value).unwrap(),
    );
    let err = open(&missing, &appliance, &OpenOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingField {
                field: "vendor_key"
            }
        ),
        "{err:?}"
    );

    // Not encrypted at all.
    let signed_only = gpg.ok(
        &[
            "--armor",
            "--sign",
            "--local-user",
            "gpgvendor@example.com",
            "--passphrase",
            VENDOR_PW,
        ],
        &json,
    );
    let err = open(&signed_only, &appliance, &OpenOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotEncrypted), "{err:?}");

    // Wrong passphrase for a gpg-made key.
    let err =
        SecretKey::from_armored(k.gpg_vendor_armored.as_bytes(), Secret::new("wrong")).unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase { .. }), "{err:?}");
}

/// Where the first packet's body starts in a binary OpenPGP message (old or new header).
fn first_body(message: &[u8]) -> usize {
    let tag = message[0];
    if tag & 0x40 != 0 {
        match message[1] {
            0..=191 => 2,
            192..=223 => 3,
            255 => 6,
            _ => panic!("partial body length in the first packet"),
        }
    } else {
        match tag & 0x03 {
            0 => 2,
            1 => 3,
            2 => 5,
            _ => panic!("indeterminate length in the first packet"),
        }
    }
}

#[test]
fn damaged_and_cut_files_are_called_corrupt_not_misaddressed() {
    let gpg = gpg_home();
    let appliance = gpg_appliance();
    let reg = registration_for(&gpg_vendor().public_key());
    let armored = gpg_encrypt(
        &gpg,
        Some(("gpgvendor@example.com", VENDOR_PW)),
        "gpgappliance@example.com",
        &reg.to_json().unwrap(),
    );
    open(&armored, &appliance, &OpenOptions::default()).unwrap();
    let binary = gpg.ok(&["--dearmor"], &armored);
    let body = first_body(&binary);
    assert_eq!(
        binary[body], 3,
        "gpg's first packet is a v3 encrypted-key packet"
    );
    let corrupt = |bytes: &[u8], what: &str| -> String {
        let err = open(bytes, &appliance, &OpenOptions::default()).unwrap_err();
        assert!(
            matches!(err, Error::CorruptMessage { .. }),
            "{what}: {err:?}"
        );
        let text = err.to_string();
        assert!(
            !text.contains("Error {") && !text.contains("input: ["),
            "{what}: {text}"
        );
        text
    };

    // The encrypted-key packet's version: rPGP drops the packet, leaving no recipient at all.
    let mut damaged = binary.clone();
    damaged[body] ^= 0x01;
    let text = corrupt(&damaged, "version");
    assert!(text.contains("encrypted-key packet is damaged"), "{text}");
    // A bit of the encrypted session key (after version, key ID and algorithm).
    for at in [body + 14, body + 30] {
        let mut damaged = binary.clone();
        damaged[at] ^= 0x01;
        let text = corrupt(&damaged, "session key");
        assert!(text.contains("does not decrypt"), "{text}");
    }
    // Cut short, armored and binary, in several places.
    for at in [armored.len() / 3, armored.len() / 2, armored.len() - 40] {
        let text = corrupt(&armored[..at], "armored cut");
        assert!(text.contains("cut short"), "{text}");
    }
    for at in [1, body + 4, binary.len() / 2, binary.len() - 5] {
        let text = corrupt(&binary[..at], "binary cut");
        assert!(text.contains("cut short"), "{text}");
    }
}
