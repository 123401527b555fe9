//! Which GUNs, role names and target names a collection may have, each checked once, where
//! it enters: [`Gun`], [`TargetsRole`] and [`DelegationName`] hold only valid names (no I/O).
//!
//! A GUN becomes a trust-dir path and a URL path, so it must be a name docker accepts
//! (docker/distribution's reference grammar): no `%`, `?`, `#`, spaces or dot segments that a
//! URL parser would decode or cut, which would make a request for one GUN read another's.

use std::fmt;

use crate::error::{Error, Result};
use crate::metadata;

/// A valid GUN (see [`validate_gun`]).
///
/// ```
/// use notary_client::names::Gun;
/// let gun = Gun::new("registry.example.com/team/app")?;
/// assert_eq!(gun.as_str(), "registry.example.com/team/app");
/// assert!(Gun::new("../x").is_err());
/// # Ok::<(), notary_client::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gun(String);

impl Gun {
    /// `gun`, if it is a repository name docker accepts.
    pub fn new(gun: &str) -> Result<Self> {
        validate_gun(gun)?;
        Ok(Self(gun.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Gun {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Gun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for Gun {
    type Error = Error;
    fn try_from(gun: &str) -> Result<Self> {
        Self::new(gun)
    }
}

/// A delegation role name: `targets/` then `[-a-z0-9_/]` segments, under 256 characters.
///
/// ```
/// use notary_client::names::DelegationName;
/// let releases = DelegationName::new("targets/releases")?;
/// assert_eq!(releases.parent(), "targets");
/// assert!(DelegationName::new("targets").is_err());
/// # Ok::<(), notary_client::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DelegationName(String);

impl DelegationName {
    /// `role`, if it is a delegation name notary accepts ([`Error::InvalidRole`] if not).
    pub fn new(role: &str) -> Result<Self> {
        if metadata::is_delegation_name(role) {
            Ok(Self(role.to_owned()))
        } else {
            Err(Error::InvalidRole {
                role: role.to_owned(),
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The role that lists this delegation: `targets` or the enclosing delegation.
    pub fn parent(&self) -> &str {
        parent_of(&self.0)
    }
}

impl fmt::Display for DelegationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A role that signs targets: the top-level `targets` or a delegation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetsRole {
    /// `targets`.
    Targets,
    /// A delegation.
    Delegation(DelegationName),
}

impl TargetsRole {
    /// `role` as a targets role ([`Error::InvalidRole`] for anything else).
    pub fn new(role: &str) -> Result<Self> {
        if role == "targets" {
            Ok(Self::Targets)
        } else {
            DelegationName::new(role).map(Self::Delegation)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Targets => "targets",
            Self::Delegation(name) => name.as_str(),
        }
    }

    /// Each of `roles`, or `targets` alone when there are none (the Go client's default).
    pub fn each_or_targets(roles: &[impl AsRef<str>]) -> Result<Vec<Self>> {
        if roles.is_empty() {
            return Ok(vec![Self::Targets]);
        }
        roles.iter().map(|r| Self::new(r.as_ref())).collect()
    }
}

impl fmt::Display for TargetsRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role that lists delegation `role`: `targets/a` for `targets/a/b`.
pub(crate) fn parent_of(role: &str) -> &str {
    role.rsplit_once('/')
        .map_or("targets", |(parent, _)| parent)
}

/// Longest repository name docker accepts.
const MAX_GUN_LENGTH: usize = 255;

/// Checks that `gun` is a repository name in docker's grammar: an optional registry host
/// (`host[.host...][:port]`) then lowercase path components `[a-z0-9]+` joined by `.`, `_`,
/// `__` or dashes, separated by `/`. Also applies the key store's path checks.
///
/// ```
/// use notary_client::names::validate_gun;
/// assert!(validate_gun("registry.example.com:5000/team/app").is_ok());
/// assert!(validate_gun("example.com/x/%2e%2e/kill").is_err());
/// ```
pub fn validate_gun(gun: &str) -> Result<()> {
    keymgmt::keyfile::validate_gun(gun)?;
    let invalid = |reason: String| {
        Err(Error::GunNotARepositoryName {
            gun: gun.to_owned(),
            reason,
        })
    };
    if gun.len() > MAX_GUN_LENGTH {
        return invalid(format!("it is longer than {MAX_GUN_LENGTH} characters"));
    }
    if let Some(c) = gun
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':')))
    {
        return invalid(format!("it contains {c:?}"));
    }
    let mut components: Vec<&str> = gun.split('/').collect();
    if components.len() > 1 && looks_like_host(components[0]) {
        let host = components.remove(0);
        if let Err(reason) = check_host(host) {
            return invalid(reason);
        }
    }
    for component in components {
        if !is_path_component(component) {
            return invalid(format!(
                "path component {component:?} is not lowercase letters and digits joined by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

/// Docker reads the first component as a registry host when it has a `.` or `:`, is
/// `localhost`, or has an uppercase letter.
fn looks_like_host(component: &str) -> bool {
    component.contains(['.', ':'])
        || component == "localhost"
        || component.chars().any(|c| c.is_ascii_uppercase())
}

fn check_host(host: &str) -> std::result::Result<(), String> {
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    if let Some(port) = port
        && (port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!("registry port {port:?} is not a number"));
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("registry host {name:?} is not a host name"))
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[sep_start..i];
        let dashes = separator.bytes().all(|b| b == b'-');
        if !(matches!(separator, "." | "_" | "__") || dashes) {
            return false;
        }
    }
}

/// Target names (and delegation paths) must not hold control characters: notary's canonical
/// JSON writes them raw, so no client or server can parse what would be signed (the Go client
/// fails its publish on such a name, and so would every later publish of ours).
#[cfg(any(feature = "client", test))]
pub(crate) fn check_target_name(name: &str) -> Result<()> {
    match name.chars().find(|&c| c < ' ') {
        Some(c) => Err(Error::ControlCharacterInName {
            name: name.to_owned(),
            character: c,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn docker_repository_names() {
        for good in [
            "registry.example.com/cli/app",
            "127.0.0.1:5000/a/b",
            "localhost/x",
            "docker.io/library/alpine",
            "example.com/a__b/c-d--e/f.g",
            "app",
            "Registry.Example.com/app",
        ] {
            assert!(validate_gun(good).is_ok(), "{good}");
        }
        for bad in [
            "example.com/x/%2e%2e/kill",
            "example.com/a?b",
            "example.com/a#b",
            "example.com/App",
            "example.com/a/-b",
            "example.com/a/b.",
            "example.com:/a",
            "exa_mple.com/a",
            "example.com/a@sha256",
        ] {
            let err = validate_gun(bad).unwrap_err();
            assert!(
                matches!(err, Error::GunNotARepositoryName { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn control_characters_are_refused_in_names() {
        for bad in ["a\nb", "t\tx", "\u{1}", "x\ry"] {
            assert!(matches!(
                check_target_name(bad),
                Err(Error::ControlCharacterInName { .. })
            ));
        }
        assert!(check_target_name("h<&>é \"q\"\u{7f}").is_ok());
    }
}
