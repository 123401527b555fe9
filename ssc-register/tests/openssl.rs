//! Interop with openssl 3 for HPCR contracts, both directions: sections made by ours decrypt
//! with `openssl pkeyutl -decrypt` + `openssl enc -d -aes-256-cbc -pbkdf2 -pass stdin`, the
//! signature verifies with `openssl dgst -sha256 -verify`, and sections and attestation
//! records made with the openssl commands are decrypted by ours.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ssc_register::contract::RegistryAuth;
use ssc_register::{
    AttestationRecord, Contract, Error, RootKey, RsaRecipient, RsaSecretKey, Secret, Workload,
};

fn openssl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The HPCR encryption key pair and a contract signing key, made by openssl once.
struct Material {
    dir: tempfile::TempDir,
}

impl Material {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
}

fn material() -> &'static Material {
    static MATERIAL: OnceLock<Material> = OnceLock::new();
    MATERIAL.get_or_init(|| {
        let m = Material {
            dir: tempfile::tempdir().unwrap(),
        };
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:4096",
                "-nodes",
                "-subj",
                "/CN=hpcr-encrypt",
                "-days",
                "2",
                "-keyout",
                p(&m.path("hpcr.key")),
                "-out",
                p(&m.path("hpcr.crt")),
            ],
            b"",
        );
        openssl(&["genrsa", "-out", p(&m.path("sign.pem")), "2048"], b"");
        openssl(
            &[
                "pkey",
                "-in",
                p(&m.path("sign.pem")),
                "-pubout",
                "-out",
                p(&m.path("sign.pub")),
            ],
            b"",
        );
        m
    })
}

fn workload_yaml() -> String {
    let root = RootKey::new("0f".repeat(32), "cm9vdCBrZXk=").unwrap();
    Workload::new()
        .auth(
            "us.icr.io",
            RegistryAuth {
                username: "iamapikey".to_owned(),
                password: Secret::new("token"),
            },
        )
        .compose_archive("H4sIAAAAAAAA")
        .dct_image("us.icr.io/team/wallet", "https://notary.us.icr.io", &root)
        .to_yaml()
        .unwrap()
}

const ENV_YAML: &str = "type: env\nlogging:\n  syslog:\n    hostname: logs.example.com\n    port: 6514\nenv:\n  WALLET_MODE: test\n";

/// Decrypts a section with the openssl commands, as the HPCR image (and contract-go) do.
fn openssl_decrypt_section(m: &Material, section: &str) -> Vec<u8> {
    let parts: Vec<&str> = section.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], "hyper-protect-basic");
    // Files of this call only: tests sharing the material run in parallel.
    let scratch = tempfile::tempdir().unwrap();
    let (pw, data) = (
        scratch.path().join("pw.enc"),
        scratch.path().join("data.enc"),
    );
    std::fs::write(&pw, B64.decode(parts[1]).unwrap()).unwrap();
    std::fs::write(&data, B64.decode(parts[2]).unwrap()).unwrap();
    let password = openssl(
        &[
            "pkeyutl",
            "-decrypt",
            "-inkey",
            p(&m.path("hpcr.key")),
            "-in",
            p(&pw),
        ],
        b"",
    );
    assert_eq!(password.len(), 32);
    openssl(
        &[
            "enc",
            "-d",
            "-aes-256-cbc",
            "-pbkdf2",
            "-in",
            p(&data),
            "-pass",
            "stdin",
        ],
        &password,
    )
}

/// `openssl rand 32`, drawn again while it starts with a newline or NUL: `openssl enc -pass
/// stdin` fails on a leading NUL ("Error reading password from BIO") and takes a leading
/// newline as the empty password.
fn openssl_rand_password() -> Vec<u8> {
    loop {
        let password = openssl(&["rand", "32"], b"");
        if password[0] != b'\n' && password[0] != 0 {
            return password;
        }
    }
}

