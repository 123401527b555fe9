//! The role and GUN rules a key file's headers and a key store's paths obey.

use crate::error::{Error, Result};

/// Whether notary writes a `gun` header for keys of `role` (targets, snapshot, timestamp).
pub(crate) fn role_has_gun(role: &str) -> bool {
    matches!(role, "targets" | "snapshot" | "timestamp")
}

/// Checks a role name: `root`, `targets`, `snapshot`, `timestamp`, a delegation `targets/...`
/// (`[-a-z0-9_/]`, no empty segment) or a docker signer name `[a-z0-9][-a-z0-9_]*`, shorter than
/// 256 characters. Returns [`Error::InvalidRole`].
pub fn validate_role(role: &str) -> Result<()> {
    let invalid = || Error::InvalidRole {
        role: role.to_owned(),
    };
    if role.is_empty() || role.len() >= 256 {
        return Err(invalid());
    }
    if matches!(role, "root" | "targets" | "snapshot" | "timestamp") {
        return Ok(());
    }
    if role.starts_with("targets/") {
        return if is_delegation_name(role) {
            Ok(())
        } else {
            Err(invalid())
        };
    }
    let first_ok = role
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if first_ok && role.bytes().all(name_byte) {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// Whether `role` is a delegation name notary accepts: `targets/` then segments of
/// `[-a-z0-9_]` joined by `/` (none empty), shorter than 256 characters. The one copy of the
/// rule: `notary-client` checks delegation names with it too.
pub fn is_delegation_name(role: &str) -> bool {
    role.len() < 256
        && role.strip_prefix("targets/").is_some_and(|rest| {
            rest.split('/')
                .all(|segment| !segment.is_empty() && segment.bytes().all(name_byte))
        })
}

/// A byte of a role name segment: `[-a-z0-9_]`.
fn name_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
}

/// Checks a GUN before it is used in a path or header: non-empty, at most 255 characters,
/// printable ASCII without spaces or `\`, no leading `/`, no empty, `.` or `..` segment.
/// Returns [`Error::InvalidGun`] naming the broken rule.
pub fn validate_gun(gun: &str) -> Result<()> {
    let invalid = |reason: &'static str| Error::InvalidGun {
        gun: gun.to_owned(),
        reason,
    };
    if gun.is_empty() {
        return Err(invalid("it is empty"));
    }
    if gun.len() > 255 {
        return Err(invalid("it is longer than 255 characters"));
    }
    if !gun.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("only printable ASCII without spaces is allowed"));
    }
    if gun.contains('\\') {
        return Err(invalid("it contains a backslash"));
    }
    if gun.starts_with('/') {
        return Err(invalid("it starts with '/'"));
    }
    if gun
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(invalid("it has an empty, '.' or '..' path segment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_and_gun_rules() {
        for ok in [
            "root",
            "targets",
            "targets/releases",
            "targets/a/b-c_d",
            "alice",
            "0x",
        ] {
            validate_role(ok).unwrap();
        }
        for bad in [
            "",
            "Root",
            "targets/",
            "targets//x",
            "-x",
            "a b",
            "../x",
            "targets/A",
        ] {
            assert!(validate_role(bad).is_err(), "{bad}");
        }
        for delegation in ["targets/releases", "targets/a/b-c_d"] {
            assert!(is_delegation_name(delegation), "{delegation}");
        }
        let too_long = format!("targets/{}", "a".repeat(248));
        for other in [
            "targets",
            "targets/",
            "targets/a/",
            "root",
            "alice",
            &too_long,
        ] {
            assert!(!is_delegation_name(other), "{other}");
        }
        for ok in ["docker.io/library/alpine", "localhost:5000/app", "a"] {
            validate_gun(ok).unwrap();
        }
        for bad in [
            "",
            "../../tmp/x",
            "/abs",
            "a/../b",
            "a\\b",
            "a b",
            "a\nb",
            "a//b",
            "a/./b",
        ] {
            assert!(
                matches!(validate_gun(bad), Err(Error::InvalidGun { .. })),
                "{bad:?}"
            );
        }
        assert!(validate_gun(&"a".repeat(256)).is_err());
    }
}
