//! Where the appliance is and how to prove the caller may administer it.

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use registry_http::Secret;

use crate::Error;

/// The variable holding the appliance's base URL, e.g. `https://127.0.0.1:34567`.
pub const ENV_URL: &str = "HPVS_URL";
/// The variable holding the admin bearer token.
pub const ENV_TOKEN: &str = "HPVS_TOKEN";
/// The variable holding the path of the CA certificate (PEM) to pin; optional.
pub const ENV_CACERT: &str = "HPVS_CACERT";

/// How long one request may take, connection included, unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the appliance is and how to reach it: the input of [`crate::Client::new`].
///
/// `Debug` never shows the token and abbreviates the CA to its size.
#[derive(Clone)]
pub struct ApplianceConfig {
    /// The base URL, `https://host:port` (a path prefix is kept). `http://` is accepted for
    /// loopback hosts only: the token would otherwise cross the network in clear.
    pub url: String,
    /// The admin bearer token sent with every call.
    pub token: Secret,
    /// The CA certificate(s) to pin (PEM). When given, only these CAs are trusted, never the
    /// platform's roots; when absent, the platform's roots are.
    pub ca_pem: Option<Vec<u8>>,
    /// How long one request may take, connection included.
    pub request_timeout: Duration,
}

impl ApplianceConfig {
    /// A configuration trusting the platform's roots, with [`DEFAULT_REQUEST_TIMEOUT`].
    pub fn new(url: impl Into<String>, token: Secret) -> Self {
        Self {
            url: url.into(),
            token,
            ca_pem: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// The same configuration pinning `ca_pem` as the only trusted CA.
    pub fn with_ca_pem(mut self, ca_pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(ca_pem.into());
        self
    }

    /// Reads [`ENV_URL`], [`ENV_TOKEN`] and [`ENV_CACERT`] from the process environment
    /// (see [`ApplianceConfig::from_lookup`]).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|variable| std::env::var_os(variable))
    }

    /// Reads the configuration through `lookup` (a variable's value, `None` when unset), so
    /// that a caller can override one variable (a `--host` flag) or test without touching
    /// the process environment.
    ///
    /// `HPVS_URL` and `HPVS_TOKEN` are required ([`Error::MissingEnv`] when unset or empty).
    /// `HPVS_CACERT` is optional, but when set it must name a readable file; an empty value
    /// is an error, not a silent fall back to the platform's roots.
    ///
    /// ```
    /// use hpvs_api::{ApplianceConfig, Error};
    /// let config = ApplianceConfig::from_lookup(|variable| match variable {
    ///     "HPVS_URL" => Some("https://127.0.0.1:34567".into()),
    ///     "HPVS_TOKEN" => Some("s3cret".into()),
    ///     _ => None,
    /// })?;
    /// assert_eq!(config.url, "https://127.0.0.1:34567");
    /// assert!(!format!("{config:?}").contains("s3cret"));
    ///
    /// let missing = ApplianceConfig::from_lookup(|_| None).unwrap_err();
    /// assert!(matches!(missing, Error::MissingEnv { variable: "HPVS_URL" }));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Self, Error> {
        let required = |variable: &'static str| -> Result<String, Error> {
            let value = lookup(variable).filter(|value| !value.is_empty());
            let value = value.ok_or(Error::MissingEnv { variable })?;
            value.into_string().map_err(|_| Error::InvalidConfig {
                setting: variable.to_owned(),
                reason: "the value is not valid UTF-8".to_owned(),
            })
        };
        let url = required(ENV_URL)?;
        let token = Secret::new(required(ENV_TOKEN)?);
        let mut config = Self::new(url, token);
        if let Some(path) = lookup(ENV_CACERT) {
            if path.is_empty() {
                return Err(Error::InvalidConfig {
                    setting: ENV_CACERT.to_owned(),
                    reason: "set but empty: unset it to trust the platform's roots".to_owned(),
                });
            }
            let pem = std::fs::read(&path).map_err(|error| Error::InvalidConfig {
                setting: ENV_CACERT.to_owned(),
                reason: format!("cannot read {}: {error}", path.to_string_lossy()),
            })?;
            config.ca_pem = Some(pem);
        }
        Ok(config)
    }
}

impl fmt::Debug for ApplianceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApplianceConfig")
            .field("url", &self.url)
            .field("token", &self.token)
            .field(
                "ca_pem",
                &self
                    .ca_pem
                    .as_ref()
                    .map(|pem| format!("{} bytes", pem.len())),
            )
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        }
    }

    #[test]
    fn each_missing_variable_is_named() {
        let err = ApplianceConfig::from_lookup(lookup(&[("HPVS_URL", "https://a:1")])).unwrap_err();
        assert!(matches!(
            err,
            Error::MissingEnv {
                variable: "HPVS_TOKEN"
            }
        ));
        let err = ApplianceConfig::from_lookup(lookup(&[("HPVS_URL", ""), ("HPVS_TOKEN", "t")]))
            .unwrap_err();
        assert!(matches!(
            err,
            Error::MissingEnv {
                variable: "HPVS_URL"
            }
        ));
    }

    #[test]
    fn the_ca_file_is_read_and_a_bad_path_is_named() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"-----BEGIN CERTIFICATE-----\n").unwrap();
        let path = file.path().to_str().unwrap().to_owned();
        let vars = [
            ("HPVS_URL", "https://a:1"),
            ("HPVS_TOKEN", "t"),
            ("HPVS_CACERT", path.as_str()),
        ];
        let config = ApplianceConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(
            config.ca_pem.as_deref(),
            Some(&b"-----BEGIN CERTIFICATE-----\n"[..])
        );
        assert!(format!("{config:?}").contains("28 bytes"));
        file.close().unwrap();

        let err = ApplianceConfig::from_lookup(lookup(&vars)).unwrap_err();
        match err {
            Error::InvalidConfig { setting, reason } => {
                assert_eq!(setting, "HPVS_CACERT");
                assert!(reason.contains(&path), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let empty = [
            ("HPVS_URL", "https://a:1"),
            ("HPVS_TOKEN", "t"),
            ("HPVS_CACERT", ""),
        ];
        let err = ApplianceConfig::from_lookup(lookup(&empty)).unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig { ref setting, .. } if setting == "HPVS_CACERT")
        );
    }
}
