//! The HPVS secure build lab, step by step, as a library: the `lab` binary walks the steps in
//! order, and the tests walk the same steps and look at each outcome through the appliance API.
//!
//! The lab is what a user of the appliance does, on the embedded default stack (devstack):
//! notary-server, docker-registry, a git host over SSH and hpvs-sim, the appliance emulator,
//! all on loopback. Every appliance and build-server action is the lab's own `hpvs` command,
//! run as a child process with `HPVS_URL`, `HPVS_TOKEN` and `HPVS_CACERT` set, its command
//! line and output printed; the lab checks the outcome itself before it goes on.
//!
//! 1. [`Lab::set_up`]: the stack, `hpvs registry add`, the deploy key on the git host, the
//!    sample application pushed there, the base image signed by its vendor, the build
//!    server's mutual-TLS material.
//! 2. [`Lab::secure_build`]: the build server as a virtual server, the vendor's OpenPGP key,
//!    `hpvs sb init|build|status|log|manifest|pubkey|regfile`.
//! 3. [`Lab::register`]: `hpvs repository register`.
//! 4. [`Lab::deploy`]: `hpvs vs create` of the application.
//! 5. [`Lab::access`]: the wallet over HTTPS, as its user would; [`Lab::screenshot`] in a
//!    headless browser.
//! 6. [`Lab::clean_up`]: servers, quotagroups, repository and trust data deleted, the stack
//!    stopped, nothing left mounted or running.
//!
//! # Example
//!
//! ```no_run
//! # async fn lab() -> Result<(), examples::lab::LabError> {
//! use examples::lab::{Lab, LabOptions};
//!
//! let options = LabOptions::new("/tmp/lab-out", "target/debug/hpvs");
//! let mut lab = Lab::set_up(options).await?;
//! lab.secure_build().await?;
//! lab.register().await?;
//! lab.deploy().await?;
//! let visit = lab.access().await?;
//! println!("receive address {}", visit.address);
//! lab.clean_up().await?;
//! # Ok(()) }
//! ```

pub mod access;
pub mod base_image;
mod clean_up;
mod deploy;
mod error;
mod hpvs_cli;
pub mod screenshot;
mod secure_build;
mod set_up;

use std::path::{Path, PathBuf};

pub use access::WalletVisit;
pub use error::{LabError, Step};
pub use hpvs_cli::HpvsCli;

use devstack::{GitHost, HpvsSim, NotaryServer, ProductionNotary, Registry};

/// The application's repository name in the registry and on notary.
pub const APP_REPOSITORY: &str = "hpvs-lab/bitcoin-wallet";
/// The registration's id (`hpvs repository register --id`, `sb_config.yaml`'s `regfile.id`).
pub const REPOSITORY_ID: &str = "bitcoin-wallet";
/// The name of the registry entry on the appliance.
pub const REGISTRY_NAME: &str = "lab-registry";
/// The build server's virtual server.
pub const BUILD_SERVER: &str = "sbserver";
/// The build server's quotagroup.
pub const BUILD_QUOTAGROUP: &str = "sb_user00";
/// The application's virtual server; also its hostname and its certificate's CN.
pub const APP_SERVER: &str = "bitcoin-wallet";
/// The application's quotagroup.
pub const APP_QUOTAGROUP: &str = "wallet_qg";
/// The lab's wallet user.
pub const WALLET_USER: &str = "satoshi";

/// How to run the lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Where the outputs are kept: keys, certificates, `sb_config.yaml`, the manifest, the
    /// registration file, logs.
    pub out: PathBuf,
    /// The `hpvs` binary the lab runs for each appliance and build-server command.
    pub hpvs_binary: PathBuf,
    /// notary-server on PostgreSQL with a separate notary-signer, instead of in memory.
    pub production_notary: bool,
    /// Where the Debian base image is cached between runs.
    pub base_image: base_image::BaseImageOptions,
}

impl LabOptions {
    /// The defaults (embedded notary, the default base-image cache) with `out` and the `hpvs`
    /// binary.
    pub fn new(out: impl Into<PathBuf>, hpvs_binary: impl Into<PathBuf>) -> LabOptions {
        LabOptions {
            out: out.into(),
            hpvs_binary: hpvs_binary.into(),
            production_notary: false,
            base_image: base_image::BaseImageOptions::default(),
        }
    }
}

/// The lab's notary: the embedded in-memory server, or the production topology.
enum LabNotary {
    Embedded(Box<NotaryServer>),
    Production(Box<ProductionNotary>),
}

