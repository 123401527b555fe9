//! Passphrases for private key files and where they come from.
//!
//! Every private key in a trust dir is encrypted with a passphrase. [`Passphrase`] holds one in
//! memory (zeroized on drop, never printed); a [`PassphraseSource`] supplies it on request, the
//! way the notary and docker CLIs do:
//!
//! - [`NotaryEnv`]: `NOTARY_ROOT_PASSPHRASE`, `NOTARY_TARGETS_PASSPHRASE`,
//!   `NOTARY_SNAPSHOT_PASSPHRASE`, and `NOTARY_DELEGATION_PASSPHRASE` for every role that is not
//!   a base role (`targets/releases`, signer names such as `alice`). As in notary, timestamp keys
//!   have no variable, and an empty variable counts as unset.
//! - [`DockerEnv`]: `DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE` for root keys and
//!   `DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE` for every other key.
//! - [`Fixed`], [`Callback`] (prompts, secret managers) and [`Chain`] (the first that answers);
//!   [`Chain::cli_environment`] is what the notary and docker CLIs read, in their order.
//!
//! A source that cannot give a *different* answer on a retry (environment variables, a fixed
//! passphrase) declines every request with `attempt > 0` by returning
//! [`Error::PassphraseUnavailable`]; the key store then reports the wrong passphrase instead of
//! looping, and a [`Chain`] moves on to its next source (e.g. a prompt).
//!
//! Environment sources read through an injectable lookup, so tests and embedding programs need
//! not touch the process environment.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The shortest passphrase accepted for a new key (notary's rule for new passphrases).
pub const MIN_NEW_PASSPHRASE_LEN: usize = 8;

/// A passphrase held in memory: zeroized on drop, `[redacted]` when printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase.
    pub fn new(passphrase: impl Into<String>) -> Self {
        Self(Zeroizing::new(passphrase.into()))
    }

    /// The passphrase bytes (UTF-8), as fed to the key derivation.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The passphrase text. Handle with care: do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in characters.
    fn char_len(&self) -> usize {
        self.0.chars().count()
    }

    /// Whether the passphrase is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Passphrase {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Passphrase {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase([redacted])")
    }
}

impl fmt::Display for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What a passphrase is wanted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassphraseRequest<'a> {
    /// The canonical key ID (hex).
    pub key_id: &'a str,
    /// The key's role (`root`, `targets`, `targets/releases`, a signer name...).
    pub role: &'a str,
    /// The GUN, for targets/snapshot/timestamp keys.
    pub gun: Option<&'a str>,
    /// 0 for the first request, 1 after one wrong passphrase, and so on (as in notary).
    pub attempt: u32,
    /// True when the passphrase will encrypt a new key file (it must then be at least
    /// [`MIN_NEW_PASSPHRASE_LEN`] characters long).
    pub creating: bool,
}

impl PassphraseRequest<'_> {
    fn unavailable(&self, reason: String) -> Error {
        Error::PassphraseUnavailable {
            key_id: self.key_id.to_owned(),
            role: self.role.to_owned(),
            reason,
        }
    }

    /// Checks a passphrase for a new key: refuses those shorter than
    /// [`MIN_NEW_PASSPHRASE_LEN`] characters with [`Error::PassphraseTooShort`].
    pub fn check_new(&self, passphrase: &Passphrase) -> Result<()> {
        if passphrase.char_len() < MIN_NEW_PASSPHRASE_LEN {
            return Err(Error::PassphraseTooShort {
                key_id: self.key_id.to_owned(),
                role: self.role.to_owned(),
                minimum: MIN_NEW_PASSPHRASE_LEN,
            });
        }
        Ok(())
    }
}

