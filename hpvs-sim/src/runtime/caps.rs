//! Capability sets: Docker's default set plus a registration's `cap_add`.

use std::collections::BTreeSet;

use super::error::{Result, RuntimeError};

/// Every capability of Linux 5.9+, in kernel order (what `cap_add: ["ALL"]` grants).
const ALL: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The set Docker (and podman) give a container unless told otherwise.
const DOCKER_DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Docker's default set plus `cap_add`, whose names may omit `CAP_` and any case
/// (`net_admin`, `CAP_SYS_ADMIN`); `ALL` adds every capability. Sorted in kernel order.
pub fn with_added(cap_add: &[String]) -> Result<Vec<String>> {
    let mut set: BTreeSet<usize> = DOCKER_DEFAULT.iter().filter_map(|cap| index(cap)).collect();
    for name in cap_add {
        let upper = name.trim().to_ascii_uppercase();
        if upper == "ALL" {
            set.extend(0..ALL.len());
            continue;
        }
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        let position =
            index(&full).ok_or_else(|| RuntimeError::UnknownCapability { name: name.clone() })?;
        set.insert(position);
    }
    Ok(set
        .into_iter()
        .map(|position| ALL[position].to_owned())
        .collect())
}

fn index(cap: &str) -> Option<usize> {
    ALL.iter().position(|known| *known == cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_dockers_fourteen() {
        let caps = with_added(&[]).unwrap();
        assert_eq!(caps.len(), 14);
        assert!(caps.contains(&"CAP_NET_BIND_SERVICE".to_owned()));
        assert!(!caps.contains(&"CAP_SYS_ADMIN".to_owned()));
    }

    #[test]
    fn added_names_take_any_case_and_prefix() {
        let caps = with_added(&["net_admin".into(), "CAP_SYS_ADMIN".into()]).unwrap();
        assert_eq!(caps.len(), 16);
        assert!(caps.contains(&"CAP_NET_ADMIN".to_owned()));
        assert!(caps.contains(&"CAP_SYS_ADMIN".to_owned()));
    }

    #[test]
    fn all_grants_every_capability_once() {
        let caps = with_added(&["ALL".into(), "chown".into()]).unwrap();
        assert_eq!(caps, ALL.map(str::to_owned).to_vec());
    }

    #[test]
    fn an_unknown_name_is_refused_as_given() {
        assert!(matches!(
            with_added(&["fly".into()]),
            Err(RuntimeError::UnknownCapability { name }) if name == "fly"
        ));
    }
}
