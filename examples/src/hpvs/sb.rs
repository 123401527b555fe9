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
//! hpvs sb state export [--out FILE]        the state image, {name, export_tag, state}
//! hpvs sb state import --file FILE [--secret-file FILE]
//! ```
//!
//! The client's `SECRET` (base64 of 128 random bytes, one of the two secrets of the state
//! image) is made by `init` and kept next to the configuration in `.sb_secret.<regfile id>`
//! (mode 0600); `update` and `state import` send it again. `init` also records the
//! `regfile.id` and `docker.repo` it sent (`.sb_init.<regfile id>.json`, 0600): `update`
//! refuses to change them before it calls the server. `docker.push_server` and
//! `docker.base_server` may name `hpvs registry` entries ([`super::sb_config::registries`]).
//! Failures print `ERROR: <CODE> <message>` on stderr and exit with 1; a failed build too
//! (`BUILD_FAILED`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use hpvs_api::sbs_wire::{BuildStatus, StateImage};
use hpvs_api::{Error, SbsClient, SbsConfig, Secret};

use super::output::{Output, print_json};
use super::sb_config::{ConfigError, Credentials, SbConfig, registries};
use super::table::Table;

#[path = "sb_files.rs"]
mod files;

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
    /// docker.push_server and docker.base_server name `hpvs registry` entries, as in the
    /// real CLI: the entry's URL is the server, its DCT URL the Notary server, its user the
    /// registry user (the appliance from --host or HPVS_URL, HPVS_TOKEN, HPVS_CACERT). A value
    /// with `://`, `.` or `:` (a URL, host or host:port), or `localhost`, is sent as given.
    /// The passwords come from SB_DOCKER_PASSWORD (required) and SB_DOCKER_BASE_PASSWORD;
    /// users from SB_DOCKER_USER (required unless the push entry has a user) and
    /// SB_DOCKER_BASE_USER; SB_DOCKER_RO_USER, SB_DOCKER_RO_PASSWORD are the pull credentials
    /// of the registration; SB_DCT_PUSH_SERVER, SB_DCT_BASE_SERVER the DCT servers of
    /// addresses. The client's SECRET is made and kept in .sb_secret.ID (ID: regfile.id),
    /// and regfile.id and docker.repo in .sb_init.ID.json, next to the configuration (0600).
    Init,
    /// Update the build parameters (PATCH /image).
    ///
    /// regfile.id and docker.repo may not change from what `init` sent (recorded when init
    /// ran from this directory: refused with ERROR: CONFIG before the server is called; the
    /// server refuses it too); the SECRET saved by `init` is sent again.
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
    /// Export or import the server's state image (its DCT and manifest keys and settings).
    ///
    /// The state is sealed under the client's SECRET and a secret of the appliance that
    /// never leaves it: it imports only into a build server of the same appliance, with the
    /// same SECRET. After an import, run `hpvs sb update`, then `hpvs sb build`: the
    /// repository is signed with the same root key.
    State {
        /// Export or import.
        #[command(subcommand)]
        command: StateCommand,
    },
}

