//! The appliance's calls, independent of HTTP: each checks its input, changes the store in
//! one transaction, and starts or stops workloads through the [`Runtime`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hpvs_api::wire::{
    self, ApplianceKey, NewQuotagroup, NewRegistry, NewRepository, NewVirtualServer, Quotagroup,
    Registry, RegistryUpdate, Repository, RepositoryDeleted,
};
use ssc_register::{KeyKind, OpenOptions, Registration, Secret, SecretKey};

use crate::error::{ApplianceError, Result};
use crate::runtime::{PortForwarder, Runtime};
use crate::seal::Sealer;
use crate::state_files;
use crate::store::{RegistryRow, RepositoryRow, Store};

/// How an appliance is set up.
#[derive(Debug, Clone)]
pub struct ApplianceOptions {
    /// Where everything is kept: the database, keys, images, servers.
    pub state_dir: PathBuf,
    /// CA certificates (PEM) trusted for the registries' and Notary servers' HTTPS, instead
    /// of the platform's roots; `None`: the platform's roots.
    pub outbound_ca_pem: Option<Vec<u8>>,
}

/// The appliance: its store, keys and running workloads.
pub struct Appliance {
    pub(crate) options: ApplianceOptions,
    pub(crate) store: Store,
    pub(crate) sealer: Sealer,
    key: SecretKey,
    pub(crate) runtime: Runtime,
    /// Host ports relayed into running servers, by server name.
    pub(crate) forwarders: Mutex<HashMap<String, Vec<PortForwarder>>>,
    /// Running Secure Build Servers, by server name.
    pub(crate) build_servers: Mutex<HashMap<String, crate::build_servers::RunningBuildServer>>,
}

impl Appliance {
    /// Opens the appliance in `options.state_dir`, making its database, sealing key and
    /// OpenPGP key on first use.
    pub fn open(options: ApplianceOptions) -> Result<Arc<Self>> {
        let dir = &options.state_dir;
        std::fs::create_dir_all(dir).map_err(|e| state_files::state_error("create", dir, e))?;
        let store = Store::open(&dir.join("appliance.db"))?;
        let sealer = Sealer::open_or_create(&dir.join("seal.key"))?;
        let key = appliance_key(&dir.join("appliance-key.asc"))?;
        let runtime = Runtime::open(&dir.join("runtime"))?;
        Ok(Arc::new(Self {
            options,
            store,
            sealer,
            key,
            runtime,
            forwarders: Mutex::new(HashMap::new()),
            build_servers: Mutex::new(HashMap::new()),
        }))
    }

    /// What the runtime made on this host that no server record names (after a crash; a
    /// consistent appliance has none).
    pub fn runtime_orphans(&self) -> Result<crate::runtime::Orphans> {
        let known = self
            .store
            .servers()?
            .iter()
            .filter_map(|row| row.server.name.parse().ok())
            .collect();
        Ok(self.runtime.orphans(&known)?)
    }

    /// The public key registration files are encrypted to.
    pub fn appliance_key(&self) -> Result<ApplianceKey> {
        let public = self.key.public_key();
        Ok(ApplianceKey {
            public_key: public.to_armored().map_err(ApplianceError::ApplianceKey)?,
            fingerprint: public.fingerprint(),
        })
    }

    /// Adds a registry.
    pub fn add_registry(&self, new: NewRegistry) -> Result<Registry> {
        check_name("name", &new.name)?;
        check_url("url", &new.url, UrlRule::RegistryHost)?;
        check_url("dct", &new.dct, UrlRule::HttpUrl)?;
        let row = RegistryRow {
            password_sealed: self.seal_password(&new.password)?,
            registry: Registry {
                has_password: !new.password.is_empty(),
                name: new.name,
                url: new.url,
                dct: new.dct,
                user: new.user,
            },
        };
        self.store.add_registry(&row)?;
        Ok(row.registry)
    }

    /// Every registry.
    pub fn registries(&self) -> Result<Vec<Registry>> {
        Ok(self
            .store
            .registries()?
            .into_iter()
            .map(|r| r.registry)
            .collect())
    }