/// Encrypts a section with the openssl commands (contract-go's recipe) to the certificate
/// `to`.
fn openssl_encrypt_section(password: &[u8], plaintext: &[u8], to: &str) -> String {
    openssl_encrypt_section_with(password, plaintext, "-certin", to)
}

/// Encrypts a section with the openssl commands to `key`, a certificate (`-certin`) or a
/// public key (`-pubin`).
fn openssl_encrypt_section_with(
    password: &[u8],
    plaintext: &[u8],
    key_form: &str,
    key: &str,
) -> String {
    // Files of this call only: tests sharing the material run in parallel.
    let scratch = tempfile::tempdir().unwrap();
    let (pw, plain) = (scratch.path().join("pw"), scratch.path().join("plain"));
    std::fs::write(&pw, password).unwrap();
    std::fs::write(&plain, plaintext).unwrap();
    let encrypted_password = openssl(
        &[
            "pkeyutl",
            "-encrypt",
            key_form,
            "-inkey",
            key,
            "-in",
            p(&pw),
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
        ],
        b"",
    );
    let data = openssl(
        &[
            "enc",
            "-aes-256-cbc",
            "-pbkdf2",
            "-pass",
            "stdin",
            "-in",
            p(&plain),
        ],
        password,
    );
    format!(
        "hyper-protect-basic.{}.{}",
        B64.encode(encrypted_password),
        B64.encode(data)
    )
}

#[test]
fn ours_contract_decrypts_and_verifies_with_openssl() {
    let m = material();
    let hpcr = RsaRecipient::from_pem(&m.read("hpcr.crt")).unwrap();
    let signing =
        RsaSecretKey::from_pem(std::str::from_utf8(&m.read("sign.pem")).unwrap()).unwrap();
    let workload = workload_yaml();
    let contract = Contract::build(&workload, ENV_YAML, &hpcr, &signing, None).unwrap();

    assert_eq!(
        openssl_decrypt_section(m, &contract.workload),
        workload.as_bytes()
    );
    let env: serde_json::Value =
        serde_norway::from_slice(&openssl_decrypt_section(m, &contract.env)).unwrap();
    assert_eq!(env["type"], "env");
    assert_eq!(env["env"]["WALLET_MODE"], "test");
    let openssl_pub = String::from_utf8(m.read("sign.pub")).unwrap();
    assert_eq!(env["signingKey"].as_str().unwrap(), openssl_pub);

    std::fs::write(
        m.path("signed"),
        format!("{}{}", contract.workload, contract.env),
    )
    .unwrap();
    std::fs::write(
        m.path("sig"),
        B64.decode(&contract.env_workload_signature).unwrap(),
    )
    .unwrap();
    let verified = openssl(
        &[
            "dgst",
            "-sha256",
            "-verify",
            p(&m.path("sign.pub")),
            "-signature",
            p(&m.path("sig")),
            p(&m.path("signed")),
        ],
        b"",
    );
    assert_eq!(String::from_utf8(verified).unwrap().trim(), "Verified OK");
    assert!(contract.verify_signature(&RsaRecipient::from_pem(openssl_pub.as_bytes()).unwrap()));

    let yaml = contract.to_yaml().unwrap();
    assert!(yaml.contains("envWorkloadSignature:"));
    assert_eq!(Contract::from_yaml(&yaml).unwrap(), contract);
    let workload_value: serde_json::Value = serde_norway::from_str(&workload).unwrap();
    assert_eq!(
        workload_value["images"]["dct"]["us.icr.io/team/wallet"]["publicKey"],
        "cm9vdCBrZXk="
    );
}