impl LabNotary {
    fn server(&self) -> &NotaryServer {
        match self {
            LabNotary::Embedded(server) => server,
            LabNotary::Production(production) => production.server(),
        }
    }
}

/// The running stack. Field order matters: the appliance stops (and deletes its servers)
/// before the registry, notary and the git host go.
struct Stack {
    appliance: HpvsSim,
    git: GitHost,
    registry: Registry,
    notary: LabNotary,
}

/// What the steps made, for the steps after them.
#[derive(Debug, Default, Clone)]
struct Made {
    /// The build server's host port.
    sbs_port: u16,
    /// The application's host port (container port 443).
    app_port: u16,
    /// `sb_config.yaml`.
    sb_config: PathBuf,
    /// The vendor's armored public key.
    vendor_public: PathBuf,
    /// The vendor key's passphrase.
    vendor_passphrase: String,
    /// The last build's name and image tag.
    build_name: String,
    image_tag: String,
    /// The DCT root key id the build server made (what the registration pins).
    root_key_id: String,
    /// The registration file.
    regfile: PathBuf,
    /// The digest the application's tag was signed to.
    app_digest: String,
}

/// The lab in progress: the stack, the `hpvs` CLI pointed at it, and what each step made.
pub struct Lab {
    options: LabOptions,
    stack: Option<Stack>,
    hpvs: HpvsCli,
    api: hpvs_api::Client,
    made: Made,
}

impl Lab {
    /// The appliance's API client (the same appliance the `hpvs` commands use).
    pub fn api(&self) -> &hpvs_api::Client {
        &self.api
    }

    /// The `hpvs` CLI as the lab runs it (with the appliance's environment).
    pub fn hpvs(&self) -> &HpvsCli {
        &self.hpvs
    }

    /// The output directory.
    pub fn out(&self) -> &Path {
        &self.options.out
    }

    /// The application's host port.
    pub fn app_port(&self) -> u16 {
        self.made.app_port
    }

    /// The application's base URL, by its hostname (a client maps it to loopback, as
    /// [`access::WalletClient`] does): `https://bitcoin-wallet:PORT`.
    pub fn app_url(&self) -> String {
        format!("https://{APP_SERVER}:{}", self.made.app_port)
    }

    /// The DCT root key id the build server signed with (known after step 2).
    pub fn root_key_id(&self) -> &str {
        &self.made.root_key_id
    }

    /// The build server's client, with the lab's client certificate (after step 1).
    pub fn sbs_client(&self) -> Result<hpvs_api::SbsClient, LabError> {
        secure_build::sbs_client(self)
    }

    /// The application's gun: `<registry host>/hpvs-lab/bitcoin-wallet`.
    pub fn app_gun(&self) -> String {
        format!("{}/{APP_REPOSITORY}", self.stack().registry.host())
    }

    /// The Go `notary` client configured for the lab's notary-server (a fresh trust dir).
    pub fn go_notary(&self) -> Result<devstack::NotaryCli, LabError> {
        devstack::NotaryCli::new(self.stack().notary.server())
            .map_err(|e| LabError::new(Step::SecureBuild, "start the Go notary client", e))
    }

    /// `export` lines for the `hpvs` environment, notary and the registry, so a user can go
    /// on by hand.
    pub fn env_lines(&self) -> Vec<String> {
        let stack = self.stack();
        let mut lines = stack.appliance.env_lines();
        lines.push(format!("export NOTARY_URL={}", stack.notary.server().url()));
        if let Some(tls) = stack.notary.server().tls() {
            lines.push(format!("export NOTARY_CA={}", tls.ca_cert.display()));
        }
        lines.push(format!("export REGISTRY={}", stack.registry.host()));
        lines
    }

    fn stack(&self) -> &Stack {
        match &self.stack {
            Some(stack) => stack,
            None => unreachable!("the stack lives until clean_up consumes the lab"),
        }
    }

    /// Copies the services' logs into `<out>/logs/` (their directories go with the stack),
    /// so a failure can be looked at afterwards; returns that directory.
    pub fn keep_logs(&self) -> PathBuf {
        let dir = self.options.out.join("logs");
        let _ = std::fs::create_dir_all(&dir);
        if let Some(stack) = &self.stack {
            let logs = [
                ("hpvs-sim.log", stack.appliance.log_path()),
                ("git-host.log", stack.git.log_path()),
            ];
            for (name, path) in logs {
                let _ = std::fs::copy(path, dir.join(name));
            }
        }
        dir
    }
}

/// A port nobody listens on now, on loopback.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}
