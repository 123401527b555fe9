//! `trust`: a notary-compatible Docker Content Trust CLI over `notary-client`.
//!
//! Flags, passphrase variables and `list` output follow the Go `notary` client. Errors go to
//! stderr with a non-zero exit.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use examples::outln;
use keymgmt::passphrase::Chain;
use notary_client::changelist::{Action, ChangeContent};
use notary_client::metadata::FileMeta;
use notary_client::repository::{
    Client, InitOptions, KeyHolder, KeyRotation, Reset, RootKeyChoice,
};
use notary_client::transport::ServerConfig;
use notary_client::verify::TrustPinning;

#[derive(Parser)]
#[command(
    name = "trust",
    about = "Docker Content Trust (Notary v1) client",
    version
)]
struct Cli {
    /// Remote trust server location.
    #[arg(short = 's', long = "server", global = true)]
    server: Option<String>,
    /// Directory where the trust data is persisted.
    #[arg(
        short = 'd',
        long = "trustDir",
        visible_alias = "trust-dir",
        global = true
    )]
    trust_dir: Option<PathBuf>,
    /// Trust server certificates signed by this CA.
    #[arg(long, global = true)]
    tlscacert: Option<PathBuf>,
    /// Client certificate for mutual TLS.
    #[arg(long, global = true, requires = "tlskey")]
    tlscert: Option<PathBuf>,
    /// Client key for mutual TLS.
    #[arg(long, global = true, requires = "tlscert")]
    tlskey: Option<PathBuf>,
    /// Pin the root of the GUN to this root certificate key ID (repeatable).
    #[arg(long = "pin-root-key-id", global = true)]
    pin_root_key_id: Vec<String>,
    /// Pin the root of the GUN to this root certificate (PEM); its key ID is pinned.
    #[arg(long = "pin-root-cert", global = true)]
    pin_root_cert: Option<PathBuf>,
    /// Trust only roots whose certificate this CA issued.
    #[arg(long = "pin-ca", global = true)]
    pin_ca: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Initialise a collection locally (publish with -p or `publish`).
    Init {
        gun: String,
        /// Publish at once.
        #[arg(short = 'p', long)]
        publish: bool,
        /// Let the server manage the snapshot key (as docker does).
        #[arg(long)]
        server_managed_snapshot: bool,
        /// Use this root key: a PEM key file (imported into the trust dir, decrypted with the
        /// root passphrase) or the ID of a key already in the trust dir.
        #[arg(long)]
        rootkey: Option<String>,
    },
    /// Stage a file as a target.
    Add {
        gun: String,
        target: String,
        file: PathBuf,
        #[arg(long = "roles", short = 'r')]
        roles: Vec<String>,
        #[arg(short = 'p', long)]
        publish: bool,
    },
    /// Stage a target given by length and sha256 (e.g. an image manifest).
    #[command(name = "add-hash", visible_alias = "addhash")]
    AddHash {
        gun: String,
        target: String,
        length: u64,
        #[arg(long)]
        sha256: String,
        #[arg(long = "roles", short = 'r')]
        roles: Vec<String>,
        #[arg(short = 'p', long)]
        publish: bool,
    },
    /// Stage the removal of a target.
    Remove {
        gun: String,
        target: String,
        #[arg(long = "roles", short = 'r')]
        roles: Vec<String>,
        #[arg(short = 'p', long)]
        publish: bool,
    },
    /// Publish the staged changes.
    Publish { gun: String },
    /// Show the staged changes.
    Status { gun: String },
    /// Drop staged changes: all of them, or those numbered as `status` lists them.
    Reset {
        gun: String,
        /// Drop every staged change.
        #[arg(long, conflicts_with = "number")]
        all: bool,
        /// Numbers of the changes to drop, as `status` lists them (repeatable or comma-separated).
        #[arg(short = 'n', long = "number", value_delimiter = ',')]
        number: Vec<usize>,
    },
    /// List the verified targets.
    List {
        gun: String,
        #[arg(long = "roles", short = 'r')]
        roles: Vec<String>,
    },
    /// Look up one target.
    Lookup { gun: String, target: String },
    /// Delegation operations.
    Delegation {
        #[command(subcommand)]
        command: DelegationCommand,
    },
    /// Print the `docker trust inspect` JSON of a collection.
    Inspect { gun: String },
    /// Key operations.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Delete the local trust data of a collection (cached metadata and staged changes; keys
    /// are kept).
    Delete {
        gun: String,
        /// Delete the trust data on the server too.
        #[arg(long)]
        remote: bool,
    },
}

