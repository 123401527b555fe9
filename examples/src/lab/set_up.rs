//! Step 1: the stack (notary-server, docker-registry, the git host, hpvs-sim), the registry
//! entry on the appliance, the deploy key on the git host with the sample application pushed
//! there, the Debian base image signed by its vendor, and the build server's mutual-TLS
//! material.

use std::path::Path;

use devstack::{
    DEFAULT_PASSPHRASE, GitHost, HpvsSim, HpvsSimOptions, ListenerSecurity, NotaryOptions,
    NotaryServer, ProductionNotary, Registry, RegistryOptions,
};
use hpvs_api::{ApplianceConfig, Secret};
use keymgmt::PrivateKey;
use keymgmt::fsutil::Existing;
use keymgmt::keystore::KeyStore;
use keymgmt::mtls::{MtlsMaterial, SubjectAltName};
use keymgmt::passphrase::{Fixed, Passphrase};
use keymgmt::ssh::{DeployKey, SshKeyKind};
use notary_client::metadata::FileMeta;
use notary_client::repository::{Client as NotaryClient, InitOptions, KeyHolder};
use notary_client::transport::{Security, ServerConfig};
use oci_push::{ImageRef, Layout, PushOptions};

use super::error::{InStep as _, LabError, Step};
use super::{
    HpvsCli, Lab, LabNotary, LabOptions, Made, REGISTRY_NAME, REPOSITORY_ID, Stack, base_image,
};
use crate::{detail, stage};

const STEP: Step = Step::SetUp;
/// The base image's repository and tag, as the application's Dockerfile names it.
pub(crate) const BASE_REPOSITORY: &str = "hpvs-lab/debian-python";
pub(crate) const BASE_TAG: &str = "bookworm";

impl Lab {
    /// Step 1: starts the stack and prepares what the build needs.
    pub async fn set_up(options: LabOptions) -> Result<Lab, LabError> {
        std::fs::create_dir_all(&options.out).in_step(STEP, "create the output directory")?;
        stage(
            STEP.number(),
            6,
            "set up: notary-server, registry, git host, appliance (hpvs-sim); registry entry, \
             deploy key, base image, build-server TLS material",
        );
        let notary_options = NotaryOptions::with_security(ListenerSecurity::Tls);
        let notary = if options.production_notary {
            LabNotary::Production(Box::new(
                ProductionNotary::start(notary_options).in_step(STEP, "start notary")?,
            ))
        } else {
            LabNotary::Embedded(Box::new(
                NotaryServer::start(notary_options).in_step(STEP, "start notary-server")?,
            ))
        };
        let notary_ca = notary_ca(notary.server())?;
        let registry =
            Registry::start(RegistryOptions::default()).in_step(STEP, "start docker-registry")?;
        let git = GitHost::start().in_step(STEP, "start the git host (sshd)")?;
        let appliance = HpvsSim::start(HpvsSimOptions {
            binary: None,
            outbound_ca_pem: Some(notary_ca.clone()),
        })
        .in_step(STEP, "start the appliance emulator (hpvs-sim)")?;
        detail(format!("notary-server {}", notary.server().url()));
        if let LabNotary::Production(production) = &notary {
            detail(format!(
                "notary-signer {} and PostgreSQL 127.0.0.1:{} (production topology)",
                production.signer().address(),
                production.postgres().port()
            ));
        }
        detail(format!("registry      {}", registry.url()));
        detail(format!("git host      ssh://127.0.0.1:{}", git.port()));
        detail(format!("appliance     {} (hpvs-sim)", appliance.url()));

        let env = vec![
            ("HPVS_URL".to_owned(), appliance.url().to_owned()),
            ("HPVS_TOKEN".to_owned(), appliance.token().to_owned()),
            (
                "HPVS_CACERT".to_owned(),
                appliance.ca_cert().display().to_string(),
            ),
        ];
        let hpvs = HpvsCli::new(&options.hpvs_binary, env, &options.out);
        let ca_pem = std::fs::read(appliance.ca_cert()).in_step(STEP, "read hpvs-sim's CA")?;
        let api = hpvs_api::Client::new(
            ApplianceConfig::new(appliance.url(), Secret::new(appliance.token().to_owned()))
                .with_ca_pem(ca_pem),
        )
        .in_step(STEP, "configure the appliance client")?;
        let mut lab = Lab {
            options,
            stack: Some(Stack {
                appliance,
                git,
                registry,
                notary,
            }),
            hpvs,
            api,
            made: Made::default(),
        };
        let look = lab.options.out.join("logs");
        lab.add_registry()
            .await
            .map_err(|e| e.look_at(look.join("hpvs-sim.log")))?;
        lab.push_source()?;
        lab.publish_base_image(&notary_ca).await?;
        lab.make_tls_material()?;
        Ok(lab)
    }

