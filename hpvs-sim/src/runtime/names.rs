//! Validated names: a server's name becomes a runc container id, a hostname, a network
//! namespace and a directory, a mount id becomes a file name, so both are checked once here.

use std::fmt;
use std::str::FromStr;

use super::error::RuntimeError;

/// The longest name: a hostname's limit (`HOST_NAME_MAX`).
const MAX_NAME: usize = 63;

/// Checks the rules that server names and mount ids share.
fn check(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("expected at least one character");
    }
    if value.len() > MAX_NAME {
        return Err("expected at most 63 characters");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err("expected only ASCII letters, digits, '_', '-' and '.'");
    }
    if !value.as_bytes()[0].is_ascii_alphanumeric() {
        return Err("expected a letter or digit first");
    }
    Ok(())
}

/// A virtual server's name (`sbserver_00`): 1 to 63 ASCII letters, digits, `_`, `-` or `.`,
/// starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerName(String);

impl ServerName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ServerName {
    type Err = RuntimeError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        check(name).map_err(|reason| RuntimeError::InvalidServerName {
            name: name.to_owned(),
            reason,
        })?;
        Ok(Self(name.to_owned()))
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A quotagroup mount's id (`new`, `data`), unique within one server, with the same rules as
/// a [`ServerName`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MountId(String);

impl MountId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for MountId {
    type Err = RuntimeError;

    fn from_str(mount_id: &str) -> Result<Self, Self::Err> {
        check(mount_id).map_err(|reason| RuntimeError::InvalidMountId {
            mount_id: mount_id.to_owned(),
            reason,
        })?;
        Ok(Self(mount_id.to_owned()))
    }
}

impl fmt::Display for MountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_names_are_accepted() {
        for name in ["sbserver_00", "REPO_ID", "a", "web-1.test"] {
            assert_eq!(name.parse::<ServerName>().unwrap().as_str(), name);
        }
    }

    #[test]
    fn names_that_could_escape_or_clash_are_refused() {
        for name in [
            "",
            ".hidden",
            "-x",
            "a/b",
            "..",
            "a b",
            "é",
            &"x".repeat(64),
        ] {
            let error = name.parse::<ServerName>().unwrap_err();
            assert!(
                matches!(&error, RuntimeError::InvalidServerName { name: got, .. } if got == name),
                "{name:?}: {error}"
            );
            assert!(matches!(
                name.parse::<MountId>(),
                Err(RuntimeError::InvalidMountId { .. })
            ));
        }
    }
}