#[derive(Subcommand)]
enum DelegationCommand {
    /// Add a delegation with the public keys or certificates in the PEM files.
    Add {
        gun: String,
        role: String,
        #[arg(required = true)]
        pem: Vec<PathBuf>,
        /// Let the delegation sign every target.
        #[arg(long, conflicts_with = "paths")]
        all_paths: bool,
        /// Target name prefixes the delegation may sign.
        #[arg(long, num_args = 1..)]
        paths: Vec<String>,
        #[arg(short = 'p', long)]
        publish: bool,
    },
    /// Remove a delegation.
    Remove {
        gun: String,
        role: String,
        #[arg(short = 'p', long)]
        publish: bool,
    },
    /// List the delegations.
    List { gun: String },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// List the keys in the trust dir.
    List,
    /// Rotate the key of a base role and publish the new root.
    Rotate {
        gun: String,
        role: String,
        /// Let the server manage the key (snapshot; always for timestamp).
        #[arg(short = 'r', long = "server-managed")]
        server_managed: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("* fatal: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("* fatal: {e}");
            let mut source = std::error::Error::source(e.as_ref());
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn read(path: &PathBuf) -> AnyResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

/// The Go client's server when none is configured; commands that stage or touch only the
/// trust dir never contact it.
const DEFAULT_SERVER: &str = "https://notary-server:4443";

fn client(cli: &Cli, needs_server: bool) -> AnyResult<Client> {
    let trust_dir = match &cli.trust_dir {
        Some(dir) => dir.clone(),
        None => PathBuf::from(std::env::var("HOME").map_err(|_| "HOME is not set: pass -d")?)
            .join(".notary"),
    };
    let url = match (&cli.server, needs_server) {
        (Some(url), _) => url.clone(),
        (None, false) => DEFAULT_SERVER.to_owned(),
        (None, true) => {
            return Err("no trust server: pass -s URL (e.g. https://notary.docker.io)".into());
        }
    };
    let client_identity_pem = match (&cli.tlscert, &cli.tlskey) {
        (Some(cert), Some(key)) => Some([read(cert)?, read(key)?].concat()),
        _ => None,
    };
    let config = ServerConfig {
        ca_pem: cli.tlscacert.as_ref().map(read).transpose()?,
        client_identity_pem,
        ..ServerConfig::from_url(url)?.with_notary_auth_from_env()?
    };
    let passphrases = Chain::cli_environment();
    Ok(Client::new(trust_dir, &config, passphrases)?)
}

fn pinning(cli: &Cli, gun: &str) -> AnyResult<TrustPinning> {
    let mut pinning = TrustPinning::default();
    for id in &cli.pin_root_key_id {
        pinning = pinning.pin_cert(gun, id.clone());
    }
    if let Some(path) = &cli.pin_root_cert {
        let cert = keymgmt::PublicKey::from_certificate_pem(&read(path)?)?;
        pinning = pinning.pin_cert(gun, cert.key_id().to_string());
    }
    if let Some(path) = &cli.pin_ca {
        pinning = pinning.pin_ca(gun, read(path)?);
    }
    Ok(pinning)
}

/// Prints rows aligned like Go's tabwriter with 4 spaces of padding.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let underline: Vec<String> = header.iter().map(|h| "-".repeat(h.len())).collect();
    let mut all: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect(), underline];
    all.extend(rows.iter().cloned());
    let columns = header.len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| all.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for row in &all {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == columns {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}", width = widths[c] + 4));
            }
        }
        outln!("{line}");
    }
}

/// Whether a command needs the server; staging and local commands run offline, as with Go.
fn needs_server(command: &Command) -> bool {
    match command {
        Command::Add { publish, .. }
        | Command::AddHash { publish, .. }
        | Command::Remove { publish, .. } => *publish,
        Command::Status { .. } | Command::Reset { .. } => false,
        Command::Delete { remote, .. } => *remote,
        Command::Delegation {
            command:
                DelegationCommand::Add { publish, .. } | DelegationCommand::Remove { publish, .. },
        } => *publish,
        _ => true,
    }
}