    /// `hpvs registry add`: the registry with its Notary URL (anonymous pulls).
    async fn add_registry(&mut self) -> Result<(), LabError> {
        let registry_url = format!("http://{}", self.stack().registry.host());
        let notary_url = self.stack().notary.server().url().to_owned();
        self.hpvs.run(
            STEP,
            &[
                "registry",
                "add",
                "--name",
                REGISTRY_NAME,
                "--dct",
                &notary_url,
                "--url",
                &registry_url,
                "--user",
                "",
            ],
            Some(""),
            &[],
        )?;
        let added = self
            .api
            .registry(REGISTRY_NAME)
            .await
            .in_step(STEP, "read the registry entry back")?;
        detail(format!(
            "the appliance lists {} ({}, notary {})",
            added.name, added.url, added.dct
        ));
        Ok(())
    }

    /// The deploy key (OpenSSH), authorised on the git host; the sample application's
    /// source committed and pushed to the repository the build server clones.
    fn push_source(&mut self) -> Result<(), LabError> {
        let out = self.options.out.clone();
        let key = DeployKey::generate(SshKeyKind::Ed25519, "hpvs-lab deploy key")
            .in_step(STEP, "make the deploy key")?;
        let paths = key
            .write_pair(&out, "github_key", Existing::Replace)
            .in_step(STEP, "write the deploy key")?;
        let git = &self.stack().git;
        git.authorize(&key.public_line())
            .in_step(STEP, "authorise the deploy key on the git host")?;
        detail(format!(
            "deploy key {} {} in {} (authorised on the git host)",
            key.algorithm(),
            key.fingerprint_sha256(),
            paths.private.display()
        ));
        let url = git
            .create_repository(REPOSITORY_ID)
            .in_step(STEP, "create the git repository")?;
        let source = out.join("lab-app");
        let _ = std::fs::remove_dir_all(&source);
        copy_tree(&app_source_dir(), &source).in_step(STEP, "copy the sample application")?;
        git.push_tree(REPOSITORY_ID, &source, "Bitcoin wallet stand-in")
            .in_step(STEP, format!("commit and push the source to {url}"))?;
        detail(format!(
            "pushed examples/lab-app (the wallet stand-in) to {url}"
        ));
        Ok(())
    }