/// `hpvs sb state ...`.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Save the state image (GET /state-image) as its JSON {name, export_tag, state}.
    ///
    /// The file is made with mode 0600 and never replaces an existing one.
    Export {
        /// The file to write (default: the name the server gives, in the current directory).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Restore a state image (POST /state-image) into the configured build server.
    Import {
        /// A file written by `hpvs sb state export`.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// The file holding the SECRET it was exported under (default: .sb_secret.ID that
        /// `init` saved next to the configuration).
        #[arg(long, value_name = "FILE")]
        secret_file: Option<PathBuf>,
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
    /// A file to write exists already.
    #[error("will not overwrite {path}: remove it or choose another file")]
    WouldOverwrite {
        /// The file.
        path: String,
    },
    /// A registry value names an `hpvs registry` entry, and the appliance could not be
    /// asked for its registries.
    #[error("{key} names the registry {name:?}: asking the appliance for it")]
    RegistryLookup {
        /// The configuration key.
        key: &'static str,
        /// The name.
        name: String,
        /// Why the appliance could not answer.
        #[source]
        source: super::failure::CliError,
    },
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
            Self::File { .. } | Self::Runtime(_) | Self::WouldOverwrite { .. } => "IO".into(),
            Self::RegistryLookup { source, .. } => source.code().into(),
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

/// The `hpvs registry` entries the configuration's registry values name, resolved through
/// the appliance (asked only when a value is a name).
async fn resolve_registries(
    config: &SbConfig,
    host: Option<&str>,
) -> Result<registries::Resolved, SbError> {
    let names = registries::names(&config.docker);
    let Some(&(role, name)) = names.first() else {
        return Ok(registries::Resolved::default());
    };
    let lookup = |source| SbError::RegistryLookup {
        key: role.key(),
        name: name.to_owned(),
        source,
    };
    let list = super::input::connect(host)
        .map_err(lookup)?
        .registries()
        .await
        .map_err(|e| lookup(e.into()))?;
    Ok(registries::resolve(&config.docker, &list)?)
}

/// The init parameters of the configuration, the registries it names, the environment's
/// credentials and `secret`.
async fn params(
    config: &SbConfig,
    base: &Path,
    secret: &Secret,
    host: Option<&str>,
) -> Result<serde_json::Value, SbError> {
    let resolved = resolve_registries(config, host).await?;
    let credentials = Credentials::from_lookup_with(|v| std::env::var(v).ok(), &resolved)
        .map_err(SbError::MissingEnv)?;
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

/// `hpvs sb state export|import`.
async fn state(
    client: &SbsClient,
    config: &SbConfig,
    base: &Path,
    command: StateCommand,
    out: Output,
) -> Result<(), SbError> {
    match command {
        StateCommand::Export { out: file } => {
            let image = client.export_state().await?;
            let path = match file {
                Some(path) => path,
                None => PathBuf::from(files::state_file_name(&image.name)?),
            };
            let text = serde_json::to_vec_pretty(&image)
                .map_err(|e| SbError::BadAnswer(format!("cannot encode the state image: {e}")))?;
            files::write_new_private(&path, &text)?;
            if out.json {
                print_json(&serde_json::json!({
                    "file": path, "name": image.name, "export_tag": image.export_tag
                }));
            } else {
                crate::outln!("{}", path.display());
            }
        }
        StateCommand::Import { file, secret_file } => {
            let text = read(&file)?;
            let image: StateImage = serde_json::from_slice(&text).map_err(|e| {
                SbError::BadAnswer(format!(
                    "{} is not a state image of `hpvs sb state export` ({e})",
                    file.display()
                ))
            })?;
            let secret = match secret_file {
                Some(path) => files::read_secret(&path)?,
                None => files::secret(config, base, false)?,
            };
            said(out, &client.import_state(&secret, &image.state).await?);
        }
    }
    Ok(())
}

/// Runs one `hpvs sb` command.
///
/// `host` is the appliance's URL (`--host`), for `regfile` without `--appliance-key`.
pub async fn run(args: SbArgs, host: Option<&str>, out: Output) -> Result<(), SbError> {
    let (config, base) = load(&args.config)?;
    let client = connect(&config, &base)?;
    match args.command {
        SbCommand::Init => {
            let record = config.init_record()?;
            let secret = files::secret(&config, &base, true)?;
            let params = params(&config, &base, &secret, host).await?;
            let answer = client.init(&params).await?;
            files::save_record(&base, &record)?;
            said(out, &answer);
        }
        SbCommand::Update => {
            let now = config.init_record()?;
            if let Some(recorded) = files::find_record(&base, &now.sbs_url, &now.regfile_id)? {
                config.check_update(&recorded)?;
            }
            let secret = files::secret(&config, &base, false)?;
            let params = params(&config, &base, &secret, host).await?;
            said(out, &client.update(&params).await?);
        }
        SbCommand::State { command } => state(&client, &config, &base, command, out).await?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_errors_have_their_codes_and_name_what_to_do() {
        let overwrite = SbError::WouldOverwrite {
            path: "state.json".into(),
        };
        assert_eq!(
            overwrite.line(),
            "ERROR: IO will not overwrite state.json: remove it or choose another file"
        );
        let changed = SbError::Config(ConfigError::Changed {
            key: "secure_build_workers.docker.repo",
            init: "lab/wallet".into(),
            now: "lab/other".into(),
        });
        assert!(
            changed
                .line()
                .starts_with("ERROR: CONFIG secure_build_workers.docker.repo may not change"),
            "{}",
            changed.line()
        );
        let lookup = SbError::RegistryLookup {
            key: "secure_build_workers.docker.push_server",
            name: "lab".into(),
            source: super::super::failure::CliError::from(Error::MissingEnv {
                variable: "HPVS_URL",
            }),
        };
        let line = lookup.line();
        assert!(line.starts_with("ERROR: CONFIG secure_build_workers.docker.push_server names the registry \"lab\": asking the appliance for it: "), "{line}");
        assert!(line.contains("HPVS_URL"), "{line}");
    }
}