async fn run(cli: Cli) -> AnyResult<()> {
    if let Command::Key {
        command: KeyCommand::List,
    } = &cli.command
    {
        let dir = cli.trust_dir.clone().ok_or("pass -d TRUST_DIR")?;
        let store = keymgmt::keystore::KeyStore::open(&dir)?;
        let rows: Vec<Vec<String>> = store
            .list()?
            .into_iter()
            .map(|k| {
                vec![
                    k.role,
                    k.gun.unwrap_or_default(),
                    k.key_id.to_string(),
                    store.private_dir().display().to_string(),
                ]
            })
            .collect();
        print_table(&["ROLE", "GUN", "KEY ID", "LOCATION"], &rows);
        return Ok(());
    }
    let client = client(&cli, needs_server(&cli.command))?;
    let gun = match &cli.command {
        Command::Init { gun, .. }
        | Command::Add { gun, .. }
        | Command::AddHash { gun, .. }
        | Command::Remove { gun, .. }
        | Command::Publish { gun }
        | Command::Status { gun }
        | Command::Reset { gun, .. }
        | Command::List { gun, .. }
        | Command::Lookup { gun, .. }
        | Command::Inspect { gun }
        | Command::Key {
            command: KeyCommand::Rotate { gun, .. },
        }
        | Command::Delegation {
            command:
                DelegationCommand::Add { gun, .. }
                | DelegationCommand::Remove { gun, .. }
                | DelegationCommand::List { gun },
        }
        | Command::Delete { gun, .. } => gun.clone(),
        Command::Key {
            command: KeyCommand::List,
        } => unreachable_command()?,
    };
    let client = client.with_pinning(pinning(&cli, &gun)?);
    let repo = client.repository(&gun)?;
    let publish_now = match &cli.command {
        Command::Init {
            publish,
            server_managed_snapshot,
            rootkey,
            ..
        } => {
            let root_key = match rootkey {
                Some(value) => Some(root_key_from(&client, value)?),
                None => None,
            };
            let choice = repo
                .init(&InitOptions {
                    root_key,
                    snapshot: holder(*server_managed_snapshot),
                })
                .await?;
            if let RootKeyChoice::Given(id) | RootKeyChoice::Found(id) = &choice {
                outln!("Root key found, using: {id}");
            }
            *publish
        }
        Command::Add {
            target,
            file,
            roles,
            publish,
            ..
        } => {
            repo.add_target(target, FileMeta::of_bytes(&read(file)?), roles)?;
            outln!(
                "Addition of target \"{target}\" to repository \"{gun}\" staged for next publish."
            );
            *publish
        }
        Command::AddHash {
            target,
            length,
            sha256,
            roles,
            publish,
            ..
        } => {
            let meta = FileMeta::from_sha256_hex(sha256, *length)
                .ok_or_else(|| format!("--sha256 {sha256:?} is not 64 hex digits"))?;
            repo.add_target(target, meta, roles)?;
            outln!(
                "Addition of target \"{target}\" by hash to repository \"{gun}\" staged for next publish."
            );
            *publish
        }
        Command::Remove {
            target,
            roles,
            publish,
            ..
        } => {
            repo.remove_target(target, roles)?;
            outln!("Removal of {target} from {gun} staged for next publish.");
            *publish
        }
        Command::Publish { .. } => true,
        Command::Status { .. } => {
            let changes = repo.status()?;
            if changes.is_empty() {
                outln!("No unpublished changes for {gun}");
            } else {
                outln!("Unpublished changes for {gun}:\n");
                let rows: Vec<Vec<String>> = changes
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let action = match c.action {
                            Action::Create => "create",
                            Action::Update => "update",
                            Action::Delete => "delete",
                        };
                        let kind = match c.content {
                            ChangeContent::Target(_) => "target",
                            ChangeContent::Delegation(_) => "delegation",
                        };
                        vec![
                            i.to_string(),
                            action.to_owned(),
                            c.role.clone(),
                            kind.to_owned(),
                            c.path.clone(),
                        ]
                    })
                    .collect();
                print_table(&["#", "ACTION", "SCOPE", "TYPE", "PATH"], &rows);
            }
            false
        }
        Command::Reset { all, number, .. } => {
            let which = if *all {
                Reset::All
            } else if number.is_empty() {
                return Err("must specify changes to reset with -n or the --all flag".into());
            } else {
                Reset::Numbers(number.clone())
            };
            repo.reset(&which)?;
            outln!("Successfully reset specified changes for repository {gun}");
            false
        }
        Command::List { roles, .. } => {
            let state = read_state_warning_if_cached(&repo).await?;
            let rows: Vec<Vec<String>> = notary_client::repository::list_targets(&state)
                .into_iter()
                .filter(|t| roles.is_empty() || roles.contains(&t.role))
                .map(|t| {
                    let digest = t.sha256_hex().unwrap_or_default();
                    vec![t.name, digest, t.length.to_string(), t.role]
                })
                .collect();
            print_table(&["NAME", "DIGEST", "SIZE (BYTES)", "ROLE"], &rows);
            false
        }
        Command::Lookup { target, .. } => {
            let state = read_state_warning_if_cached(&repo).await?;
            let t = notary_client::repository::lookup_target(&state, &gun, target)?;
            outln!(
                "{} sha256:{} {}",
                t.name,
                t.sha256_hex().unwrap_or_default(),
                t.length
            );
            false
        }
        Command::Inspect { .. } => {
            let view = repo.inspect().await?;
            outln!("{}", serde_json::to_string_pretty(&[view])?);
            false
        }
        Command::Delegation { command } => match command {
            DelegationCommand::Add {
                role,
                pem,
                all_paths,
                paths,
                publish,
                ..
            } => {
                let keys = pem
                    .iter()
                    .map(|path| Ok(keymgmt::PublicKey::from_pem(&read(path)?)?))
                    .collect::<AnyResult<Vec<_>>>()?;
                let paths = if *all_paths {
                    vec![String::new()]
                } else {
                    paths.clone()
                };
                repo.add_delegation(role, &keys, &paths)?;
                outln!(
                    "Addition of delegation role {role} with {} key(s) to repository \"{gun}\" staged for next publish.",
                    keys.len()
                );
                *publish
            }
            DelegationCommand::Remove { role, publish, .. } => {
                repo.remove_delegation(role)?;
                outln!(
                    "Removal of delegation role {role} from repository \"{gun}\" staged for next publish."
                );
                *publish
            }
            DelegationCommand::List { .. } => {
                let state = repo.update().await?;
                let rows: Vec<Vec<String>> = notary_client::repository::list_delegations(&state)
                    .into_iter()
                    .map(|role| {
                        let paths = if role.covers_all() {
                            "\"\" <all paths>".to_owned()
                        } else {
                            role.paths.join(",")
                        };
                        vec![
                            role.name.clone(),
                            paths,
                            role.keyids.join(","),
                            role.threshold.to_string(),
                        ]
                    })
                    .collect();
                print_table(&["ROLE", "PATHS", "KEY IDS", "THRESHOLD"], &rows);
                false
            }
        },
        Command::Delete { remote, .. } => {
            outln!("Deleting trust data for repository {gun}");
            if *remote {
                repo.delete_remote().await?;
                outln!("Successfully deleted local and remote trust data for repository {gun}");
            } else {
                repo.delete_local()?;
                outln!("Successfully deleted local trust data for repository {gun}");
            }
            false
        }
        Command::Key {
            command:
                KeyCommand::Rotate {
                    role,
                    server_managed,
                    ..
                },
        } => {
            let rotation = KeyRotation::new(role, holder(*server_managed))?;
            let key = repo.rotate_key(rotation).await?;
            outln!(
                "Successfully rotated {role} key for repository {gun}: new key {}",
                key.key_id()
            );
            false
        }
        Command::Key {
            command: KeyCommand::List,
        } => unreachable_command()?,
    };
    if publish_now {
        repo.publish().await?;
        outln!("Successfully published changes for repository {gun}");
    }
    Ok(())
}

