//! Unit tests of registration building and of sealing/opening between our own keys.
//! Interop with gpg lives in `tests/gpg.rs`.

use std::sync::OnceLock;

use crate::error::Error;
use crate::openpgp::{KeyKind, SecretKey};
use crate::registration::{RESERVED_ENV_NAMES, Registration, RootKey};
use crate::seal::{OpenOptions, open, seal};
use crate::secret::Secret;

struct Keys {
    vendor: SecretKey,
    other: SecretKey,
    appliance: SecretKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let gen_key = |name: &str, pw: &str| {
            SecretKey::generate(KeyKind::Ed25519, name, Secret::new(pw)).unwrap()
        };
        Keys {
            vendor: gen_key("Vendor <v@example.com>", "vendor pw"),
            other: gen_key("Other <o@example.com>", "other pw"),
            appliance: gen_key("Appliance <a@example.com>", ""),
        }
    })
}

fn root() -> RootKey {
    RootKey::new("ab".repeat(32), "cm9vdCBrZXk=").unwrap()
}

fn registration(vendor: &SecretKey) -> Registration {
    Registration::builder("docker.io/user/app", root())
        .env_whitelist(["LOG_LEVEL", "LOG_LEVEL", "PORT"])
        .build(&vendor.public_key())
        .unwrap()
}

#[test]
fn builder_adds_reserved_names_and_refuses_them_from_users() {
    let k = keys();
    let reg = registration(&k.vendor);
    assert_eq!(&reg.envs_whitelist[..2], ["LOG_LEVEL", "PORT"]);
    for name in RESERVED_ENV_NAMES {
        assert!(reg.envs_whitelist.iter().any(|e| e == name));
    }
    assert_eq!(reg.user_envs().collect::<Vec<_>>(), ["LOG_LEVEL", "PORT"]);
    assert_eq!(reg.cap_add, ["ALL"]);
    let err = Registration::builder("docker.io/user/app", root())
        .env_whitelist(["OK", "RUNQ_MEM"])
        .build(&k.vendor.public_key())
        .unwrap_err();
    assert!(matches!(err, Error::ReservedEnvName { name } if name == "RUNQ_MEM"));
    let err = Registration::builder("docker.io/user/app", root())
        .env_whitelist(["BAD-NAME"])
        .build(&k.vendor.public_key())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidEnvName { .. }));
    let err = Registration::builder("", root())
        .build(&k.vendor.public_key())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRepositoryName { .. }));
}

#[test]
fn root_key_from_root_json_checks_the_key_id() {
    let key = keymgmt::PrivateKey::generate_ecdsa();
    let cert = keymgmt::x509::generate_root_certificate("docker.io/user/app", &key).unwrap();
    let id = cert.key_id();
    let root_json = serde_json::json!({
        "signed": {
            "_type": "Root",
            "keys": { id.as_str(): {"keytype": "ecdsa-x509", "keyval": {"private": null, "public": cert.public_base64()}}},
            "roles": {"root": {"keyids": [id.as_str()], "threshold": 1}},
        },
        "signatures": []
    });
    let bytes = serde_json::to_vec(&root_json).unwrap();
    let root = RootKey::from_root_json(&bytes).unwrap();
    assert_eq!(root.key_id(), id.as_str());
    assert_eq!(root.public_base64(), cert.public_base64());
    // The explicit form accepts notary's ID and the canonical ID Docker prints.
    RootKey::new(id.as_str(), cert.public_base64()).unwrap();
    RootKey::new(cert.canonical_key_id().as_str(), cert.public_base64()).unwrap();
    let err = RootKey::new("cd".repeat(32), cert.public_base64()).unwrap_err();
    assert!(matches!(err, Error::KeyIdMismatch { .. }));
    let wrong = String::from_utf8(bytes)
        .unwrap()
        .replace(
            &format!("\"{}\":{{\"keytype", id.as_str()),
            &format!("\"{}\":{{\"keytype", "cd".repeat(32)),
        )
        .replace(
            &format!("[\"{}\"]", id.as_str()),
            &format!("[\"{}\"]", "cd".repeat(32)),
        );
    let err = RootKey::from_root_json(wrong.as_bytes()).unwrap_err();
    assert!(matches!(err, Error::KeyIdMismatch { .. }), "{err:?}");
    assert!(matches!(
        RootKey::new("xyz", "AA=="),
        Err(Error::InvalidKeyId { .. })
    ));
    assert!(matches!(
        RootKey::from_root_json(b"{}"),
        Err(Error::MalformedRootJson { .. })
    ));
}