    /// The registry `name`.
    pub fn registry(&self, name: &str) -> Result<Registry> {
        Ok(self.store.registry(name)?.registry)
    }

    /// Changes the fields of registry `name` that `update` gives.
    pub fn update_registry(&self, name: &str, update: RegistryUpdate) -> Result<Registry> {
        let mut row = self.store.registry(name)?;
        if let Some(url) = update.url {
            check_url("url", &url, UrlRule::RegistryHost)?;
            row.registry.url = url;
        }
        if let Some(dct) = update.dct {
            check_url("dct", &dct, UrlRule::HttpUrl)?;
            row.registry.dct = dct;
        }
        if let Some(user) = update.user {
            row.registry.user = user;
        }
        if let Some(password) = update.password {
            row.registry.has_password = !password.is_empty();
            row.password_sealed = self.seal_password(&password)?;
        }
        self.store.update_registry(&row)?;
        Ok(row.registry)
    }

    /// Deletes registry `name` (refused while a repository pulls from it).
    pub fn delete_registry(&self, name: &str) -> Result<()> {
        self.store.delete_registry(name)
    }

    fn seal_password(&self, password: &Secret) -> Result<Option<Vec<u8>>> {
        if password.is_empty() {
            return Ok(None);
        }
        self.sealer
            .seal("registry password", password.expose().as_bytes())
            .map(Some)
    }

    /// Registers a repository from its registration file, or (`update`) replaces one whose
    /// registration the same vendor key signed.
    pub fn put_repository(&self, new: NewRepository, update: bool) -> Result<Repository> {
        check_name("id", &new.id)?;
        if new.id == wire::SECURE_BUILD_REPOSITORY {
            return Err(if update {
                ApplianceError::InvalidField {
                    field: "id",
                    value: new.id,
                    expected: "a registered repository (the built-in one takes no registration file)",
                }
            } else {
                ApplianceError::Exists {
                    kind: "repository",
                    name: new.id,
                }
            });
        }
        let registered = if update {
            let row = self.store.repository(&new.id)?;
            Some(self.registration(&row)?)
        } else {
            None
        };
        let opened = ssc_register::seal::open(
            new.regfile.as_bytes(),
            &self.key,
            &OpenOptions {
                expected_vendor: None,
                registered: registered.as_ref(),
            },
        )
        .map_err(|source| ApplianceError::RegfileRejected { source })?;
        let registration = opened.registration;
        let registry = self.registry_for(&registration.repository_name)?;
        let row = RepositoryRow {
            repository: Repository {
                id: new.id,
                repository_name: registration.repository_name.clone(),
                root_key_id: registration.public_key_id.clone(),
                vendor_fingerprint: opened.signer_fingerprint,
                envs_whitelist: registration.user_envs().map(str::to_owned).collect(),
                cap_add: registration.cap_add.clone(),
                runtime: "runc".to_owned(),
                servers: Vec::new(),
            },
            registry: Some(registry),
            registration_sealed: Some(
                self.sealer.seal(
                    "registration",
                    &registration
                        .to_json()
                        .map_err(|source| ApplianceError::RegfileRejected { source })?,
                )?,
            ),
        };
        self.store.put_repository(&row, update)?;
        self.repository(&row.repository.id)
    }

    /// The registration of a stored repository, unsealed.
    pub(crate) fn registration(&self, row: &RepositoryRow) -> Result<Registration> {
        let sealed = row
            .registration_sealed
            .as_deref()
            .ok_or(ApplianceError::Unseal {
                what: "registration",
            })?;
        let json = self.sealer.open("registration", sealed)?;
        Registration::from_json(&json).map_err(|_| ApplianceError::Unseal {
            what: "registration",
        })
    }

    /// The registry whose host serves `repository_name` (`host[:port]/path`).
    fn registry_for(&self, repository_name: &str) -> Result<String> {
        let host = repository_name
            .split_once('/')
            .map_or(repository_name, |(host, _)| host);
        self.store
            .registries()?
            .into_iter()
            .find(|row| registry_host(&row.registry.url) == host)
            .map(|row| row.registry.name)
            .ok_or_else(|| ApplianceError::NoRegistryFor {
                repository_name: repository_name.to_owned(),
                host: host.to_owned(),
            })
    }

