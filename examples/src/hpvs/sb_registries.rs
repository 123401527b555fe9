//! `docker.push_server` and `docker.base_server` naming `hpvs registry` entries, as the real
//! CLI's `sb_config.yaml` does. No I/O: [`resolve`] works on the appliance's registry list.
//!
//! A value with `://`, a `.` or a `:`, or `localhost`, is a registry address and is sent as
//! given (the behaviour before names were resolved). Any other value is the name of an
//! `hpvs registry` entry: its URL becomes the server (`DOCKER_PUSH_SERVER`,
//! `DOCKER_BASE_SERVER`), its DCT URL the Notary server (`DOCKER_CONTENT_TRUST_PUSH_SERVER`,
//! `DOCKER_CONTENT_TRUST_BASE_SERVER`, winning over `SB_DCT_*`), and its user the registry
//! user when `SB_DOCKER_USER` / `SB_DOCKER_BASE_USER` is unset. The appliance never returns a
//! password: passwords still come from `SB_DOCKER_PASSWORD` / `SB_DOCKER_BASE_PASSWORD`.

use hpvs_api::wire::Registry;

use super::{ConfigError, DockerSection};

/// Which registry value of `docker` a resolution is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `docker.push_server`.
    Push,
    /// `docker.base_server`.
    Base,
}

impl Role {
    /// The configuration key.
    pub fn key(self) -> &'static str {
        match self {
            Self::Push => "secure_build_workers.docker.push_server",
            Self::Base => "secure_build_workers.docker.base_server",
        }
    }

    fn init_keys(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Push => (
                "DOCKER_PUSH_SERVER",
                "DOCKER_CONTENT_TRUST_PUSH_SERVER",
                "DOCKER_USER",
            ),
            Self::Base => (
                "DOCKER_BASE_SERVER",
                "DOCKER_CONTENT_TRUST_BASE_SERVER",
                "DOCKER_BASE_USER",
            ),
        }
    }
}

/// Whether `value` names an `hpvs registry` entry rather than giving an address.
pub fn is_registry_name(value: &str) -> bool {
    let value = value.trim();
    !value.is_empty()
        && !value.contains("://")
        && !value.contains('.')
        && !value.contains(':')
        && value != "localhost"
}

/// The registry values of `docker` that name entries (and so need the appliance's list).
pub fn names(docker: &DockerSection) -> Vec<(Role, &str)> {
    [
        (Role::Push, docker.push_server.as_deref()),
        (Role::Base, docker.base_server.as_deref()),
    ]
    .into_iter()
    .filter_map(|(role, value)| Some((role, value?.trim())))
    .filter(|(_, value)| is_registry_name(value))
    .collect()
}

/// What the registry values resolve to, as init parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// `(init key, value)`: the servers and Notary servers that replace the values of the
    /// file and of `SB_DCT_*`.
    pub servers: Vec<(&'static str, String)>,
    /// `(init key, value)`: registry users to use when the environment gives none.
    pub default_users: Vec<(&'static str, String)>,
}

/// Resolves the values of `docker` that name entries of `registries` (the appliance's
/// `hpvs registry list`); addresses are left to the file's value. A name that is not in the
/// list is [`ConfigError::UnknownRegistry`].
pub fn resolve(docker: &DockerSection, registries: &[Registry]) -> Result<Resolved, ConfigError> {
    let mut resolved = Resolved::default();
    for (role, name) in names(docker) {
        let entry = registries.iter().find(|r| r.name == name).ok_or_else(|| {
            ConfigError::UnknownRegistry {
                key: role.key(),
                name: name.to_owned(),
                known: registries.iter().map(|r| r.name.clone()).collect(),
            }
        })?;
        let (server, dct, user) = role.init_keys();
        resolved.servers.push((server, entry.url.clone()));
        if !entry.dct.is_empty() {
            resolved.servers.push((dct, entry.dct.clone()));
        }
        if !entry.user.is_empty() {
            resolved.default_users.push((user, entry.user.clone()));
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, url: &str, dct: &str, user: &str) -> Registry {
        Registry {
            name: name.into(),
            url: url.into(),
            dct: dct.into(),
            user: user.into(),
            has_password: !user.is_empty(),
        }
    }

    fn docker(push: Option<&str>, base: Option<&str>) -> DockerSection {
        DockerSection {
            push_server: push.map(str::to_owned),
            base_server: base.map(str::to_owned),
            repo: "lab/wallet".into(),
            ..DockerSection::default()
        }
    }

    #[test]
    fn names_resolve_to_the_entrys_url_dct_and_user() {
        let list = [
            entry(
                "lab",
                "http://127.0.0.1:5000",
                "https://127.0.0.1:4443",
                "pusher",
            ),
            entry("bases", "https://bases.example", "", ""),
        ];
        let resolved = resolve(&docker(Some("lab"), Some("bases")), &list).unwrap();
        assert_eq!(
            resolved.servers,
            [
                ("DOCKER_PUSH_SERVER", "http://127.0.0.1:5000".to_owned()),
                (
                    "DOCKER_CONTENT_TRUST_PUSH_SERVER",
                    "https://127.0.0.1:4443".to_owned()
                ),
                ("DOCKER_BASE_SERVER", "https://bases.example".to_owned()),
            ]
        );
        assert_eq!(
            resolved.default_users,
            [("DOCKER_USER", "pusher".to_owned())]
        );
    }

    #[test]
    fn addresses_are_kept_as_given_and_need_no_list() {
        for value in [
            "docker.io",
            "127.0.0.1:5000",
            "http://127.0.0.1:5000",
            "localhost",
            "registry.example:443",
        ] {
            assert!(!is_registry_name(value), "{value}");
            let config = docker(Some(value), Some(value));
            assert!(names(&config).is_empty(), "{value}");
            assert_eq!(resolve(&config, &[]).unwrap(), Resolved::default());
        }
        assert!(names(&docker(None, None)).is_empty());
        assert_eq!(
            names(&docker(Some("lab"), Some("docker.io"))),
            [(Role::Push, "lab")]
        );
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_known_ones() {
        let list = [entry("lab", "http://127.0.0.1:5000", "", "")];
        let error = resolve(&docker(Some("lab"), Some("labb")), &list).unwrap_err();
        assert!(
            matches!(&error, ConfigError::UnknownRegistry { key, name, known }
                if *key == "secure_build_workers.docker.base_server" && name == "labb"
                    && known == &["lab".to_owned()]),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "secure_build_workers.docker.base_server names the registry \"labb\", which \
             `hpvs registry list` does not have (it has: lab): add it with `hpvs registry \
             add`, or give a URL"
        );
    }
}