    /// The Debian base image (mmdebstrap, cached), pushed and signed by the base vendor
    /// with Docker Content Trust, so the build server can verify its `FROM`.
    async fn publish_base_image(&mut self, notary_ca: &[u8]) -> Result<(), LabError> {
        let base = base_image::prepare(&self.options.base_image)
            .await
            .in_step(STEP, "prepare the Debian base image")?;
        detail(format!(
            "base image {} ({}, cached in {})",
            base.digest,
            if base.made_now {
                "made now with mmdebstrap"
            } else {
                "from the cache"
            },
            self.options.base_image.cache_dir.display()
        ));
        let registry = self.stack().registry.host();
        let gun = format!("{registry}/{BASE_REPOSITORY}");
        let layout = Layout::open(&base.layout_dir).in_step(STEP, "open the base image")?;
        let client = oci_push::Client::new(oci_push::ClientOptions {
            security: oci_push::Security::InsecureHttp,
            ..Default::default()
        })
        .in_step(STEP, "configure the registry client")?;
        let target = ImageRef::parse(&format!("{gun}:{BASE_TAG}")).in_step(STEP, "name it")?;
        let pushed = client
            .push_layout(&layout, Some(&base.tag), &target, &PushOptions::default())
            .await
            .in_step(STEP, format!("push {target}"))?;
        let trust = self.options.out.join("base-vendor-trust");
        let passphrase = Fixed(Passphrase::new(DEFAULT_PASSPHRASE));
        let store = KeyStore::open(&trust).in_step(STEP, "open the base vendor's key store")?;
        let root_id = store
            .add(&PrivateKey::generate_ecdsa(), "root", None, &passphrase)
            .in_step(STEP, "make the base vendor's root key")?;
        let config = ServerConfig {
            url: self.stack().notary.server().url().to_owned(),
            security: Security::Https,
            ca_pem: Some(notary_ca.to_vec()),
            ..Default::default()
        };
        let signer = NotaryClient::new(&trust, &config, passphrase)
            .in_step(STEP, "configure the notary client")?;
        let repo = signer
            .repository(&gun)
            .in_step(STEP, "open the base image's trust data")?;
        repo.init(&InitOptions {
            root_key: Some(root_id.clone()),
            snapshot: KeyHolder::Server,
        })
        .await
        .in_step(STEP, format!("init the trust data of {gun}"))?;
        repo.add_target(BASE_TAG, FileMeta::from(&pushed), &[])
            .in_step(STEP, "stage the base tag")?;
        repo.publish()
            .await
            .in_step(STEP, format!("sign {gun}:{BASE_TAG}"))?;
        detail(format!(
            "pushed and signed {gun}:{BASE_TAG} -> {} (base vendor root {})",
            pushed.digest,
            &root_id.as_str()[..12]
        ));
        Ok(())
    }

    /// The build server's CA, server and client certificates, and their one-line env forms.
    fn make_tls_material(&mut self) -> Result<(), LabError> {
        let material = MtlsMaterial::generate("sbs.hpvs-lab.example", &SubjectAltName::loopback())
            .in_step(STEP, "make the build server's TLS material")?;
        let dir = self.options.out.join("sbs-mtls");
        let paths = material
            .write_pem_files(&dir)
            .in_step(STEP, "write the build server's TLS files")?;
        let env = material.lab_env();
        let mut lines = String::new();
        for (name, value) in env.vars() {
            lines.push_str(&format!("{name}={value}\n"));
            let shown = if name == "SERVER_KEY" {
                "[secret, not shown]".to_owned()
            } else {
                format!("{}...", &value[..24.min(value.len())])
            };
            detail(format!("{name}={shown} ({} characters)", value.len()));
        }
        keymgmt::fsutil::write_atomic(
            &dir.join("sbs.env"),
            lines.as_bytes(),
            0o600,
            Existing::Replace,
        )
        .in_step(STEP, "write the build server's env file")?;
        detail(format!(
            "CA, server and client certificates in {} (client: {})",
            dir.display(),
            paths.client_cert.display()
        ));
        Ok(())
    }
}

/// The PEM of the notary-server's CA.
fn notary_ca(server: &NotaryServer) -> Result<Vec<u8>, LabError> {
    let tls = server
        .tls()
        .ok_or_else(|| LabError::new(STEP, "read notary's CA", "notary-server has no TLS"))?;
    std::fs::read(&tls.ca_cert).in_step(STEP, "read notary's CA")
}

/// `examples/lab-app` of this checkout.
pub(crate) fn app_source_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lab-app")
}

/// Copies the regular files and directories of `from` into `to` (no symlinks: the sample
/// application has none), keeping the executable bits.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            if entry.file_name() != "__pycache__" {
                copy_tree(&entry.path(), &target)?;
            }
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
