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
/// (`net_admin`, `CAP_SYS_ADMIN`); `ALL` adds every capability this host can grant (its
/// bounding set, as docker reads it: a capability the host lacks would make runc fail
/// "unable to apply caps"). Sorted in kernel order.
pub fn with_added(cap_add: &[String]) -> Result<Vec<String>> {
    let mut set: BTreeSet<usize> = DOCKER_DEFAULT.iter().filter_map(|cap| index(cap)).collect();
    for name in cap_add {
        let upper = name.trim().to_ascii_uppercase();
        if upper == "ALL" {
            let bounding = host_bounding_set();
            set.extend((0..ALL.len()).filter(|&bit| bounding >> bit & 1 == 1));
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

/// The capabilities this process may pass on (`CapBnd` of `/proc/self/status`); every one
/// when it cannot be read.
fn host_bounding_set() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("CapBnd:"))?;
            u64::from_str_radix(line.trim_start_matches("CapBnd:").trim(), 16).ok()
        })
        .unwrap_or(u64::MAX)
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
    fn all_grants_capability_of_the_bounding_set_once() {
        let caps = with_added(&["ALL".into(), "chown".into()]).unwrap();
        let bounding = host_bounding_set();
        let expected: Vec<String> = (0..ALL.len())
            .filter(|&bit| {
                bounding >> bit & 1 == 1
                    || index(ALL[bit]).is_some_and(|i| DOCKER_DEFAULT.contains(&ALL[i]))
            })
            .map(|bit| ALL[bit].to_owned())
            .collect();
        assert_eq!(caps, expected);
        assert!(caps.len() >= 14);
    }

    #[test]
    fn an_unknown_name_is_refused_as_given() {
        assert!(matches!(
            with_added(&["fly".into()]),
            Err(RuntimeError::UnknownCapability { name }) if name == "fly"
        ));
    }
}