    /// Every repository, the built-in build server's first.
    pub fn repositories(&self) -> Result<Vec<Repository>> {
        let mut all = vec![self.repository(wire::SECURE_BUILD_REPOSITORY)?];
        all.extend(
            (self.store.repositories()?.into_iter())
                .map(|r| r.repository)
                .filter(|r| r.id != wire::SECURE_BUILD_REPOSITORY),
        );
        Ok(all)
    }

    /// The repository `id`.
    pub fn repository(&self, id: &str) -> Result<Repository> {
        if id == wire::SECURE_BUILD_REPOSITORY {
            return Ok(Repository {
                id: id.to_owned(),
                repository_name: id.to_owned(),
                root_key_id: String::new(),
                vendor_fingerprint: String::new(),
                envs_whitelist: crate::build_servers::BUILD_SERVER_ENV
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                cap_add: Vec::new(),
                runtime: "sbs".to_owned(),
                servers: self.store.repository(id)?.repository.servers,
            });
        }
        Ok(self.store.repository(id)?.repository)
    }

    /// Deletes repository `id`; with `force`, its servers first (and so its images).
    pub async fn delete_repository(
        self: &Arc<Self>,
        id: &str,
        force: bool,
    ) -> Result<RepositoryDeleted> {
        if id == wire::SECURE_BUILD_REPOSITORY {
            return Err(ApplianceError::InvalidField {
                field: "id",
                value: id.to_owned(),
                expected: "a registered repository (the built-in one cannot be deleted)",
            });
        }
        let row = self.store.repository(id)?;
        let mut servers = Vec::new();
        if force {
            for name in &row.repository.servers {
                self.delete_server(name).await?;
                servers.push(name.clone());
            }
        }
        let images = self.store.delete_repository(id)?;
        for digest in &images {
            self.remove_image_files(digest);
        }
        Ok(RepositoryDeleted {
            id: id.to_owned(),
            servers,
            images,
        })
    }

    /// Makes a quotagroup.
    pub fn create_quotagroup(&self, new: NewQuotagroup) -> Result<Quotagroup> {
        check_name("name", &new.name)?;
        if new.size == 0 {
            return Err(ApplianceError::InvalidField {
                field: "size",
                value: "0".to_owned(),
                expected: "a size above zero",
            });
        }
        let group = Quotagroup {
            pool_id: format!("pool-{}", &hex_digest(new.name.as_bytes())[..12]),
            name: new.name,
            size: new.size,
            filesystem: new.filesystem,
            passthrough: new.passthrough,
            containers: Vec::new(),
            available: new.size,
        };
        self.store.add_quotagroup(&group)?;
        Ok(group)
    }

    /// Every quotagroup.
    pub fn quotagroups(&self) -> Result<Vec<Quotagroup>> {
        self.store.quotagroups()
    }

    /// The quotagroup `name`.
    pub fn quotagroup(&self, name: &str) -> Result<Quotagroup> {
        self.store.quotagroup(name)
    }

    /// Deletes quotagroup `name` (refused while a server has a mount in it).
    pub fn delete_quotagroup(&self, name: &str) -> Result<()> {
        self.store.delete_quotagroup(name)
    }

    /// Every image in the store.
    pub fn images(&self) -> Result<Vec<wire::Image>> {
        self.store.images()
    }

    /// Deletes image `digest` (refused while a server runs it).
    pub fn delete_image(&self, digest: &str) -> Result<()> {
        self.store.delete_image(digest)?;
        self.remove_image_files(digest);
        Ok(())
    }

    /// The shared image store: one OCI layout, each blob once.
    pub(crate) fn image_layout_dir(&self) -> PathBuf {
        self.options.state_dir.join("images")
    }

    /// Where a server's root filesystem is unpacked.
    pub(crate) fn rootfs_dir(&self, server: &str) -> PathBuf {
        self.options.state_dir.join("rootfs").join(server)
    }

