//! `hpvs sb regfile`: the repository registration file made from the build server's
//! registration data (`GET /config-json`), as the spec says the client makes it: `cap_add`
//! forced to contain `ALL`, the reserved names added to the whitelist, `vendor_key` set to
//! the vendor's public key, encrypted to the appliance's key and signed with the vendor's
//! (armored), to be saved as `yaml.<REPO_ID>.enc`.

use hpvs_api::sbs_wire::RegistrationData;
use ssc_register::{PublicKey, RESERVED_ENV_NAMES, Registration, RootKey, Secret, SecretKey};

/// The armored registration file of `data`, signed by `vendor`, encrypted to `appliance`.
pub fn seal_registration(
    data: &RegistrationData,
    vendor: &SecretKey,
    appliance: &PublicKey,
) -> Result<String, ssc_register::Error> {
    let root = RootKey::new(data.public_key_id.clone(), data.public_key.clone())?;
    let mut cap_add = data.cap_add.clone();
    if !cap_add.iter().any(|cap| cap == "ALL") {
        cap_add.push("ALL".to_owned());
    }
    let registration = Registration::builder(data.repository_name.clone(), root)
        .env_whitelist(
            data.envs_whitelist
                .iter()
                .filter(|name| !RESERVED_ENV_NAMES.contains(&name.as_str()))
                .cloned(),
        )
        .docker_credentials(
            data.docker_username.clone(),
            Secret::new(data.docker_password.clone()),
        )
        .cap_add(cap_add)
        .build(&vendor.public_key())?;
    ssc_register::seal::seal(&registration, vendor, appliance)
}

#[cfg(test)]
mod tests {
    use ssc_register::{KeyKind, OpenOptions};

    use super::*;

    #[test]
    fn the_registration_data_becomes_a_file_the_appliance_opens() {
        let vendor = SecretKey::generate(KeyKind::Ed25519, "Vendor", Secret::new("pw")).unwrap();
        let appliance =
            SecretKey::generate(KeyKind::Ed25519, "Appliance", Secret::default()).unwrap();
        let data: RegistrationData = serde_json::from_value(serde_json::json!({
            "repository_name": "registry.example/user/app",
            "docker_username": "ro", "docker_password": "ro-pw",
            "envs_whitelist": ["GREETING", "IMAGE_TAG"],
            "public_key_id": "ab".repeat(32),
            "public_key": "ZmFrZS1yb290LWtleQ==",
            "cap_add": [],
        }))
        .unwrap();
        let sealed = seal_registration(&data, &vendor, &appliance.public_key()).unwrap();
        assert!(
            sealed.starts_with("-----BEGIN PGP MESSAGE-----"),
            "{sealed}"
        );
        let opened = ssc_register::seal::open(
            sealed.as_bytes(),
            &appliance,
            &OpenOptions {
                expected_vendor: Some(&vendor.public_key()),
                registered: None,
            },
        )
        .unwrap();
        let registration = &opened.registration;
        assert_eq!(registration.repository_name, "registry.example/user/app");
        assert_eq!(registration.cap_add, ["ALL"]);
        assert_eq!(registration.docker_password.expose(), "ro-pw");
        for name in ["GREETING", "IMAGE_TAG", "RUNQ_ROOTDISK", "POD"] {
            assert!(
                registration.envs_whitelist.iter().any(|n| n == name),
                "{name}"
            );
        }
        assert_eq!(registration.public_key_id, "ab".repeat(32));
    }
}
