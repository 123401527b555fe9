//! `regfile`: create, open and inspect HPVS repository registration files, generate OpenPGP
//! keys for them, and build HPCR contracts.
//!
//! ```text
//! regfile create --repository NAME (--root-json FILE | --public-key-id HEX --public-key B64)
//!         [--env-whitelist A,B,...] --vendor-key VENDOR_SECRET.asc [--vendor-passphrase-env VAR]
//!         --appliance-key APPLIANCE_PUBLIC.asc --out FILE
//! regfile open --appliance-key APPLIANCE_SECRET.asc [--appliance-passphrase-env VAR]
//!         [--vendor-key VENDOR_PUBLIC.asc] --in FILE
//! regfile keygen --name NAME [--kind rsa4096|ed25519] [--passphrase-env VAR] --out-dir DIR
//!         [--force]
//! regfile contract --cert HPCR_ENCRYPTION.crt --workload W.yaml --env E.yaml
//!         --signing-key KEY.pem --out CONTRACT.yaml
//! ```
//!
//! Errors go to stderr and the exit status is 1. Files are written atomically (a temporary
//! file in the same directory, then a rename), secret keys with mode 0600.

use std::error::Error;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use examples::outln;
use keymgmt::fsutil::{Existing, write_atomic};
use ssc_register::seal::{open, seal};
use ssc_register::{
    Contract, KeyKind, OpenOptions, PublicKey, Registration, RootKey, RsaRecipient, RsaSecretKey,
    Secret, SecretKey,
};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

#[derive(Parser)]
#[command(
    name = "regfile",
    about = "HPVS repository registration files and HPCR contracts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a registration, encrypt it to the appliance and sign it with the vendor key.
    Create {
        /// Repository, e.g. docker.io/user/image.
        #[arg(long)]
        repository: String,
        /// Notary root.json whose root key the appliance pins.
        #[arg(long, conflicts_with_all = ["public_key_id", "public_key"])]
        root_json: Option<PathBuf>,
        /// DCT root key ID (64 hex digits), with --public-key.
        #[arg(long, requires = "public_key")]
        public_key_id: Option<String>,
        /// The root key as root.json holds it (base64), with --public-key-id.
        #[arg(long, requires = "public_key_id")]
        public_key: Option<String>,
        /// Environment variables deployments may set.
        #[arg(long, value_delimiter = ',')]
        env_whitelist: Vec<String>,
        /// Registry user the appliance pulls with.
        #[arg(long, default_value = "")]
        docker_username: String,
        /// Variable holding the registry password or token.
        #[arg(long)]
        docker_password_env: Option<String>,
        /// The vendor's armored OpenPGP secret key.
        #[arg(long)]
        vendor_key: PathBuf,
        /// Variable holding the vendor key's passphrase.
        #[arg(long)]
        vendor_passphrase_env: Option<String>,
        /// The appliance's armored OpenPGP public key.
        #[arg(long)]
        appliance_key: PathBuf,
        /// Where to write the armored registration file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Decrypt and verify a registration file; print {"registration", "signer_fingerprint"}.
    Open {
        /// The appliance's armored OpenPGP secret key.
        #[arg(long)]
        appliance_key: PathBuf,
        /// Variable holding the appliance key's passphrase.
        #[arg(long)]
        appliance_passphrase_env: Option<String>,
        /// The vendor public key the file must be signed by.
        #[arg(long)]
        vendor_key: Option<PathBuf>,
        /// The registration file.
        #[arg(long = "in")]
        input: PathBuf,
    },
    /// Generate an OpenPGP key pair: DIR/NAME.secret.asc (0600) and DIR/NAME.public.asc.
    /// Refuses to replace existing files of that name unless --force.
    Keygen {
        /// User ID, e.g. "Vendor <vendor@example.com>"; also the file name stem.
        #[arg(long)]
        name: String,
        /// Key algorithm.
        #[arg(long, value_enum, default_value_t = Kind::Rsa4096)]
        kind: Kind,
        /// Variable holding the passphrase that protects the secret key (it must not be
        /// empty); without it the secret key is written unprotected.
        #[arg(long)]
        passphrase_env: Option<String>,
        /// Output directory.
        #[arg(long)]
        out_dir: PathBuf,
        /// Replace existing key files of the same name (the old secret key is lost).
        #[arg(long)]
        force: bool,
    },
    /// Encrypt and sign an HPCR contract.
    Contract {
        /// HPCR encryption certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// Workload section (YAML, `type: workload`).
        #[arg(long)]
        workload: PathBuf,
        /// Env section (YAML, `type: env`).
        #[arg(long)]
        env: PathBuf,
        /// RSA signing key (PEM); its public key goes into env.signingKey.
        #[arg(long)]
        signing_key: PathBuf,
        /// Attestation public key (PEM) to put into the contract.
        #[arg(long)]
        attestation_public_key: Option<PathBuf>,
        /// Where to write the contract YAML.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Rsa4096,
    Ed25519,
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("regfile: error: {e}");
        std::process::exit(1);
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read(path)?).map_err(|_| format!("{} is not utf-8", path.display()).into())
}

fn secret_from_env(var: Option<&str>) -> Result<Secret> {
    match var {
        None => Ok(Secret::default()),
        Some(var) => std::env::var(var)
            .map(Secret::new)
            .map_err(|_| format!("environment variable {var} is not set").into()),
    }
}

/// Writes `contents` atomically with exactly `mode`, whatever file was there before.
fn write(path: &Path, contents: &[u8], mode: u32, existing: Existing) -> Result<()> {
    write_atomic(path, contents, mode, existing).map_err(|e| match e {
        keymgmt::Error::FileExists { .. } => exists(path),
        other => other.into(),
    })
}

