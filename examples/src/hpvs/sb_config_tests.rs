use serde_json::json;

use super::*;

const LAB: &str = r#"
secure_build_workers:
  sbs:
    url: "https://10.0.0.5"
    port: 30000
    cert_path: "sbs/client.crt"
    key_path: "sbs/client.key"
    ca_cert_path: "/etc/sbs/ca.crt"
  regfile:
    id: "wallet"
  github:
    url: "git@github.com:user/wallet.git"
    branch: "main"
    ssh_private_key_path: "id_rsa"
    recurse_submodules: false
    dockerfile_path: "Dockerfile"
    docker_build_path: "./"
  docker:
    push_server: "docker.io"
    base_server: "https://registry.example:5000"
    pull_server: "docker.io"
    repo: "user/wallet"
    image_tag_prefix: "latest"
    content_trust_base: true
  env:
    whitelist: ["GREETING", "LEVEL"]
  build:
    args:
      VERSION: 1
      NAME: wallet
      DEBUG: false
  signing_key:
    private_key_path: "vendor.priv"
    public_key_path: "vendor.pub"
"#;

fn credentials() -> Credentials {
    Credentials::from_lookup(|variable| match variable {
        "SB_DOCKER_USER" => Some("pusher".into()),
        "SB_DOCKER_PASSWORD" => Some("push-pw".into()),
        "SB_DCT_PUSH_SERVER" => Some("https://notary.example:4443".into()),
        "SB_DOCKER_RO_USER" => Some(String::new()),
        _ => None,
    })
    .unwrap()
}

#[test]
fn the_labs_file_maps_onto_the_init_parameters() {
    let config = SbConfig::parse(LAB, Path::new("sb_config.yaml")).unwrap();
    assert_eq!(config.sbs_url().unwrap(), "https://10.0.0.5:30000");
    assert_eq!(
        SbConfig::resolve(Path::new("/lab"), &config.sbs.cert_path),
        Path::new("/lab/sbs/client.crt")
    );
    assert_eq!(
        SbConfig::resolve(Path::new("/lab"), &config.sbs.ca_cert_path),
        Path::new("/etc/sbs/ca.crt")
    );
    let params = config
        .init_params("KEY TEXT", "c2VjcmV0", &credentials())
        .unwrap();
    assert_eq!(
        params,
        json!({
            "GITHUB_URL": "git@github.com:user/wallet.git",
            "GITHUB_KEY": "KEY TEXT",
            "GITHUB_BRANCH": "main",
            "GITHUB_RECURSE_SUBMODULES": "False",
            "DOCKER_REPO": "user/wallet",
            "REPO_ID": "wallet",
            "SECRET": "c2VjcmV0",
            "BUILD_IMAGE_TAG": "latest",
            "DOCKERFILE_PATH": "Dockerfile",
            "DOCKER_BUILD_PATH": "./",
            "IMAGE_TAG_PREFIX": "latest",
            "DOCKER_PUSH_SERVER": "docker.io",
            "DOCKER_BASE_SERVER": "https://registry.example:5000",
            "DOCKER_CONTENT_TRUST_BASE": "True",
            "ENV_WHITELIST": ["GREETING", "LEVEL"],
            "ARG": {"VERSION": "1", "NAME": "wallet", "DEBUG": "false"},
            "DOCKER_USER": "pusher",
            "DOCKER_PASSWORD": "push-pw",
            "DOCKER_CONTENT_TRUST_PUSH_SERVER": "https://notary.example:4443",
        })
    );
    assert!(params.get("DOCKER_PULL_SERVER").is_none());
}

#[test]
fn missing_values_and_credentials_are_named() {
    let config = SbConfig::parse(
        "secure_build_workers:\n  github: {url: git@h:u/r.git}\n  regfile: {id: r}\n",
        Path::new("c.yaml"),
    )
    .unwrap();
    assert!(matches!(
        config.init_params("", "s", &credentials()),
        Err(ConfigError::Missing {
            key: "secure_build_workers.docker.repo"
        })
    ));
    assert!(matches!(
        config.sbs_url(),
        Err(ConfigError::Missing {
            key: "secure_build_workers.sbs.url"
        })
    ));
    assert_eq!(
        Credentials::from_lookup(|_| None).unwrap_err(),
        "SB_DOCKER_USER"
    );
    assert!(!format!("{:?}", credentials()).contains("push-pw"));
    let bad = SbConfig::parse("secure_build_workers: [1]", Path::new("c.yaml")).unwrap_err();
    assert!(bad.to_string().starts_with("c.yaml: "), "{bad}");
}