/// Supplies passphrases for key files.
pub trait PassphraseSource {
    /// Returns the passphrase for `request`, or [`Error::PassphraseUnavailable`] when this source
    /// has none (or no other one to offer on a retry).
    fn passphrase(&self, request: &PassphraseRequest<'_>) -> Result<Passphrase>;
}

impl<T: PassphraseSource + ?Sized> PassphraseSource for &T {
    fn passphrase(&self, request: &PassphraseRequest<'_>) -> Result<Passphrase> {
        (**self).passphrase(request)
    }
}

impl<T: PassphraseSource + ?Sized> PassphraseSource for Box<T> {
    fn passphrase(&self, request: &PassphraseRequest<'_>) -> Result<Passphrase> {
        (**self).passphrase(request)
    }
}

/// Looks an environment variable up; `None` when unset.
type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

fn process_env() -> EnvLookup {
    Arc::new(|name| std::env::var(name).ok())
}

/// Reads variable `name`; an empty value counts as unset (as in notary). Declines retries.
fn from_env(lookup: &EnvLookup, name: &str, request: &PassphraseRequest<'_>) -> Result<Passphrase> {
    if request.attempt > 0 {
        return Err(request.unavailable(format!(
            "the passphrase from {name} was wrong; set {name} to the key's passphrase"
        )));
    }
    match lookup(name) {
        Some(value) if !value.is_empty() => Ok(Passphrase::new(value)),
        _ => Err(request.unavailable(format!("set {name} to the key's passphrase"))),
    }
}

/// Passphrases from the notary CLI's variables (see the [module docs](self)).
#[derive(Clone)]
pub struct NotaryEnv {
    lookup: EnvLookup,
}

impl fmt::Debug for NotaryEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NotaryEnv")
    }
}

impl Default for NotaryEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl NotaryEnv {
    /// Reads the process environment.
    pub fn new() -> Self {
        Self {
            lookup: process_env(),
        }
    }

    /// Reads variables through `lookup` instead of the process environment.
    pub fn with_lookup(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            lookup: Arc::new(lookup),
        }
    }

    /// The variable notary reads for `role`, or `None` for timestamp keys (notary has none).
    pub fn variable_for(role: &str) -> Option<&'static str> {
        match role {
            "root" => Some("NOTARY_ROOT_PASSPHRASE"),
            "targets" => Some("NOTARY_TARGETS_PASSPHRASE"),
            "snapshot" => Some("NOTARY_SNAPSHOT_PASSPHRASE"),
            "timestamp" => None,
            _ => Some("NOTARY_DELEGATION_PASSPHRASE"),
        }
    }
}

impl PassphraseSource for NotaryEnv {
    fn passphrase(&self, request: &PassphraseRequest<'_>) -> Result<Passphrase> {
        match Self::variable_for(request.role) {
            Some(name) => from_env(&self.lookup, name, request),
            None => Err(request.unavailable(
                "notary has no passphrase variable for timestamp keys; use another source".into(),
            )),
        }
    }
}

/// Passphrases from the docker CLI's variables (see the [module docs](self)).
#[derive(Clone)]
pub struct DockerEnv {
    lookup: EnvLookup,
}

impl fmt::Debug for DockerEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DockerEnv")
    }
}

impl Default for DockerEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl DockerEnv {
    /// Reads the process environment.
    pub fn new() -> Self {
        Self {
            lookup: process_env(),
        }
    }

    /// Reads variables through `lookup` instead of the process environment.
    pub fn with_lookup(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            lookup: Arc::new(lookup),
        }
    }

    /// The variable docker reads for `role`.
    pub fn variable_for(role: &str) -> &'static str {
        if role == "root" {
            "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE"
        } else {
            "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE"
        }
    }
}

impl PassphraseSource for DockerEnv {
    fn passphrase(&self, request: &PassphraseRequest<'_>) -> Result<Passphrase> {
        from_env(&self.lookup, Self::variable_for(request.role), request)
    }
}

/// One passphrase for every key. Declines retries (it has no other answer).
#[derive(Debug, Clone)]
pub struct Fixed(pub Passphrase);

