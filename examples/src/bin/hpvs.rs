//! `hpvs`: the HPVS appliance's CLI, with the lab's commands, over `hpvs_api::Client`.
//!
//! ```text
//! echo "$TOKEN" | hpvs registry add --name R --dct URL --url URL --user U
//! hpvs registry list | show --name R | update --name R [--url U] [--dct U] [--user U]
//!                      [--password-stdin] | delete --name R
//! hpvs quotagroup create --name Q --size 40GB [--filesystem btrfs] [--passthrough]
//! hpvs quotagroup list | show --name Q | delete --name Q
//! hpvs repository register|update --pgp yaml.ID.enc --id ID
//! hpvs repository list | show --id ID | delete --id ID [--force]
//! hpvs vs create --name N --repo R --tag T --cpu 2 --ram 2048 \
//!     --quotagroup "{quotagroup = Q, mountid = new, mount = /newroot, filesystem = ext4, size = 4GB}" \
//!     --env={K=V,...} --ports "{containerport = 443, protocol = tcp, hostport = 30000}" \
//!     [--no-wait] [--timeout SECONDS]
//! hpvs vs list | show --name N | log --name N [--tail N] | start|stop|restart|delete --name N
//! hpvs image list | delete --digest sha256:...
//! hpvs appliance key
//! hpvs sb init|update|build [--timeout MINUTES]|status|log|manifest --name B|pubkey --name B|clean \
//!     --config sb_config.yaml;  echo "$PASS" | hpvs sb regfile --out yaml.ID.enc
//! hpvs sb state export [--out FILE] | import --file FILE [--secret-file FILE]
//! ```
//!
//! The appliance is found from `--host URL` (or `HPVS_URL`), `HPVS_TOKEN` and `HPVS_CACERT`.
//! `--json` prints the answers as JSON instead of tables. Failures print
//! `ERROR: <CODE> <message>` on stderr and exit with 1.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use examples::hpvs::braces::{parse_env, parse_mount, parse_port};
use examples::hpvs::failure::CliError;
use examples::hpvs::input::{
    check_new_password, check_password, connect, read_password, read_regfile,
};
use examples::hpvs::output::{Output, print_json, wait_with_progress};
use examples::hpvs::views;
use examples::outln;
use hpvs_api::wire::{
    Filesystem, NewQuotagroup, NewRegistry, NewRepository, NewVirtualServer, RegistryUpdate,
    ServerState, parse_size,
};
use hpvs_api::{Force, Secret};