fn exists(path: &Path) -> Box<dyn Error> {
    format!(
        "{} exists: pass --force to replace it (registrations signed with the old key then need the old key)",
        path.display()
    )
    .into()
}

/// The passphrase for a new secret key: the variable must be set and not empty, because an
/// empty passphrase would leave the key unprotected.
fn new_passphrase(var: Option<&str>) -> Result<Secret> {
    let secret = secret_from_env(var)?;
    match var {
        Some(var) if secret.is_empty() => Err(format!(
            "environment variable {var} is empty: set it to the passphrase (leave out --passphrase-env for an unprotected key)"
        )
        .into()),
        _ => Ok(secret),
    }
}

/// The file name stem for `name`, refusing names that would make hidden files or paths.
fn file_stem(name: &str) -> Result<String> {
    let refuse = |why: &str| -> Result<String> {
        Err(format!(
            "invalid --name {name:?}: {why}; use a user id like \"Vendor <vendor@example.com>\""
        )
        .into())
    };
    if name.trim().is_empty() {
        return refuse("it is empty");
    }
    if name.starts_with('.') {
        return refuse("it would make hidden files");
    }
    if name.contains(['/', '\\']) {
        return refuse("it contains a path separator (use --out-dir for the directory)");
    }
    if name.chars().any(char::is_control) {
        return refuse("it contains control characters");
    }
    Ok(name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Create {
            repository,
            root_json,
            public_key_id,
            public_key,
            env_whitelist,
            docker_username,
            docker_password_env,
            vendor_key,
            vendor_passphrase_env,
            appliance_key,
            out,
        } => {
            let root = match (root_json, public_key_id, public_key) {
                (Some(path), _, _) => RootKey::from_root_json(&read(&path)?)?,
                (None, Some(id), Some(key)) => RootKey::new(id, key)?,
                _ => return Err("pass --root-json or --public-key-id with --public-key".into()),
            };
            let vendor = SecretKey::from_armored(
                &read(&vendor_key)?,
                secret_from_env(vendor_passphrase_env.as_deref())?,
            )?;
            let appliance = PublicKey::from_armored(&read(&appliance_key)?)?;
            let registration = Registration::builder(repository, root)
                .env_whitelist(env_whitelist.into_iter().filter(|e| !e.is_empty()))
                .docker_credentials(
                    docker_username,
                    secret_from_env(docker_password_env.as_deref())?,
                )
                .build(&vendor.public_key())?;
            let sealed = seal(&registration, &vendor, &appliance)?;
            write(&out, sealed.as_bytes(), 0o644, Existing::Replace)?;
            eprintln!(
                "regfile: wrote {} (signed by {}, for appliance {})",
                out.display(),
                vendor.fingerprint(),
                appliance.fingerprint()
            );
        }
        Command::Open {
            appliance_key,
            appliance_passphrase_env,
            vendor_key,
            input,
        } => {
            let appliance = SecretKey::from_armored(
                &read(&appliance_key)?,
                secret_from_env(appliance_passphrase_env.as_deref())?,
            )?;
            let vendor = vendor_key
                .map(|path| read(&path).and_then(|b| Ok(PublicKey::from_armored(&b)?)))
                .transpose()?;
            let opened = open(
                &read(&input)?,
                &appliance,
                &OpenOptions {
                    expected_vendor: vendor.as_ref(),
                    registered: None,
                },
            )?;
            let output = serde_json::json!({
                "registration": opened.registration,
                "signer_fingerprint": opened.signer_fingerprint,
            });
            outln!("{output}");
        }
        Command::Keygen {
            name,
            kind,
            passphrase_env,
            out_dir,
            force,
        } => {
            let kind = match kind {
                Kind::Rsa4096 => KeyKind::Rsa4096,
                Kind::Ed25519 => KeyKind::Ed25519,
            };
            let stem = file_stem(&name)?;
            let passphrase = new_passphrase(passphrase_env.as_deref())?;
            let secret_path = out_dir.join(format!("{stem}.secret.asc"));
            let public_path = out_dir.join(format!("{stem}.public.asc"));
            let existing = if force {
                Existing::Replace
            } else {
                // Checked before the (slow) generation; the writes refuse again if a file
                // appears meanwhile.
                if let Some(path) = [&secret_path, &public_path]
                    .into_iter()
                    .find(|p| p.symlink_metadata().is_ok())
                {
                    return Err(exists(path));
                }
                Existing::Refuse
            };
            let key = SecretKey::generate(kind, &name, passphrase)?;
            std::fs::create_dir_all(&out_dir)
                .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
            write(&secret_path, key.to_armored()?.as_bytes(), 0o600, existing)?;
            write(
                &public_path,
                key.public_key().to_armored()?.as_bytes(),
                0o644,
                existing,
            )?;
            let output = serde_json::json!({
                "fingerprint": key.fingerprint(),
                "secret_key": secret_path,
                "public_key": public_path,
            });
            outln!("{output}");
        }
        Command::Contract {
            cert,
            workload,
            env,
            signing_key,
            attestation_public_key,
            out,
        } => {
            let hpcr = RsaRecipient::from_pem(&read(&cert)?)?;
            let signing = RsaSecretKey::from_pem(&read_text(&signing_key)?)
                .map_err(|e| format!("--signing-key {}: {e}", signing_key.display()))?;
            let attestation = attestation_public_key
                .map(|path| read_text(&path))
                .transpose()?;
            let contract = Contract::build(
                &read_text(&workload)?,
                &read_text(&env)?,
                &hpcr,
                &signing,
                attestation,
            )?;
            write(
                &out,
                contract.to_yaml()?.as_bytes(),
                0o644,
                Existing::Replace,
            )?;
            eprintln!("regfile: wrote {}", out.display());
        }
    }
    Ok(())
}