impl PassphraseSource for Fixed {
    fn passphrase(&self, request: &PassphraseRequest<'_>) -> Result<Passphrase> {
        if request.attempt > 0 {
            return Err(request.unavailable("the fixed passphrase was wrong".into()));
        }
        Ok(self.0.clone())
    }
}

/// The signature of a [`Callback`] function.
pub type PassphraseFn = dyn Fn(&PassphraseRequest<'_>) -> Result<Passphrase> + Send + Sync;

/// Asks a function, e.g. a terminal prompt. It sees `attempt` and decides itself whether to
/// try again (return [`Error::PassphraseUnavailable`] to give up).
pub struct Callback(pub Box<PassphraseFn>);

impl Callback {
    /// Wraps `f`.
    pub fn new(
        f: impl Fn(&PassphraseRequest<'_>) -> Result<Passphrase> + Send + Sync + 'static,
    ) -> Self {
        Self(Box::new(f))
    }
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Callback")
    }
}

impl PassphraseSource for Callback {
    fn passphrase(&self, request: &PassphraseRequest<'_>) -> Result<Passphrase> {
        (self.0)(request)
    }
}

/// Tries sources in order; the first that answers wins. A source declining with
/// [`Error::PassphraseUnavailable`] passes the request on; any other error stops the chain.
#[derive(Default)]
pub struct Chain(pub Vec<Box<dyn PassphraseSource + Send + Sync>>);

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Chain({} sources)", self.0.len())
    }
}

impl Chain {
    /// An empty chain (declines everything).
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The variables the notary and docker CLIs read, in the Go clients' order: notary's
    /// variable for the role first ([`NotaryEnv`]: `notary` reads it before it would prompt),
    /// then docker's ([`DockerEnv`]: what `docker trust` reads). There is no prompt; append a
    /// [`Callback`] with [`with`](Self::with) for one, as the Go clients fall back to a prompt.
    pub fn cli_environment() -> Self {
        Self::new().with(NotaryEnv::new()).with(DockerEnv::new())
    }

    /// [`cli_environment`](Self::cli_environment) reading variables through `lookup` instead of
    /// the process environment.
    pub fn cli_environment_with_lookup(
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        let lookup: EnvLookup = Arc::new(lookup);
        Self::new()
            .with(NotaryEnv {
                lookup: lookup.clone(),
            })
            .with(DockerEnv { lookup })
    }

    /// Appends `source`.
    pub fn with(mut self, source: impl PassphraseSource + Send + Sync + 'static) -> Self {
        self.0.push(Box::new(source));
        self
    }
}

