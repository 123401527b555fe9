//! Key material made by the `openssl` command, the way notary's documentation tells users to
//! make delegation keys, so that tests feed the Go client and ours what a user would.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, require_binary};

/// Writes `DIR/NAME.key` (an EC P-256 private key, e.g. a delegation or root key, `openssl ecparam -genkey`) and
/// `DIR/NAME.crt` (a self-signed certificate for it with common name `NAME`, valid 30 days,
/// `openssl req -x509`); returns their paths.
pub fn ec_key_and_certificate(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf), Error> {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.crt"));
    let (key_s, cert_s) = (key.display().to_string(), cert.display().to_string());
    let subject = format!("/CN={name}");
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &key_s,
    ])?;
    run(&[
        "req", "-new", "-x509", "-key", &key_s, "-subj", &subject, "-days", "30", "-out", &cert_s,
    ])?;
    Ok((key, cert))
}

fn run(args: &[&str]) -> Result<(), Error> {
    let program = require_binary("openssl", "openssl")?;
    let output = Command::new(&program)
        .args(args)
        .output()
        .map_err(|source| Error::Spawn {
            program: program.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Cli {
            program: "openssl".to_owned(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(())
}
