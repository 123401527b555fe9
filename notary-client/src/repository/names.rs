//! Which GUNs and target names a collection may have.
//!
//! A GUN becomes a trust-dir path and a URL path, so it must be a name docker accepts
//! (docker/distribution's reference grammar): no `%`, `?`, `#`, spaces or dot segments that a
//! URL parser would decode or cut, which would make a request for one GUN read another's.

use crate::error::{Error, Result};

/// Longest repository name docker accepts.
const MAX_GUN_LENGTH: usize = 255;

/// Checks that `gun` is a repository name in docker's grammar: an optional registry host
/// (`host[.host...][:port]`) then lowercase path components `[a-z0-9]+` joined by `.`, `_`,
/// `__` or dashes, separated by `/`. Also applies the key store's path checks.
///
/// ```
/// use notary_client::repository::validate_gun;
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
pub(super) fn check_target_name(name: &str) -> Result<()> {
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
