//! `hpvs-sim`: the appliance emulator as a process. Flag parsing, then library calls.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hpvs_sim::{Appliance, ApplianceOptions};
use registry_http::Secret;

/// The HPVS appliance emulator: the appliance API over HTTPS, virtual servers under runc.
#[derive(Debug, Parser)]
#[command(version)]
struct Flags {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves the appliance API (after reconciling what runs with what is recorded).
    Serve(ServeFlags),
    /// Deletes every virtual server of the state directory (containers, mounts, loop
    /// devices, namespaces, root filesystems and records), then exits.
    Teardown(StateFlags),
}

#[derive(Debug, Args)]
struct StateFlags {
    /// Where the appliance keeps its database, keys, images and servers.
    #[arg(long)]
    state_dir: PathBuf,
}

#[derive(Debug, Args)]
struct ServeFlags {
    #[command(flatten)]
    state: StateFlags,
    /// The address to listen on (port 0: a free one; the line `hpvs-sim listening on
    /// https://ADDR` on stdout says which).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The server's certificate chain (PEM).
    #[arg(long)]
    tls_cert: PathBuf,
    /// The server's private key (PEM).
    #[arg(long)]
    tls_key: PathBuf,
    /// The admin bearer token's file: read when it exists, else a new token is written
    /// to it (0600). Default: `<state-dir>/admin-token`.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// CA certificates (PEM) trusted for the registries' and Notary servers' HTTPS instead
    /// of the platform's roots.
    #[arg(long)]
    outbound_ca: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let outcome = match Flags::parse().command {
        Command::Serve(flags) => serve(flags).await,
        Command::Teardown(flags) => teardown(flags).await,
    };
    if let Err(error) = outcome {
        eprintln!("hpvs-sim: {error}");
        std::process::exit(1);
    }
}

fn require_root() -> Result<(), Box<dyn std::error::Error>> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    Err(
        "hpvs-sim needs root: it runs workloads under runc, loop-mounts quota volumes and \
         makes network namespaces (run it with sudo)"
            .into(),
    )
}

async fn serve(flags: ServeFlags) -> Result<(), Box<dyn std::error::Error>> {
    require_root()?;
    let outbound_ca_pem = match &flags.outbound_ca {
        Some(path) => {
            Some(std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?)
        }
        None => None,
    };
    let state_dir = flags.state.state_dir;
    let token_file = (flags.token_file).unwrap_or_else(|| state_dir.join("admin-token"));
    let appliance = Appliance::open(ApplianceOptions {
        state_dir,
        outbound_ca_pem,
    })?;
    let token = hpvs_sim::serve::admin_token(&token_file)?;
    appliance.reconcile().await?;
    let tls = hpvs_sim::serve::tls_config(&flags.tls_cert, &flags.tls_key)?;
    let listener = tokio::net::TcpListener::bind(flags.listen).await?;
    let address = listener.local_addr()?;
    let router = hpvs_sim::api::router(appliance, Secret::new(token));
    let mut stdout = std::io::stdout();
    writeln!(stdout, "hpvs-sim listening on https://{address}")?;
    stdout.flush()?;
    hpvs_sim::serve::serve(listener, tls, router, shutdown_signal()).await?;
    Ok(())
}

async fn teardown(flags: StateFlags) -> Result<(), Box<dyn std::error::Error>> {
    require_root()?;
    let appliance = Appliance::open(ApplianceOptions {
        state_dir: flags.state_dir,
        outbound_ca_pem: None,
    })?;
    for name in appliance.delete_all_servers().await? {
        println!("deleted virtual server {name}");
    }
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
