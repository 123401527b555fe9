//! `hpvs sb`: the Secure Build Server's commands over [`hpvs_api::SbsClient`], configured by
//! the lab's `sb_config.yaml` ([`super::sb_config`]).
//!
//! ```text
//! hpvs sb init|update|status|clean --config sb_config.yaml
//! hpvs sb build [--timeout MINUTES]        OK: async build started, progress, final status
//! hpvs sb log [--name build]
//! hpvs sb manifest --name B [--out DIR]    writes manifest.B.sig.tbz
//! hpvs sb pubkey --name B [--out FILE]     the manifest key (PEM), to FILE or stdout
//! echo "$PASS" | hpvs sb regfile --out yaml.ID.enc [--appliance-key FILE]
//! ```
//!
//! The client's `SECRET` (base64 of 128 random bytes, one of the two secrets of the state
//! image) is made by `init` and kept next to the configuration in `.sb_secret.<regfile id>`
//! (mode 0600); `update` sends it again. Failures print `ERROR: <CODE> <message>` on stderr
//! and exit with 1; a failed build too (`BUILD_FAILED`).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use clap::{Args, Subcommand};
use hpvs_api::sbs_wire::BuildStatus;
use hpvs_api::{Error, SbsClient, SbsConfig, Secret};

use super::output::{Output, print_json};
use super::sb_config::{ConfigError, Credentials, SbConfig};
use super::table::Table;

/// `hpvs sb ...`: the subcommand and the configuration file.
#[derive(Debug, Args)]
pub struct SbArgs {
    /// The lab's sb_config.yaml.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = "sb_config.yaml"
    )]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: SbCommand,
}

/// The `hpvs sb` subcommands.
#[derive(Debug, Subcommand)]
pub enum SbCommand {
    /// Send the build parameters (POST /image).
    ///
    /// docker.push_server and base_server are sent as given (a host or URL): the real CLI
    /// resolves them through `hpvs registry` entries. The registry credentials and DCT
    /// servers come from SB_DOCKER_USER, SB_DOCKER_PASSWORD (required), SB_DOCKER_BASE_USER,
    /// SB_DOCKER_BASE_PASSWORD, SB_DOCKER_RO_USER, SB_DOCKER_RO_PASSWORD, SB_DCT_PUSH_SERVER,
    /// SB_DCT_BASE_SERVER. The client's SECRET is made and kept in .sb_secret.ID (ID: regfile.id)
    /// next to the configuration.
    Init,
    /// Update the build parameters (PATCH /image).
    ///
    /// regfile.id and docker.repo may not change; the SECRET saved by `init` is sent again.
    Update,
    /// Start a build and wait for its end.
    Build {
        /// How long to wait, in minutes.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Show the build status.
    Status,
    /// Print a log.
    Log {
        /// The log's name.
        #[arg(long, default_value = "build")]
        name: String,
    },
    /// Save a build's signed manifest (manifest.NAME.sig.tbz).
    Manifest {
        /// The build's name (from `hpvs sb status`).
        #[arg(long)]
        name: String,
        /// The directory to write it in.
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
    },
    /// Print or save the public key of a build's manifest.
    Pubkey {
        /// The build's name.
        #[arg(long)]
        name: String,
        /// The file to write it to (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Clear the build data and logs (DELETE /image).
    Clean,
    /// Write the repository registration file of the latest build.
    ///
    /// The registration data (GET /config-json) is signed with signing_key.private_key_path
    /// (its passphrase read from standard input, one line) and encrypted to the appliance's
    /// key: the file --appliance-key, else the appliance's own (`hpvs appliance key`, from
    /// --host or HPVS_URL, HPVS_TOKEN, HPVS_CACERT).
    Regfile {
        /// The file to write, e.g. yaml.ID.enc.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The appliance's armored OpenPGP public key (default: asked of the appliance).
        #[arg(long, value_name = "FILE")]
        appliance_key: Option<PathBuf>,
    },
}

/// Why an `hpvs sb` command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SbError {
    /// The build server refused the call, or could not be reached or configured.
    #[error(transparent)]
    Server(#[from] Error),
    /// `sb_config.yaml` is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A required environment variable is unset.
    #[error("the environment variable {0} is not set")]
    MissingEnv(&'static str),
    /// A local file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    File {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The build ended with a failure status.
    #[error("{0}")]
    BuildFailed(String),
    /// An answer that cannot be used (a manifest that is not base64).
    #[error("{0}")]
    BadAnswer(String),
    /// The appliance (for its key) could not be asked.
    #[error(transparent)]
    Appliance(super::failure::CliError),
    /// A key or the registration could not be made into a registration file.
    #[error(transparent)]
    Registration(#[from] ssc_register::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl SbError {
    /// The upper-case tag of the `ERROR:` line.
    pub fn code(&self) -> String {
        match self {
            Self::Server(Error::SbsRefused { status, .. }) => status.to_string(),
            Self::Server(Error::SbsUnreachable { .. }) => "CONNECTION".into(),
            Self::Server(Error::BuildTimeout { .. }) => "TIMEOUT".into(),
            Self::Server(Error::InvalidConfig { .. } | Error::InvalidName { .. }) => {
                "CONFIG".into()
            }
            Self::Server(_) | Self::BadAnswer(_) => "BAD_ANSWER".into(),
            Self::Config(_) | Self::MissingEnv(_) => "CONFIG".into(),
            Self::File { .. } | Self::Runtime(_) => "IO".into(),
            Self::BuildFailed(_) => "BUILD_FAILED".into(),
            Self::Appliance(error) => error.code().into(),
            Self::Registration(_) => "REGISTRATION".into(),
        }
    }

    /// `ERROR: <CODE> <message>` (the server's own message for a refusal; the causes of a
    /// connection failure, which name the TLS check that failed).
    pub fn line(&self) -> String {
        let message = match self {
            Self::Server(Error::SbsRefused { message, .. }) => message.clone(),
            other => {
                let mut text = other.to_string();
                let mut source = std::error::Error::source(other);
                while let Some(cause) = source {
                    text.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                text
            }
        };
        format!("ERROR: {} {message}", self.code())
    }
}

/// Runs `args` on a fresh runtime; prints the error line and returns the exit code.
pub fn main(args: SbArgs, host: Option<&str>, json: bool) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SbError::Runtime)
        .and_then(|runtime| runtime.block_on(run(args, host, Output { json })));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "{}", error.line());
            ExitCode::FAILURE
        }
    }
}