    fn remove_image_files(&self, digest: &str) {
        // Blobs shared with other images stay; only the image's own unpack cache goes.
        let cache = self.image_dir(digest);
        if let Err(error) = std::fs::remove_dir_all(&cache)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%digest, %error, "removing an image's files");
        }
    }

    /// Creates a new server, for [`Appliance::create_server`] to deploy.
    pub(crate) fn check_new_server(&self, new: &NewVirtualServer) -> Result<Repository> {
        check_name("name", &new.name)?;
        let repository = self.repository(&new.repo)?;
        // The lab sets RUNQ_ROOTDISK for its build server itself.
        let built_in = new.repo == wire::SECURE_BUILD_REPOSITORY;
        for name in new.env.keys() {
            if !built_in && wire::RESERVED_ENV.contains(&name.as_str()) {
                return Err(ApplianceError::EnvReserved { name: name.clone() });
            }
            if !repository.envs_whitelist.contains(name) {
                return Err(ApplianceError::EnvNotWhitelisted {
                    name: name.clone(),
                    repo: repository.id.clone(),
                    whitelist: repository.envs_whitelist.clone(),
                });
            }
        }
        Ok(repository)
    }
}

/// The appliance's OpenPGP key from `path`, made at first start (Ed25519 with a Curve25519
/// encryption subkey; gpg encrypts to it). The file is the appliance's secret: 0600.
fn appliance_key(path: &Path) -> Result<SecretKey> {
    if let Some(armored) = state_files::read_secret(path)? {
        return SecretKey::from_armored(&armored, Secret::default())
            .map_err(ApplianceError::ApplianceKey);
    }
    let key = SecretKey::generate(
        KeyKind::Ed25519,
        "hpvs-sim appliance <appliance@hpvs-sim.invalid>",
        Secret::default(),
    )
    .map_err(ApplianceError::ApplianceKey)?;
    let armored = key.to_armored().map_err(ApplianceError::ApplianceKey)?;
    state_files::write_secret(path, armored.as_bytes())?;
    Ok(key)
}

/// `host[:port]` of a registry URL given as `host[:port]` or `scheme://host[:port][/]`.
pub(crate) fn registry_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.trim_end_matches('/')
}

pub(crate) fn hex_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Names of registries, repositories, quotagroups and servers: they become paths, hostnames
/// and URL segments.
fn check_name(field: &'static str, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with(['.', '-']);
    if valid {
        Ok(())
    } else {
        Err(ApplianceError::InvalidField {
            field,
            value: name.to_owned(),
            expected: "1 to 63 of a-z, A-Z, 0-9, '-', '_', '.', not starting with '.' or '-'",
        })
    }
}

enum UrlRule {
    /// `host[:port]` or an http(s) URL of one.
    RegistryHost,
    /// An http(s) URL.
    HttpUrl,
}

fn check_url(field: &'static str, url: &str, rule: UrlRule) -> Result<()> {
    let has_scheme = url.starts_with("https://") || url.starts_with("http://");
    let host = registry_host(url);
    let valid = !host.is_empty()
        && !host.contains(['/', ' ', '?', '#', '@'])
        && match rule {
            UrlRule::RegistryHost => true,
            UrlRule::HttpUrl => has_scheme,
        };
    if valid {
        Ok(())
    } else {
        Err(ApplianceError::InvalidField {
            field,
            value: url.to_owned(),
            expected: match rule {
                UrlRule::RegistryHost => "host[:port] or http(s)://host[:port]",
                UrlRule::HttpUrl => "an http(s)://host[:port] URL",
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls_are_checked_before_they_become_paths() {
        for good in ["wallet", "sb_user00", "Repo.1"] {
            check_name("name", good).unwrap();
        }
        for bad in ["", "../x", "a/b", ".hidden", "-x", "a b", &"x".repeat(64)] {
            assert!(check_name("name", bad).is_err(), "{bad:?} accepted");
        }
        check_url("url", "127.0.0.1:5000", UrlRule::RegistryHost).unwrap();
        check_url("dct", "https://127.0.0.1:4443", UrlRule::HttpUrl).unwrap();
        assert!(check_url("dct", "127.0.0.1:4443", UrlRule::HttpUrl).is_err());
        assert!(check_url("url", "http://a/b", UrlRule::RegistryHost).is_err());
        assert_eq!(registry_host("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(registry_host("docker.io"), "docker.io");
    }
}
