//! Where `hpvs` takes its inputs from: the appliance's settings (`--host` over the
//! environment), a password on standard input, a registration file.

use std::ffi::OsString;
use std::io::BufRead;
use std::path::Path;

use hpvs_api::{ApplianceConfig, Client, ENV_URL, Secret};

use super::failure::CliError;

/// The longest password line read from standard input.
const PASSWORD_LIMIT: u64 = 64 << 10;

/// The client for `--host` (else `HPVS_URL`), `HPVS_TOKEN` and `HPVS_CACERT`.
pub fn connect(host: Option<&str>) -> Result<Client, CliError> {
    let config = appliance_config(host, |variable| std::env::var_os(variable))?;
    Ok(Client::new(config)?)
}

/// The settings from `env` (the process environment, in [`connect`]), with `host` in place
/// of `HPVS_URL` when given.
pub fn appliance_config(
    host: Option<&str>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<ApplianceConfig, CliError> {
    Ok(ApplianceConfig::from_lookup(|variable| match host {
        Some(host) if variable == ENV_URL => Some(OsString::from(host)),
        _ => env(variable),
    })?)
}

/// Reads one line from `input` as a password: the trailing line break (`\n` or `\r\n`) is
/// removed and nothing else, so spaces inside or around the password stay.
pub fn read_password(input: impl BufRead) -> Result<Secret, CliError> {
    let mut line = String::with_capacity(256);
    input
        .take(PASSWORD_LIMIT)
        .read_line(&mut line)
        .map_err(|source| CliError::Read {
            what: "the password from standard input".to_owned(),
            source,
        })?;
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(Secret::new(line))
}

/// Refuses an empty password for a named user: `echo | hpvs registry add ... --user U` is
/// almost always a forgotten `$TOKEN`. An anonymous registry (empty `--user`) needs none.
pub fn check_password(user: &str, password: &Secret) -> Result<(), CliError> {
    if password.is_empty() && !user.is_empty() {
        return Err(empty_password(format!("empty for user {user:?}")));
    }
    Ok(())
}

/// [`check_password`] for `registry update --password-stdin`: when the user stays
/// (`new_user` is `None`), only a non-empty password is right, since the client does not know
/// whether the registry is anonymous.
pub fn check_new_password(new_user: Option<&str>, password: &Secret) -> Result<(), CliError> {
    match new_user {
        Some(user) => check_password(user, password),
        None if password.is_empty() => Err(empty_password("empty".to_owned())),
        None => Ok(()),
    }
}

fn empty_password(what: String) -> CliError {
    CliError::InvalidArgument {
        option: "password",
        reason: format!("{what}: pipe the password or token on standard input"),
    }
}

/// The registration file's armored text (`gpg --armor` output is ASCII).
pub fn read_regfile(path: &Path) -> Result<String, CliError> {
    let bytes = std::fs::read(path).map_err(|source| CliError::Read {
        what: path.display().to_string(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| CliError::InvalidArgument {
        option: "--pgp",
        reason: format!("{} is not ASCII-armored text (gpg --armor)", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_line_loses_only_its_line_break() {
        let read = |input: &str| read_password(input.as_bytes()).unwrap();
        assert_eq!(read("hunter2\n").expose(), "hunter2");
        assert_eq!(read(" pass word \r\n").expose(), " pass word ");
        assert_eq!(read("no newline").expose(), "no newline");
        assert_eq!(read("first\nsecond\n").expose(), "first");
        assert!(read("\n").is_empty());
        assert!(read("").is_empty());
    }

    #[test]
    fn an_empty_password_is_refused_unless_anonymous() {
        let empty = Secret::default();
        let err = check_password("alice", &empty).unwrap_err();
        assert_eq!(
            err.line(),
            "ERROR: INVALID_ARGUMENT invalid password: empty for user \"alice\": pipe the password or token on standard input"
        );
        assert!(check_password("", &empty).is_ok());
        assert!(check_password("alice", &Secret::new("t")).is_ok());
        assert!(check_new_password(None, &empty).is_err());
        assert!(check_new_password(Some(""), &empty).is_ok());
        assert!(check_new_password(Some("bob"), &empty).is_err());
        assert!(check_new_password(None, &Secret::new("t")).is_ok());
    }

    #[test]
    fn a_regfile_must_be_armored_text_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let armored = dir.path().join("yaml.wallet.enc");
        std::fs::write(&armored, "-----BEGIN PGP MESSAGE-----\n").unwrap();
        assert_eq!(
            read_regfile(&armored).unwrap(),
            "-----BEGIN PGP MESSAGE-----\n"
        );
        let binary = dir.path().join("yaml.wallet.gpg");
        std::fs::write(&binary, [0x85, 0xff, 0x00]).unwrap();
        let err = read_regfile(&binary).unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        assert!(
            err.line().contains("yaml.wallet.gpg is not ASCII-armored"),
            "{}",
            err.line()
        );
        let missing = dir.path().join("missing.enc");
        let err = read_regfile(&missing).unwrap_err();
        assert_eq!(err.code(), "IO");
        assert!(err.line().contains("missing.enc"), "{}", err.line());
    }

    #[test]
    fn host_overrides_hpvs_url_and_the_rest_comes_from_the_environment() {
        let env = |variable: &str| match variable {
            "HPVS_URL" => Some(OsString::from("https://10.0.0.1:443")),
            "HPVS_TOKEN" => Some(OsString::from("t0ken")),
            _ => None,
        };
        let config = appliance_config(Some("https://127.0.0.1:34567"), env).unwrap();
        assert_eq!(config.url, "https://127.0.0.1:34567");
        assert_eq!(config.token.expose(), "t0ken");
        assert_eq!(
            appliance_config(None, env).unwrap().url,
            "https://10.0.0.1:443"
        );
        let err = appliance_config(Some("https://127.0.0.1:1"), |_| None).unwrap_err();
        assert_eq!(
            err.line(),
            "ERROR: CONFIG the environment variable HPVS_TOKEN is not set"
        );
    }
}