/// Reads a whole file, naming it in the error.
fn read(path: &Path) -> Result<Vec<u8>, SbError> {
    std::fs::read(path).map_err(|source| SbError::File {
        action: "read",
        path: path.display().to_string(),
        source,
    })
}

/// Writes a whole file, naming it in the error.
fn write(path: &Path, bytes: &[u8]) -> Result<(), SbError> {
    std::fs::write(path, bytes).map_err(|source| SbError::File {
        action: "write",
        path: path.display().to_string(),
        source,
    })
}

/// The configuration and the directory its relative paths are relative to.
fn load(path: &Path) -> Result<(SbConfig, PathBuf), SbError> {
    let text = read(path)?;
    let config = SbConfig::parse(&String::from_utf8_lossy(&text), path)?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    Ok((config, base))
}

/// The client of the configured server.
fn connect(config: &SbConfig, base: &Path) -> Result<SbsClient, SbError> {
    let key = read(&SbConfig::resolve(base, &config.sbs.key_path))?;
    Ok(SbsClient::new(SbsConfig {
        url: config.sbs_url()?,
        ca_cert_pem: read(&SbConfig::resolve(base, &config.sbs.ca_cert_path))?,
        client_cert_pem: read(&SbConfig::resolve(base, &config.sbs.cert_path))?,
        client_key_pem: Secret::new(String::from_utf8_lossy(&key).into_owned()),
    })?)
}

/// The file holding the client's `SECRET` for the configured registration.
fn secret_path(config: &SbConfig, base: &Path) -> PathBuf {
    base.join(format!(".sb_secret.{}", config.regfile.id))
}

/// The client's `SECRET`: read from its file, or (when `create`) made and saved.
fn secret(config: &SbConfig, base: &Path, create: bool) -> Result<Secret, SbError> {
    let path = secret_path(config, base);
    if path.exists() || !create {
        let text = read(&path)?;
        return Ok(Secret::new(
            String::from_utf8_lossy(&text).trim().to_owned(),
        ));
    }
    let mut bytes = [0u8; 128];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| SbError::File {
            action: "read",
            path: "/dev/urandom".into(),
            source,
        })?;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| SbError::File {
            action: "write",
            path: path.display().to_string(),
            source,
        })?;
    Ok(Secret::new(text))
}

/// The init parameters of the configuration, the environment's credentials and `secret`.
fn params(config: &SbConfig, base: &Path, secret: &Secret) -> Result<serde_json::Value, SbError> {
    let credentials =
        Credentials::from_lookup(|v| std::env::var(v).ok()).map_err(SbError::MissingEnv)?;
    let github_key = match &config.github.ssh_private_key_path {
        Some(path) => String::from_utf8_lossy(&read(&SbConfig::resolve(base, path))?).into_owned(),
        None => String::new(),
    };
    Ok(config.init_params(&github_key, secret.expose(), &credentials)?)
}