#[derive(Parser)]
#[command(
    name = "hpvs",
    about = "Administer an HPVS appliance: registries, repositories, quotagroups, virtual servers"
)]
struct Cli {
    /// The appliance's URL, e.g. https://127.0.0.1:34567 (overrides HPVS_URL).
    #[arg(long, global = true, value_name = "URL")]
    host: Option<String>,
    /// Print the answers as JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Container registries and their Notary servers.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Storage pools that virtual servers mount.
    #[command(subcommand)]
    Quotagroup(QuotagroupCommand),
    /// Repositories registered from encrypted, signed registration files.
    #[command(subcommand)]
    Repository(RepositoryCommand),
    /// Virtual servers.
    #[command(subcommand)]
    Vs(VsCommand),
    /// Images in the appliance's store.
    #[command(subcommand)]
    Image(ImageCommand),
    /// The appliance itself.
    #[command(subcommand)]
    Appliance(ApplianceCommand),
    /// The Secure Build Server (mutual TLS, configured by sb_config.yaml).
    Sb(examples::hpvs::sb::SbArgs),
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Add a registry; the password (or token) is read from standard input, one line.
    Add {
        #[arg(long)]
        name: String,
        /// The Notary (Docker Content Trust) server's URL.
        #[arg(long)]
        dct: String,
        /// The registry, HOST or HOST:PORT, or a URL.
        #[arg(long)]
        url: String,
        /// The user to pull as (empty for anonymous; then no password is needed).
        #[arg(long, default_value = "")]
        user: String,
    },
    /// List the registries.
    List,
    /// Show one registry (never its password).
    Show {
        #[arg(long)]
        name: String,
    },
    /// Change a registry's fields.
    Update {
        #[arg(long)]
        name: String,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        dct: Option<String>,
        #[arg(long)]
        user: Option<String>,
        /// Read a new password from standard input, one line.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a registry no repository uses.
    Delete {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum QuotagroupCommand {
    /// Create a quotagroup.
    Create {
        #[arg(long)]
        name: String,
        /// Its size, e.g. 40GB.
        #[arg(long)]
        size: String,
        /// ext4, xfs or btrfs.
        #[arg(long, default_value = "btrfs")]
        filesystem: String,
        /// A passthrough device.
        #[arg(long)]
        passthrough: bool,
    },
    /// List the quotagroups.
    List,
    /// Show one quotagroup.
    Show {
        #[arg(long)]
        name: String,
    },
    /// Delete a quotagroup no server mounts.
    Delete {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum RepositoryCommand {
    /// Register a repository from its registration file (yaml.ID.enc).
    Register {
        /// The ASCII-armored, encrypted and signed registration file.
        #[arg(long, value_name = "FILE")]
        pgp: PathBuf,
        #[arg(long)]
        id: String,
    },
    /// Replace a registration (signed by the same vendor key).
    Update {
        #[arg(long, value_name = "FILE")]
        pgp: PathBuf,
        #[arg(long)]
        id: String,
    },
    /// List the repositories.
    List,
    /// Show one repository.
    Show {
        #[arg(long)]
        id: String,
    },
    /// Delete a repository; --force also deletes its virtual servers and images.
    Delete {
        #[arg(long)]
        id: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum VsCommand {
    /// Create a virtual server and wait until it runs (or failed).
    Create {
        #[arg(long)]
        name: String,
        /// The repository ID.
        #[arg(long)]
        repo: String,
        #[arg(long)]
        tag: String,
        #[arg(long)]
        cpu: u32,
        /// Memory in MiB.
        #[arg(long)]
        ram: u64,
        /// A mount (repeatable): "{quotagroup = Q, mountid = ID, mount = /PATH, filesystem =
        /// ext4, size = 4GB}", optionally with "reset_root = true".
        #[arg(long, value_name = "{...}")]
        quotagroup: Vec<String>,
        /// K=V or {K=V,K2="v,2",...} (repeatable).
        #[arg(long, value_name = "K=V|{...}")]
        env: Vec<String>,
        /// "{containerport = 443, protocol = tcp, hostport = 30000}" (repeatable).
        #[arg(long, alias = "port", value_name = "{...}")]
        ports: Vec<String>,
        /// Return once the appliance accepted it, without waiting.
        #[arg(long)]
        no_wait: bool,
        /// How long to wait for it to settle.
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        timeout: u64,
    },
    /// List the virtual servers.
    List,
    /// Show one virtual server.
    Show {
        #[arg(long)]
        name: String,
    },
    /// Print a virtual server's output.
    Log {
        #[arg(long)]
        name: String,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
    },
    /// Start a stopped virtual server.
    Start {
        #[arg(long)]
        name: String,
    },
    /// Stop a virtual server.
    Stop {
        #[arg(long)]
        name: String,
    },
    /// Restart a virtual server.
    Restart {
        #[arg(long)]
        name: String,
    },
    /// Delete a virtual server.
    Delete {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum ImageCommand {
    /// List the images.
    List,
    /// Delete an image no server runs.
    Delete {
        #[arg(long)]
        digest: String,
    },
}

#[derive(Subcommand)]
enum ApplianceCommand {
    /// Print the OpenPGP key registration files are encrypted to.
    Key,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cli = match cli.command {
        Command::Sb(args) => return examples::hpvs::sb::main(args, cli.host.as_deref(), cli.json),
        command => Cli { command, ..cli },
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Not eprintln!: a closed stderr must not turn a clean error into a panic.
            let _ = writeln!(std::io::stderr(), "{}", error.line());
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let out = Output { json: cli.json };
    let host = cli.host.as_deref();
    match cli.command {
        Command::Registry(command) => registry(command, host, out).await,
        Command::Quotagroup(command) => quotagroup(command, host, out).await,
        Command::Repository(command) => repository(command, host, out).await,
        Command::Vs(command) => virtual_server(command, host, out).await,
        Command::Image(command) => image(command, host, out).await,
        Command::Sb(_) => Ok(()), // handled in main, with its own errors
        Command::Appliance(ApplianceCommand::Key) => {
            let key = connect(host)?.appliance_key().await?;
            if out.json {
                print_json(&key);
            } else {
                outln!("{}", key.public_key.trim_end());
                outln!("Fingerprint: {}", key.fingerprint);
            }
            Ok(())
        }
    }
}

async fn registry(
    command: RegistryCommand,
    host: Option<&str>,
    out: Output,
) -> Result<(), CliError> {
    match command {
        RegistryCommand::Add {
            name,
            dct,
            url,
            user,
        } => {
            // Anonymous at a terminal: nothing to read, and a read would only block.
            let password = if user.is_empty() && std::io::stdin().is_terminal() {
                Secret::default()
            } else {
                read_password(std::io::stdin().lock())?
            };
            check_password(&user, &password)?;
            let new = NewRegistry {
                name,
                url,
                dct,
                user,
                password,
            };
            out.show(&connect(host)?.add_registry(&new).await?, views::registry);
        }
        RegistryCommand::List => out.show(
            connect(host)?.registries().await?.as_slice(),
            views::registries,
        ),
        RegistryCommand::Show { name } => {
            out.show(&connect(host)?.registry(&name).await?, views::registry);
        }
        RegistryCommand::Update {
            name,
            url,
            dct,
            user,
            password_stdin,
        } => {
            let password = if password_stdin {
                let password = read_password(std::io::stdin().lock())?;
                check_new_password(user.as_deref(), &password)?;
                Some(password)
            } else {
                None
            };
            let update = RegistryUpdate {
                url,
                dct,
                user,
                password,
            };
            let client = connect(host)?;
            out.show(
                &client.update_registry(&name, &update).await?,
                views::registry,
            );
        }
        RegistryCommand::Delete { name } => {
            connect(host)?.delete_registry(&name).await?;
            out.deleted("registry", &name);
        }
    }
    Ok(())
}

async fn quotagroup(
    command: QuotagroupCommand,
    host: Option<&str>,
    out: Output,
) -> Result<(), CliError> {
    match command {
        QuotagroupCommand::Create {
            name,
            size,
            filesystem,
            passthrough,
        } => {
            let size = parse_size(&size).map_err(|error| CliError::InvalidArgument {
                option: "--size",
                reason: error.to_string(),
            })?;
            let filesystem: Filesystem =
                filesystem
                    .parse()
                    .map_err(
                        |error: hpvs_api::wire::ParseError| CliError::InvalidArgument {
                            option: "--filesystem",
                            reason: error.to_string(),
                        },
                    )?;
            let new = NewQuotagroup {
                name,
                size,
                filesystem,
                passthrough,
            };
            out.show(
                &connect(host)?.create_quotagroup(&new).await?,
                views::quotagroup,
            );
        }
        QuotagroupCommand::List => out.show(
            connect(host)?.quotagroups().await?.as_slice(),
            views::quotagroups,
        ),
        QuotagroupCommand::Show { name } => {
            out.show(&connect(host)?.quotagroup(&name).await?, views::quotagroup);
        }
        QuotagroupCommand::Delete { name } => {
            connect(host)?.delete_quotagroup(&name).await?;
            out.deleted("quotagroup", &name);
        }
    }
    Ok(())
}

async fn repository(
    command: RepositoryCommand,
    host: Option<&str>,
    out: Output,
) -> Result<(), CliError> {
    match command {
        RepositoryCommand::Register { pgp, id } => {
            let new = NewRepository {
                id,
                regfile: read_regfile(&pgp)?,
            };
            let client = connect(host)?;
            out.show(&client.register_repository(&new).await?, views::repository);
        }
        RepositoryCommand::Update { pgp, id } => {
            let new = NewRepository {
                id,
                regfile: read_regfile(&pgp)?,
            };
            let client = connect(host)?;
            out.show(&client.update_repository(&new).await?, views::repository);
        }
        RepositoryCommand::List => {
            out.show(
                connect(host)?.repositories().await?.as_slice(),
                views::repositories,
            );
        }
        RepositoryCommand::Show { id } => {
            out.show(&connect(host)?.repository(&id).await?, views::repository);
        }
        RepositoryCommand::Delete { id, force } => {
            let force = if force {
                Force::DeleteServersAndImages
            } else {
                Force::RefuseIfInUse
            };
            let deleted = connect(host)?.delete_repository(&id, force).await?;
            if out.json {
                print_json(&deleted);
            } else {
                for line in views::repository_deleted(&deleted) {
                    outln!("{line}");
                }
            }
        }
    }
    Ok(())
}

async fn virtual_server(
    command: VsCommand,
    host: Option<&str>,
    out: Output,
) -> Result<(), CliError> {
    match command {
        VsCommand::Create {
            name,
            repo,
            tag,
            cpu,
            ram,
            quotagroup,
            env,
            ports,
            no_wait,
            timeout,
        } => {
            // Every flag is read before the appliance is asked anything.
            let new = NewVirtualServer {
                name,
                repo,
                tag,
                cpu,
                ram,
                quotagroups: quotagroup
                    .iter()
                    .map(|text| parse_mount(text))
                    .collect::<Result<_, _>>()?,
                env: parse_env(&env)?,
                ports: ports
                    .iter()
                    .map(|text| parse_port(text))
                    .collect::<Result<_, _>>()?,
            };
            let client = connect(host)?;
            let created = client.create_virtual_server(&new).await?;
            if no_wait {
                out.show(&created, views::virtual_server);
                return Ok(());
            }
            let settled =
                wait_with_progress(&client, &new.name, Duration::from_secs(timeout)).await?;
            out.show(&settled, views::virtual_server);
            if settled.state == ServerState::Failed {
                return Err(CliError::ServerFailed {
                    name: settled.name,
                    reason: settled.reason.unwrap_or_default(),
                });
            }
        }
        VsCommand::List => out.show(
            connect(host)?.virtual_servers().await?.as_slice(),
            views::virtual_servers,
        ),
        VsCommand::Show { name } => {
            out.show(
                &connect(host)?.virtual_server(&name).await?,
                views::virtual_server,
            );
        }
        VsCommand::Log { name, tail } => {
            let log = connect(host)?.logs(&name, tail).await?;
            if out.json {
                print_json(&serde_json::json!({"name": name, "log": log}));
            } else {
                for line in log.lines() {
                    outln!("{line}");
                }
            }
        }
        VsCommand::Start { name } => {
            out.show(&connect(host)?.start(&name).await?, views::virtual_server)
        }
        VsCommand::Stop { name } => {
            out.show(&connect(host)?.stop(&name).await?, views::virtual_server)
        }
        VsCommand::Restart { name } => {
            out.show(&connect(host)?.restart(&name).await?, views::virtual_server);
        }
        VsCommand::Delete { name } => {
            connect(host)?.delete_virtual_server(&name).await?;
            out.deleted("virtual server", &name);
        }
    }
    Ok(())
}

async fn image(command: ImageCommand, host: Option<&str>, out: Output) -> Result<(), CliError> {
    match command {
        ImageCommand::List => out.show(connect(host)?.images().await?.as_slice(), views::images),
        ImageCommand::Delete { digest } => {
            connect(host)?.delete_image(&digest).await?;
            out.deleted("image", &digest);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_labs_sb_commands_parse() {
        let cli = Cli::try_parse_from([
            "hpvs",
            "sb",
            "build",
            "--timeout",
            "20",
            "--config",
            "c.yaml",
        ])
        .unwrap();
        let Command::Sb(args) = cli.command else {
            panic!("not sb");
        };
        assert_eq!(args.config, PathBuf::from("c.yaml"));
        assert!(matches!(
            args.command,
            examples::hpvs::sb::SbCommand::Build { timeout: 20 }
        ));
        let cli = Cli::try_parse_from(["hpvs", "sb", "build"]).unwrap();
        let Command::Sb(args) = cli.command else {
            panic!("not sb");
        };
        assert_eq!(args.config, PathBuf::from("sb_config.yaml"));
        assert!(matches!(
            args.command,
            examples::hpvs::sb::SbCommand::Build { timeout: 10 }
        ));
        assert!(Cli::try_parse_from(["hpvs", "sb", "manifest"]).is_err());
        let cli =
            Cli::try_parse_from(["hpvs", "sb", "state", "export", "--out", "s.json"]).unwrap();
        let Command::Sb(args) = cli.command else {
            panic!("not sb");
        };
        assert!(matches!(
            args.command,
            examples::hpvs::sb::SbCommand::State {
                command: examples::hpvs::sb::StateCommand::Export { out: Some(_) }
            }
        ));
        let cli = Cli::try_parse_from([
            "hpvs", "sb", "state", "import", "--file", "s.json", "--config", "c.yaml",
        ])
        .unwrap();
        let Command::Sb(args) = cli.command else {
            panic!("not sb");
        };
        assert!(matches!(
            args.command,
            examples::hpvs::sb::SbCommand::State {
                command: examples::hpvs::sb::StateCommand::Import {
                    secret_file: None,
                    ..
                }
            }
        ));
        assert!(Cli::try_parse_from(["hpvs", "sb", "state", "import"]).is_err());
    }

    #[test]
    fn the_labs_vs_create_parses() {
        let cli = Cli::try_parse_from([
            "hpvs", "vs", "create", "--name", "sbserver_00", "--repo", "SecureDockerBuild",
            "--tag", "1.2.7.5", "--cpu", "2", "--ram", "2048",
            "--quotagroup", "{quotagroup = sb_user00, mountid = new, mount = /newroot, filesystem = ext4, size = 4GB, reset_root=true}",
            "--env=EX_VOLUMES=/docker,/data", "--env=ROOTFS_LOCK=y",
            "--ports", "{containerport = 443, protocol = tcp, hostport = 30000}",
            "--json", "--host", "https://127.0.0.1:1",
        ])
        .unwrap();
        assert!(cli.json);
        assert_eq!(cli.host.as_deref(), Some("https://127.0.0.1:1"));
        let Command::Vs(VsCommand::Create {
            env,
            quotagroup,
            ports,
            timeout,
            ..
        }) = cli.command
        else {
            panic!("not vs create");
        };
        assert_eq!(env, ["EX_VOLUMES=/docker,/data", "ROOTFS_LOCK=y"]);
        assert_eq!(parse_mount(&quotagroup[0]).unwrap().size, 4 << 30);
        assert_eq!(parse_port(&ports[0]).unwrap().hostport, 30000);
        assert_eq!(timeout, 600);
    }
}