#[test]
fn enc_framing_is_byte_for_byte_openssls() {
    let m = material();
    let plain = m.path("framing.txt");
    std::fs::write(&plain, "type: env\nenv:\n  A: b\n").unwrap();
    for (password, salt) in [
        ("p4ss", *b"\x01\x02\x03\x04\x05\x06\x07\x08"),
        ("", [0xffu8; 8]),
    ] {
        let salt_hex: String = salt.iter().map(|b| format!("{b:02x}")).collect();
        let theirs = openssl(
            &[
                "enc",
                "-aes-256-cbc",
                "-pbkdf2",
                "-S",
                &salt_hex,
                "-pass",
                &format!("pass:{password}"),
                "-in",
                p(&plain),
            ],
            b"",
        );
        let ours = ssc_register::basic::openssl_enc(
            password.as_bytes(),
            &salt,
            &std::fs::read(&plain).unwrap(),
        );
        // With an explicit `-S`, openssl 3 writes no `Salted__` header (it does with a random
        // salt, as contract-go uses it): the ciphertext itself is byte for byte the same.
        assert_eq!(&ours[..8], b"Salted__");
        assert_eq!(&ours[8..16], &salt);
        assert_eq!(&ours[16..], &theirs[..]);
        // And `-a` is the same bytes, base64 in 64-column lines.
        let armored = openssl(
            &[
                "enc",
                "-a",
                "-aes-256-cbc",
                "-pbkdf2",
                "-S",
                &salt_hex,
                "-pass",
                &format!("pass:{password}"),
                "-in",
                p(&plain),
            ],
            b"",
        );
        let joined: String = String::from_utf8(armored).unwrap().lines().collect();
        assert_eq!(B64.decode(joined).unwrap(), theirs);
        // openssl decrypts our framed output, salt header included.
        std::fs::write(m.path("framed.enc"), &ours).unwrap();
        let back = openssl(
            &[
                "enc",
                "-d",
                "-aes-256-cbc",
                "-pbkdf2",
                "-pass",
                &format!("pass:{password}"),
                "-in",
                p(&m.path("framed.enc")),
            ],
            b"",
        );
        assert_eq!(back, std::fs::read(&plain).unwrap());
    }
}

#[test]
fn openssl_made_sections_decrypt_with_ours() {
    let m = material();
    let hpcr_key =
        RsaSecretKey::from_pem(std::str::from_utf8(&m.read("hpcr.key")).unwrap()).unwrap();
    let crt = m.path("hpcr.crt");
    let random = openssl_rand_password();
    let section = openssl_encrypt_section(&random, ENV_YAML.as_bytes(), p(&crt));
    assert_eq!(
        ssc_register::basic::decrypt(&section, &hpcr_key).unwrap(),
        ENV_YAML.as_bytes()
    );

    // `-pass stdin` stops at a newline: a password with one in the middle still works.
    let mut tricky = *b"abc\ndefghijklmnopqrstuvwxyz012345";
    tricky[31] = b'!';
    let section = openssl_encrypt_section(&tricky[..32], b"payload", p(&crt));
    assert_eq!(
        ssc_register::basic::decrypt(&section, &hpcr_key).unwrap(),
        b"payload"
    );

    // A leading newline makes openssl use the empty password; ours derives the same key.
    let mut leading = [b'x'; 32];
    leading[0] = b'\n';
    let section_empty = openssl_encrypt_section(&leading, b"empty", p(&crt));
    assert_eq!(
        ssc_register::basic::decrypt(&section_empty, &hpcr_key).unwrap(),
        b"empty"
    );

    // A modified data part does not decrypt.
    let mut parts: Vec<String> = section.split('.').map(str::to_owned).collect();
    let mut data = B64.decode(&parts[2]).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0x55;
    parts[2] = B64.encode(data);
    let err = ssc_register::basic::decrypt(&parts.join("."), &hpcr_key).unwrap_err();
    assert!(matches!(err, Error::SectionDecryption { .. }), "{err:?}");
}