#[test]
fn urls_get_a_scheme_and_a_port_only_when_missing() {
    let mut config = SbConfig::default();
    for (url, port, expected) in [
        ("10.0.0.5", Some(30000), "https://10.0.0.5:30000"),
        ("https://10.0.0.5:443/", Some(30000), "https://10.0.0.5:443"),
        ("https://[::1]", Some(1), "https://[::1]:1"),
        ("https://sbs.example", None, "https://sbs.example"),
    ] {
        config.sbs.url = url.into();
        config.sbs.port = port;
        assert_eq!(config.sbs_url().unwrap(), expected, "{url}");
    }
}

#[test]
fn update_refuses_a_changed_repo_or_id_naming_the_key_and_both_values() {
    let config = SbConfig::parse(LAB, Path::new("sb_config.yaml")).unwrap();
    let recorded = config.init_record().unwrap();
    assert_eq!(
        recorded,
        InitRecord {
            sbs_url: "https://10.0.0.5:30000".into(),
            regfile_id: "wallet".into(),
            docker_repo: "user/wallet".into(),
        }
    );
    config.check_update(&recorded).unwrap();
    // Other values may change.
    let mut changed = config.clone();
    changed.github.branch = Some("next".into());
    changed.env.whitelist.push("NEW".into());
    changed.check_update(&recorded).unwrap();

    let mut repo = config.clone();
    repo.docker.repo = "user/other".into();
    let error = repo.check_update(&recorded).unwrap_err();
    assert!(
        matches!(&error, ConfigError::Changed { key: "secure_build_workers.docker.repo", init, now }
            if init == "user/wallet" && now == "user/other"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "secure_build_workers.docker.repo may not change after init: init sent \
         \"user/wallet\", the configuration now says \"user/other\"; put \"user/wallet\" \
         back, or run `hpvs sb init` for the new value"
    );
    let mut id = config.clone();
    id.regfile.id = "wallet2".into();
    assert!(matches!(
        id.check_update(&recorded),
        Err(ConfigError::Changed { key: "secure_build_workers.regfile.id", init, now })
            if init == "wallet" && now == "wallet2"
    ));
    // The record travels as JSON.
    let text = serde_json::to_string(&recorded).unwrap();
    assert_eq!(serde_json::from_str::<InitRecord>(&text).unwrap(), recorded);
}

#[test]
fn registry_entries_give_servers_dct_and_users_and_the_environment_the_passwords() {
    let mut config = SbConfig::parse(LAB, Path::new("sb_config.yaml")).unwrap();
    config.docker.push_server = Some("lab".into());
    let list = [hpvs_api::wire::Registry {
        name: "lab".into(),
        url: "http://127.0.0.1:5000".into(),
        dct: "https://127.0.0.1:4443".into(),
        user: "entry-user".into(),
        has_password: true,
    }];
    let resolved = registries::resolve(&config.docker, &list).unwrap();
    // SB_DOCKER_USER unset: the entry's user; SB_DCT_PUSH_SERVER set: the entry's DCT wins.
    let credentials = Credentials::from_lookup_with(
        |variable| match variable {
            "SB_DOCKER_PASSWORD" => Some("push-pw".into()),
            "SB_DCT_PUSH_SERVER" => Some("https://elsewhere:1".into()),
            _ => None,
        },
        &resolved,
    )
    .unwrap();
    let params = config.init_params("", "s", &credentials).unwrap();
    assert_eq!(params["DOCKER_PUSH_SERVER"], "http://127.0.0.1:5000");
    assert_eq!(
        params["DOCKER_CONTENT_TRUST_PUSH_SERVER"],
        "https://127.0.0.1:4443"
    );
    assert_eq!(params["DOCKER_USER"], "entry-user");
    assert_eq!(params["DOCKER_PASSWORD"], "push-pw");
    // base_server is an address: as given.
    assert_eq!(
        params["DOCKER_BASE_SERVER"],
        "https://registry.example:5000"
    );
    // An explicit SB_DOCKER_USER wins over the entry's user; the password stays required.
    let credentials = Credentials::from_lookup_with(
        |variable| match variable {
            "SB_DOCKER_USER" => Some("env-user".into()),
            "SB_DOCKER_PASSWORD" => Some("pw".into()),
            _ => None,
        },
        &resolved,
    )
    .unwrap();
    let params = config.init_params("", "s", &credentials).unwrap();
    assert_eq!(params["DOCKER_USER"], "env-user");
    assert_eq!(
        Credentials::from_lookup_with(|_| None, &resolved).unwrap_err(),
        "SB_DOCKER_PASSWORD"
    );
}