/// The status as a `PROPERTIES | VALUES` table.
pub fn status_table(status: &BuildStatus) -> Table {
    let mut table = Table::properties();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    table
        .property("status", &status.status)
        .property("build_name", text(&status.build_name))
        .property("image_tag", text(&status.image_tag))
        .property("build_image_tag", text(&status.build_image_tag))
        .property("manifest_key_gen", text(&status.manifest_key_gen))
        .property("manifest_public_key", text(&status.manifest_public_key))
        .property(
            "root_ssh_enabled",
            status
                .root_ssh_enabled
                .map(|b| b.to_string())
                .unwrap_or_default(),
        );
    table
}

/// Prints the server's `{"status"}` word, or the answer as JSON.
fn said(out: Output, answer: &hpvs_api::sbs_wire::StatusAnswer) {
    if out.json {
        print_json(answer);
    } else {
        crate::outln!("{}", answer.status);
    }
}

/// Runs one `hpvs sb` command.
///
/// `host` is the appliance's URL (`--host`), for `regfile` without `--appliance-key`.
pub async fn run(args: SbArgs, host: Option<&str>, out: Output) -> Result<(), SbError> {
    let (config, base) = load(&args.config)?;
    let client = connect(&config, &base)?;
    match args.command {
        SbCommand::Init => {
            let secret = secret(&config, &base, true)?;
            said(out, &client.init(&params(&config, &base, &secret)?).await?);
        }
        SbCommand::Update => {
            let secret = secret(&config, &base, false)?;
            said(
                out,
                &client.update(&params(&config, &base, &secret)?).await?,
            );
        }
        SbCommand::Build { timeout } => {
            said(out, &client.build().await?);
            let mut last = String::new();
            let done = client
                .wait_for_build(Duration::from_secs(timeout.saturating_mul(60)), |s| {
                    if s.status != last {
                        let _ = writeln!(std::io::stderr(), "status: {}", s.status);
                        last.clone_from(&s.status);
                    }
                })
                .await?;
            out.show(&done, status_table);
            if done.failed() {
                return Err(SbError::BuildFailed(done.status));
            }
        }
        SbCommand::Status => out.show(&client.status().await?, status_table),
        SbCommand::Log { name } => {
            let log = client.log(&name).await?;
            if out.json {
                print_json(&serde_json::json!({ "log": log }));
            } else {
                crate::outln!("{}", log.trim_end());
            }
        }
        SbCommand::Manifest { name, out: dir } => {
            let manifest = client.manifest(Some(&name)).await?;
            let bytes = manifest
                .decode()
                .ok_or_else(|| SbError::BadAnswer("the manifest is not base64".to_owned()))?;
            let path = dir.join(manifest.file_name());
            write(&path, &bytes)?;
            if out.json {
                print_json(&serde_json::json!({ "manifest": path, "bytes": bytes.len() }));
            } else {
                crate::outln!("{}", path.display());
            }
        }
        SbCommand::Pubkey { name, out: file } => {
            let key = client.public_key(Some(&name)).await?;
            match file {
                Some(path) => {
                    write(&path, key.public_key_pem.as_bytes())?;
                    crate::outln!("{}", path.display());
                }
                None if out.json => print_json(&key),
                None => crate::outln!("{}", key.public_key_pem.trim_end()),
            }
        }
        SbCommand::Clean => said(out, &client.clean().await?),
        SbCommand::Regfile {
            out: path,
            appliance_key,
        } => {
            let data = client.config_json().await?;
            let appliance = match appliance_key {
                Some(file) => read(&file)?,
                None => super::input::connect(host)
                    .map_err(SbError::Appliance)?
                    .appliance_key()
                    .await
                    .map_err(|e| SbError::Appliance(e.into()))?
                    .public_key
                    .into_bytes(),
            };
            let appliance = ssc_register::PublicKey::from_armored(&appliance)?;
            let vendor_path =
                config
                    .signing_key
                    .private_key_path
                    .as_ref()
                    .ok_or(ConfigError::Missing {
                        key: "secure_build_workers.signing_key.private_key_path",
                    })?;
            let passphrase =
                super::input::read_password(std::io::stdin().lock()).map_err(SbError::Appliance)?;
            let vendor = ssc_register::SecretKey::from_armored(
                &read(&SbConfig::resolve(&base, vendor_path))?,
                passphrase,
            )?;
            let sealed = super::sb_regfile::seal_registration(&data, &vendor, &appliance)?;
            write(&path, sealed.as_bytes())?;
            crate::outln!("{}", path.display());
        }
    }
    Ok(())
}
