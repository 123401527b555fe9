//! `devstack`: starts notary-server, docker-registry and (as root) the appliance emulator
//! hpvs-sim on free loopback ports, prints how to reach them, and runs until Ctrl-C or
//! SIGTERM.

use std::process::ExitCode;

use devstack::{
    HpvsSim, HpvsSimOptions, ListenerSecurity, NotaryOptions, NotaryServer, ProductionNotary,
    Registry, Stack, StackOptions,
};

const USAGE: &str = "\
usage: devstack [--tls | --mtls] [--production-notary] [--registry-tls]
                [--registry-auth USER:PASSWORD] [--no-appliance]

Starts notary-server (plain HTTP unless --tls or --mtls) and docker-registry on free
loopback ports, prints `export` lines to use them, and runs until Ctrl-C or SIGTERM.
--production-notary runs notary-server on PostgreSQL with a separate notary-signer (mutual
TLS) instead of in memory: collections survive restarts. As root, the appliance emulator
hpvs-sim starts too (build it first: cargo build -p hpvs-sim), trusting notary's CA, and
HPVS_URL, HPVS_TOKEN and HPVS_CACERT are printed; --no-appliance leaves it out.";

/// What the command line asks for.
struct Options {
    stack: StackOptions,
    production_notary: bool,
    appliance: bool,
}

/// The running peers, whichever topology.
enum Running {
    Embedded(Box<Stack>),
    Production(Box<(ProductionNotary, Registry)>),
}

impl Running {
    fn start(options: Options) -> Result<Running, devstack::Error> {
        let Options {
            stack,
            production_notary,
            ..
        } = options;
        if !production_notary {
            return Stack::start(stack).map(|stack| Running::Embedded(Box::new(stack)));
        }
        let notary = ProductionNotary::start(stack.notary)?;
        let registry = Registry::start(stack.registry)?;
        Ok(Running::Production(Box::new((notary, registry))))
    }

    fn notary(&self) -> &NotaryServer {
        match self {
            Running::Embedded(stack) => &stack.notary,
            Running::Production(production) => production.0.server(),
        }
    }

    fn registry(&self) -> &Registry {
        match self {
            Running::Embedded(stack) => &stack.registry,
            Running::Production(production) => &production.1,
        }
    }
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("devstack: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    if let Err(error) = ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    }) {
        eprintln!("devstack: cannot install the Ctrl-C handler: {error}");
        return ExitCode::FAILURE;
    }
    let appliance = options.appliance;
    let running = match Running::start(options) {
        Ok(running) => running,
        Err(error) => {
            eprintln!("devstack: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Running::Production(production) = &running {
        let notary = &production.0;
        println!(
            "# notary-signer {} (log {}), PostgreSQL 127.0.0.1:{} (log {})",
            notary.signer().address(),
            notary.signer().log_path().display(),
            notary.postgres().port(),
            notary.postgres().log_path().display()
        );
    }
    print_exports(running.notary(), running.registry());
    let _appliance = if appliance && nix::unistd::geteuid().is_root() {
        let outbound_ca_pem = match running.notary().tls() {
            Some(tls) => std::fs::read(&tls.ca_cert).ok(),
            None => None,
        };
        match HpvsSim::start(HpvsSimOptions {
            binary: None,
            outbound_ca_pem,
        }) {
            Ok(hpvs) => {
                println!(
                    "# hpvs-sim {} (state {}, log {})",
                    hpvs.url(),
                    hpvs.state_dir().display(),
                    hpvs.log_path().display()
                );
                for line in hpvs.env_lines() {
                    println!("{line}");
                }
                Some(hpvs)
            }
            Err(error) => {
                eprintln!("devstack: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        if appliance {
            println!("# hpvs-sim not started: it needs root (runc, loop mounts, namespaces)");
        }
        None
    };
    println!("# running; press Ctrl-C (or send SIGTERM) to stop");
    // Returns on a signal, or if the handler is gone (which cannot happen while we wait).
    let _ = stop_rx.recv();
    drop(running);
    eprintln!("devstack: stopped");
    ExitCode::SUCCESS
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = StackOptions::default();
    let mut production_notary = false;
    let mut appliance = true;
    let mut args = args;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--tls" => {
                options.notary = NotaryOptions {
                    security: ListenerSecurity::Tls,
                }
            }
            "--mtls" => {
                options.notary = NotaryOptions {
                    security: ListenerSecurity::MutualTls,
                }
            }
            "--production-notary" => production_notary = true,
            "--no-appliance" => appliance = false,
            "--registry-tls" => options.registry.tls = true,
            "--registry-auth" => {
                let value = args.next().ok_or("--registry-auth needs USER:PASSWORD")?;
                let (user, password) = value
                    .split_once(':')
                    .ok_or("--registry-auth needs USER:PASSWORD, with a colon")?;
                options.registry.basic_auth = Some((user.to_owned(), password.to_owned()));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(Options {
        stack: options,
        production_notary,
        appliance,
    }))
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn print_exports(notary: &NotaryServer, registry: &Registry) {
    println!(
        "# notary-server {} (log {})",
        notary.url(),
        notary.log_path().display()
    );
    println!(
        "# docker-registry {} (log {})",
        registry.url(),
        registry.log_path().display()
    );
    println!("export NOTARY_URL={}", shell_quote(notary.url()));
    println!("export REGISTRY={}", shell_quote(&registry.host()));
    println!("export REGISTRY_URL={}", shell_quote(registry.url()));
    let mut notary_flags = String::from("-s \"$NOTARY_URL\" -d \"$NOTARY_TRUST_DIR\"");
    if let Some(tls) = notary.tls() {
        println!(
            "export NOTARY_CA={}",
            shell_quote(&tls.ca_cert.display().to_string())
        );
        notary_flags.push_str(" --tlscacert \"$NOTARY_CA\"");
        if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
            println!(
                "export NOTARY_CLIENT_CERT={}",
                shell_quote(&cert.display().to_string())
            );
            println!(
                "export NOTARY_CLIENT_KEY={}",
                shell_quote(&key.display().to_string())
            );
            notary_flags
                .push_str(" --tlscert \"$NOTARY_CLIENT_CERT\" --tlskey \"$NOTARY_CLIENT_KEY\"");
        }
    }
    if let Some(tls) = registry.tls() {
        println!(
            "export REGISTRY_CA={}",
            shell_quote(&tls.ca_cert.display().to_string())
        );
    }
    println!("# a trust dir of your own, e.g.:");
    println!("export NOTARY_TRUST_DIR=\"$(mktemp -d)\"");
    println!(
        "export NOTARY_ROOT_PASSPHRASE={}",
        shell_quote(devstack::DEFAULT_PASSPHRASE)
    );
    println!("export NOTARY_TARGETS_PASSPHRASE=\"$NOTARY_ROOT_PASSPHRASE\"");
    println!("export NOTARY_SNAPSHOT_PASSPHRASE=\"$NOTARY_ROOT_PASSPHRASE\"");
    println!("# then: notary {notary_flags} init example.com/app -p");
    let tls_verify = if registry.tls().is_some() {
        ""
    } else {
        " --dest-tls-verify=false"
    };
    println!("# and:  skopeo copy{tls_verify} oci:./layout docker://$REGISTRY/example/app:1.0");
}