#[test]
fn round_trip_names_the_signer_and_binds_the_vendor() {
    let k = keys();
    let reg = registration(&k.vendor);
    let sealed = seal(&reg, &k.vendor, &k.appliance.public_key()).unwrap();
    let opened = open(sealed.as_bytes(), &k.appliance, &OpenOptions::default()).unwrap();
    assert_eq!(opened.registration, reg);
    assert_eq!(opened.signer_fingerprint, k.vendor.fingerprint());

    // The caller's expected vendor must be the signer.
    let other_pub = k.other.public_key();
    let err = open(
        sealed.as_bytes(),
        &k.appliance,
        &OpenOptions {
            expected_vendor: Some(&other_pub),
            registered: None,
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::SignerNotVendor { .. }), "{err:?}");

    // An update must come from the registered vendor.
    let previous = registration(&k.other);
    let err = open(
        sealed.as_bytes(),
        &k.appliance,
        &OpenOptions {
            expected_vendor: None,
            registered: Some(&previous),
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::VendorChanged { .. }), "{err:?}");
    let same_vendor = open(
        sealed.as_bytes(),
        &k.appliance,
        &OpenOptions {
            expected_vendor: None,
            registered: Some(&reg),
        },
    );
    assert!(same_vendor.is_ok());
}

#[test]
fn sealing_with_a_key_other_than_vendor_key_is_refused() {
    let k = keys();
    let reg = registration(&k.vendor);
    let err = seal(&reg, &k.other, &k.appliance.public_key()).unwrap_err();
    assert!(matches!(err, Error::UnexpectedVendorKey { .. }));
}

#[test]
fn wrong_appliance_and_wrong_passphrase_are_named() {
    let k = keys();
    let reg = registration(&k.vendor);
    let sealed = seal(&reg, &k.vendor, &k.other.public_key()).unwrap();
    let err = open(sealed.as_bytes(), &k.appliance, &OpenOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotForThisAppliance { .. }), "{err:?}");

    let exported = k.vendor.to_armored().unwrap();
    let err = SecretKey::from_armored(exported.as_bytes(), Secret::new("nope")).unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase { .. }), "{err:?}");
    let again = SecretKey::from_armored(exported.as_bytes(), Secret::new("vendor pw")).unwrap();
    assert_eq!(again.fingerprint(), k.vendor.fingerprint());
    assert!(!format!("{again:?}").contains("vendor pw"));
}

#[test]
fn missing_fields_and_bad_json_are_named() {
    assert!(matches!(
        Registration::from_json(b"not json"),
        Err(Error::MalformedJson { .. })
    ));
    assert!(matches!(
        Registration::from_json(b"[1]"),
        Err(Error::MalformedJson { .. })
    ));
    let k = keys();
    let mut value = serde_json::to_value(registration(&k.vendor)).unwrap();
    value.as_object_mut().unwrap().remove("public_key_id");
    let err = Registration::from_json(&serde_json::to_vec(&value).unwrap()).unwrap_err();
    assert!(matches!(
        err,
        Error::MissingField {
            field: "public_key_id"
        }
    ));
}

#[test]
fn tampering_with_the_armored_text_is_refused() {
    let k = keys();
    let reg = registration(&k.vendor);
    let sealed = seal(&reg, &k.vendor, &k.appliance.public_key()).unwrap();
    let lines: Vec<&str> = sealed.lines().collect();
    // A base64 character in the middle of the encrypted data, then one in the last data line.
    for line_index in [lines.len() / 2, lines.len() - 3] {
        let mut tampered: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        let line = &mut tampered[line_index];
        let replacement = if line.starts_with('A') { "B" } else { "A" };
        line.replace_range(0..1, replacement);
        let text = tampered.join("\n");
        let err = open(text.as_bytes(), &k.appliance, &OpenOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TamperedCiphertext { .. } | Error::MalformedMessage { .. }
            ),
            "{err:?}"
        );
    }
    assert!(matches!(
        open(b"not a message", &k.appliance, &OpenOptions::default()),
        Err(Error::MalformedMessage { .. })
    ));
}

#[test]
fn secrets_travel_inside_but_never_print() {
    let k = keys();
    let mut list = std::collections::BTreeMap::new();
    list.insert("API_KEY".to_owned(), Secret::new("s3cr3t-value"));
    let reg = Registration::builder("docker.io/user/app", root())
        .docker_credentials("robot", Secret::new("registry-token"))
        .secrets(crate::registration::Secrets {
            mount_path: "/isv_secrets/secrets.json".to_owned(),
            secrets_list: list,
        })
        .build(&k.vendor.public_key())
        .unwrap();
    let debug = format!("{reg:?}");
    assert!(
        !debug.contains("registry-token") && !debug.contains("s3cr3t-value"),
        "{debug}"
    );
    let json: serde_json::Value = serde_json::from_slice(&reg.to_json().unwrap()).unwrap();
    assert_eq!(json["docker_password"], "registry-token");
    assert_eq!(json["secrets"]["secrets_list"]["API_KEY"], "s3cr3t-value");
    let sealed = seal(&reg, &k.vendor, &k.appliance.public_key()).unwrap();
    assert!(!sealed.contains("registry-token"));
    let opened = open(sealed.as_bytes(), &k.appliance, &OpenOptions::default()).unwrap();
    assert_eq!(opened.registration, reg);
}

#[test]
fn keys_need_a_user_id_without_control_characters() {
    for user_id in ["", "  ", "Vendor\n<v@example.com>", "a\u{7}"] {
        let err = SecretKey::generate(KeyKind::Ed25519, user_id, Secret::default()).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidUserId { user_id: got, .. } if got == user_id),
            "{err:?}"
        );
    }
}