impl PassphraseSource for Chain {
    fn passphrase(&self, request: &PassphraseRequest<'_>) -> Result<Passphrase> {
        let mut reasons = Vec::new();
        for source in &self.0 {
            match source.passphrase(request) {
                Err(Error::PassphraseUnavailable { reason, .. }) => reasons.push(reason),
                other => return other,
            }
        }
        if reasons.is_empty() {
            reasons.push("no passphrase source configured".into());
        }
        Err(request.unavailable(reasons.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn request(role: &str, attempt: u32) -> PassphraseRequest<'_> {
        PassphraseRequest {
            key_id: "abc",
            role,
            gun: None,
            attempt,
            creating: false,
        }
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn passphrase_is_redacted() {
        let p = Passphrase::new("hunter22");
        assert_eq!(format!("{p}"), "[redacted]");
        assert_eq!(format!("{p:?}"), "Passphrase([redacted])");
        assert!(!format!("{:?}", Fixed(p.clone())).contains("hunter"));
        assert_eq!(p.as_bytes(), b"hunter22");
    }

    #[test]
    fn notary_env_maps_roles_like_notary() {
        let source = NotaryEnv::with_lookup(env(&[
            ("NOTARY_ROOT_PASSPHRASE", "r"),
            ("NOTARY_TARGETS_PASSPHRASE", "t"),
            ("NOTARY_SNAPSHOT_PASSPHRASE", ""),
            ("NOTARY_DELEGATION_PASSPHRASE", "d"),
        ]));
        let get = |role| {
            source
                .passphrase(&request(role, 0))
                .map(|p| p.expose().to_owned())
        };
        assert_eq!(get("root").unwrap(), "r");
        assert_eq!(get("targets").unwrap(), "t");
        assert_eq!(get("targets/releases").unwrap(), "d");
        assert_eq!(get("alice").unwrap(), "d");
        match get("snapshot") {
            Err(Error::PassphraseUnavailable { reason, .. }) => {
                assert!(reason.contains("NOTARY_SNAPSHOT_PASSPHRASE"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            get("timestamp"),
            Err(Error::PassphraseUnavailable { .. })
        ));
        // No pointless retries with the same variable.
        assert!(matches!(
            source.passphrase(&request("root", 1)),
            Err(Error::PassphraseUnavailable { .. })
        ));
    }

    #[test]
    fn docker_env_maps_roles_like_docker() {
        let source = DockerEnv::with_lookup(env(&[
            ("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", "r"),
            ("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "repo"),
        ]));
        assert_eq!(
            source.passphrase(&request("root", 0)).unwrap().expose(),
            "r"
        );
        for role in ["targets", "snapshot", "targets/releases", "alice"] {
            assert_eq!(
                source.passphrase(&request(role, 0)).unwrap().expose(),
                "repo"
            );
        }
        let empty = DockerEnv::with_lookup(env(&[]));
        match empty.passphrase(&request("root", 0)) {
            Err(Error::PassphraseUnavailable { reason, .. }) => {
                assert!(reason.contains("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn chain_falls_through_to_the_prompt_on_retry() {
        let chain = Chain::new()
            .with(Fixed("first-try".into()))
            .with(Callback::new(|r| {
                if r.attempt >= 3 {
                    Err(Error::PassphraseUnavailable {
                        key_id: r.key_id.into(),
                        role: r.role.into(),
                        reason: "cancelled".into(),
                    })
                } else {
                    Ok(Passphrase::new(format!("prompt-{}", r.attempt)))
                }
            }));
        assert_eq!(
            chain.passphrase(&request("root", 0)).unwrap().expose(),
            "first-try"
        );
        assert_eq!(
            chain.passphrase(&request("root", 1)).unwrap().expose(),
            "prompt-1"
        );
        match chain.passphrase(&request("root", 3)) {
            Err(Error::PassphraseUnavailable { reason, .. }) => {
                assert!(reason.contains("cancelled"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cli_environment_prefers_notary_variables_then_docker() {
        let both = Chain::cli_environment_with_lookup(env(&[
            ("NOTARY_TARGETS_PASSPHRASE", "notary"),
            ("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "docker"),
            ("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", "docker-root"),
        ]));
        assert_eq!(
            both.passphrase(&request("targets", 0)).unwrap().expose(),
            "notary"
        );
        assert_eq!(
            both.passphrase(&request("root", 0)).unwrap().expose(),
            "docker-root"
        );
        // Timestamp keys have no notary variable: docker's repository variable answers.
        assert_eq!(
            both.passphrase(&request("timestamp", 0)).unwrap().expose(),
            "docker"
        );
        match Chain::cli_environment_with_lookup(env(&[])).passphrase(&request("snapshot", 0)) {
            Err(Error::PassphraseUnavailable { reason, .. }) => {
                assert!(reason.contains("NOTARY_SNAPSHOT_PASSPHRASE"), "{reason}");
                assert!(
                    reason.contains("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn short_new_passphrases_are_refused() {
        let r = PassphraseRequest {
            creating: true,
            ..request("root", 0)
        };
        assert!(matches!(
            r.check_new(&"1234567".into()),
            Err(Error::PassphraseTooShort { minimum: 8, .. })
        ));
        r.check_new(&"12345678".into()).unwrap();
    }
}
