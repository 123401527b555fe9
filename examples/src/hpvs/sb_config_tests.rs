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