/// `--rootkey`: a key file to import as the root key, or a key ID in the trust dir.
fn root_key_from(client: &Client, value: &str) -> AnyResult<keymgmt::KeyId> {
    let path = PathBuf::from(value);
    if path.is_file() {
        let pem = read(&path)?;
        let passphrases = Chain::cli_environment();
        return Ok(client
            .keystore()
            .import_pem(&pem, "root", None, &passphrases, &passphrases)?);
    }
    keymgmt::KeyId::parse(value).ok_or_else(|| {
        format!("--rootkey {value:?} is neither a key file nor a 64-hex key ID").into()
    })
}

/// The key holder a `--server-managed-snapshot` or `-r` flag asks for.
fn holder(server_managed: bool) -> KeyHolder {
    if server_managed {
        KeyHolder::Server
    } else {
        KeyHolder::Local
    }
}

fn unreachable_command<T>() -> AnyResult<T> {
    Err("internal error: command dispatched twice".into())
}

/// The verified trust data, with Go's warning on stderr when it comes from the local cache
/// because the server did not answer for the collection.
async fn read_state_warning_if_cached(
    repo: &notary_client::repository::Repository<'_>,
) -> notary_client::Result<notary_client::update::TrustedState> {
    let state = repo.read_state().await?;
    if let Some(warning) = &state.from_cache {
        eprintln!("warning: {warning}");
    }
    Ok(state)
}