#[test]
fn attestation_record_made_with_openssl_checks_against_the_contract() {
    let m = material();
    let hpcr = RsaRecipient::from_pem(&m.read("hpcr.crt")).unwrap();
    let signing =
        RsaSecretKey::from_pem(std::str::from_utf8(&m.read("sign.pem")).unwrap()).unwrap();
    // The attestation key pair is the signing pair here: the record is encrypted to its public key.
    let attestation_pub = String::from_utf8(m.read("sign.pub")).unwrap();
    let contract = Contract::build(
        &workload_yaml(),
        ENV_YAML,
        &hpcr,
        &signing,
        Some(attestation_pub),
    )
    .unwrap();

    let mut record = String::from("25.3.0\n");
    for (name, value) in contract.sections() {
        let digest = openssl(&["dgst", "-sha256", "-r"], value.as_bytes());
        let hash = String::from_utf8(digest).unwrap();
        record.push_str(&format!("{} contract:{name}\n", &hash[..64]));
    }
    record.push_str(&format!("{} root.tar.gz\n", "1".repeat(64)));
    // openssl encrypts the record to the attestation public key (pkeyutl -pubin).
    let encrypted = openssl_encrypt_section_with(
        &openssl_rand_password(),
        record.as_bytes(),
        "-pubin",
        p(&m.path("sign.pub")),
    );

    let parsed = AttestationRecord::decrypt(&encrypted, &signing).unwrap();
    assert_eq!(parsed.header.as_deref(), Some("25.3.0"));
    parsed.check_contract(&contract).unwrap();

    let tampered =
        AttestationRecord::parse(&record.replacen("contract:env\n", "contract:other\n", 1))
            .unwrap();
    let err = tampered.check_contract(&contract).unwrap_err();
    assert!(
        matches!(err, Error::AttestationEntryMissing { .. }),
        "{err:?}"
    );
    let first = &record[7..71];
    let wrong = AttestationRecord::parse(&record.replacen(first, &"0".repeat(64), 1)).unwrap();
    assert!(matches!(
        wrong.check_contract(&contract),
        Err(Error::AttestationMismatch { .. })
    ));
    assert!(matches!(
        AttestationRecord::parse("header\nnot a checksum line"),
        Err(Error::MalformedAttestation { .. })
    ));
}

#[test]
fn openssl_keys_of_other_kinds_are_named_not_misparsed() {
    let key = |args: &[&str]| String::from_utf8(openssl(args, b"")).unwrap();
    let unsupported = |pem: &str| match RsaSecretKey::from_pem(pem) {
        Err(Error::UnsupportedKey { found, hint }) => (found, hint),
        other => panic!("expected UnsupportedKey, got {other:?}"),
    };
    let encrypted_pkcs8 = key(&["genrsa", "-aes256", "-passout", "pass:pw", "2048"]);
    let (found, hint) = unsupported(&encrypted_pkcs8);
    assert_eq!(found, "an encrypted pkcs#8 key");
    assert!(hint.contains("openssl pkey"), "{hint}");
    let encrypted_pkcs1 = key(&[
        "genrsa",
        "-traditional",
        "-aes256",
        "-passout",
        "pass:pw",
        "2048",
    ]);
    assert_eq!(unsupported(&encrypted_pkcs1).0, "an encrypted rsa key");
    let ec = key(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
    ]);
    assert_eq!(unsupported(&ec).0, "an ec key");
    let ed = key(&["genpkey", "-algorithm", "ed25519"]);
    assert_eq!(unsupported(&ed).0, "an ed25519 key");
    let message = Error::UnsupportedKey {
        found: "an ec key".to_owned(),
        hint: unsupported(&ec).1,
    }
    .to_string();
    assert!(message.contains("'BEGIN RSA PRIVATE KEY'"), "{message}");
    // The unencrypted forms openssl writes still read, PKCS#8 and PKCS#1 alike.
    RsaSecretKey::from_pem(&key(&["genrsa", "2048"])).unwrap();
    RsaSecretKey::from_pem(&key(&["genrsa", "-traditional", "2048"])).unwrap();
    assert!(matches!(
        RsaSecretKey::from_pem("not a key"),
        Err(Error::MalformedRsaKey { .. })
    ));
}
