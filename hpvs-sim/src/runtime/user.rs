//! The image's `User` (`name`, `uid`, `name:group`, `uid:gid`) resolved against the root
//! filesystem's own `/etc/passwd` and `/etc/group`, as Docker does.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::{Result, RuntimeError, io_error};
use super::spec;

/// A passwd or group file larger than this is refused rather than read.
const MAX_ACCOUNT_FILE: u64 = 1 << 20;

/// Resolves `user` (the image config's `User`; empty means root) to numeric ids.
///
/// A numeric user missing from `/etc/passwd` runs with gid 0; a name that is missing is an
/// error. Supplementary groups are those of `/etc/group` that list the user, unless a group
/// was given explicitly.
pub fn resolve(rootfs: &Path, user: &str) -> Result<spec::User> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((_, group)) if group.contains(':') => {
            return Err(RuntimeError::InvalidUser {
                user: user.to_owned(),
            });
        }
        Some((user_part, group)) => (user_part, Some(group)),
        None => (user, None),
    };
    if user_part.is_empty() && group_part.is_none() {
        return Ok(spec::User {
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
        });
    }
    if user_part.is_empty() || group_part == Some("") {
        return Err(RuntimeError::InvalidUser {
            user: user.to_owned(),
        });
    }
    let passwd_path = rootfs.join("etc/passwd");
    let passwd = read_account_file(rootfs, "passwd")?;
    let entry = passwd
        .as_deref()
        .and_then(|text| find_passwd(text, user_part));
    let (uid, primary_gid, name) = match (entry, user_part.parse::<u32>()) {
        (Some(entry), _) => (entry.uid, entry.gid, Some(entry.name)),
        (None, Ok(uid)) => (uid, 0, None),
        (None, Err(_)) => {
            return Err(RuntimeError::UserNotFound {
                user: user_part.to_owned(),
                passwd: passwd_path,
            });
        }
    };
    let groups = read_account_file(rootfs, "group")?;
    let group_path = rootfs.join("etc/group");
    let (gid, additional_gids) = match group_part {
        Some(group) => (
            resolve_group(groups.as_deref(), group, group_path)?,
            Vec::new(),
        ),
        None => {
            let member_of = match (groups.as_deref(), name) {
                (Some(text), Some(name)) => groups_listing(text, name)
                    .filter(|&gid| gid != primary_gid)
                    .collect(),
                _ => Vec::new(),
            };
            (primary_gid, member_of)
        }
    };
    Ok(spec::User {
        uid,
        gid,
        additional_gids,
    })
}

/// One `/etc/passwd` entry's ids.
struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

/// Finds `user` by name, or by number when no entry has that name.
fn find_passwd<'a>(passwd: &'a str, user: &str) -> Option<PasswdEntry<'a>> {
    let entries = || {
        passwd.lines().filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                [name, _, uid, gid, ..] if !name.starts_with('#') => Some(PasswdEntry {
                    name,
                    uid: uid.parse().ok()?,
                    gid: gid.parse().ok()?,
                }),
                _ => None,
            }
        })
    };
    entries().find(|entry| entry.name == user).or_else(|| {
        let uid = user.parse::<u32>().ok()?;
        entries().find(|entry| entry.uid == uid)
    })
}

/// A group by name, or a number used as it is.
fn resolve_group(groups: Option<&str>, group: &str, group_file: PathBuf) -> Result<u32> {
    let by_name = groups.and_then(|text| {
        group_entries(text)
            .find(|(name, _, _)| *name == group)
            .map(|(_, gid, _)| gid)
    });
    match (by_name, group.parse::<u32>()) {
        (Some(gid), _) | (None, Ok(gid)) => Ok(gid),
        (None, Err(_)) => Err(RuntimeError::GroupNotFound {
            group: group.to_owned(),
            group_file,
        }),
    }
}

/// `(name, gid, members)` of each well-formed `/etc/group` line.
fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, &str)> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [name, _, gid, members] if !name.starts_with('#') => {
                Some((*name, gid.parse().ok()?, *members))
            }
            _ => None,
        }
    })
}

/// Gids of the groups whose member list names `user`.
fn groups_listing<'a>(text: &'a str, user: &'a str) -> impl Iterator<Item = u32> + 'a {
    group_entries(text)
        .filter(move |(_, _, members)| members.split(',').any(|member| member.trim() == user))
        .map(|(_, gid, _)| gid)
}

/// Reads `<rootfs>/etc/<name>`, or `None` when it does not exist.
///
/// The root filesystem is the image's: `/etc` or the file being a symlink could point the
/// read at a host file, so neither may be one.
fn read_account_file(rootfs: &Path, name: &str) -> Result<Option<String>> {
    let etc = rootfs.join("etc");
    let path = etc.join(name);
    for (candidate, what) in [(&etc, "directory"), (&path, "file")] {
        match std::fs::symlink_metadata(candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(RuntimeError::UnsafeRootfsFile {
                    path: candidate.clone(),
                    reason: "a symlink: it could lead outside the root filesystem",
                });
            }
            Ok(meta) if what == "file" && !meta.is_file() => {
                return Err(RuntimeError::UnsafeRootfsFile {
                    path: candidate.clone(),
                    reason: "not a regular file",
                });
            }
            Ok(meta) if what == "file" && meta.len() > MAX_ACCOUNT_FILE => {
                return Err(RuntimeError::UnsafeRootfsFile {
                    path: candidate.clone(),
                    reason: "larger than 1 MiB",
                });
            }
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io_error("inspect", candidate.clone())(error)),
        }
    }
    let mut text = String::new();
    std::fs::File::open(&path)
        .and_then(|file| file.take(MAX_ACCOUNT_FILE).read_to_string(&mut text))
        .map_err(io_error("read", &path))?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs(passwd: &str, group: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), passwd).unwrap();
        std::fs::write(dir.path().join("etc/group"), group).unwrap();
        dir
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\n\
                          app:x:1000:1001::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\napp:x:1001:\nwheel:x:10:root,app\naudio:x:29:app\n";

    #[test]
    fn empty_user_is_root() {
        let dir = rootfs(PASSWD, GROUP);
        let user = resolve(dir.path(), "").unwrap();
        assert_eq!((user.uid, user.gid), (0, 0));
        assert!(user.additional_gids.is_empty());
    }

    #[test]
    fn a_name_takes_its_primary_group_and_memberships() {
        let dir = rootfs(PASSWD, GROUP);
        let user = resolve(dir.path(), "app").unwrap();
        assert_eq!((user.uid, user.gid), (1000, 1001));
        assert_eq!(user.additional_gids, vec![10, 29]);
    }

    #[test]
    fn a_number_in_passwd_takes_its_group_and_one_outside_takes_gid_0() {
        let dir = rootfs(PASSWD, GROUP);
        let known = resolve(dir.path(), "1000").unwrap();
        assert_eq!((known.uid, known.gid), (1000, 1001));
        let unknown = resolve(dir.path(), "4242").unwrap();
        assert_eq!((unknown.uid, unknown.gid), (4242, 0));
    }

    #[test]
    fn an_explicit_group_by_name_or_number_replaces_memberships() {
        let dir = rootfs(PASSWD, GROUP);
        let named = resolve(dir.path(), "app:wheel").unwrap();
        assert_eq!((named.uid, named.gid), (1000, 10));
        assert!(named.additional_gids.is_empty());
        let numeric = resolve(dir.path(), "4242:77").unwrap();
        assert_eq!((numeric.uid, numeric.gid), (4242, 77));
    }

    #[test]
    fn unknown_names_are_errors_naming_the_file() {
        let dir = rootfs(PASSWD, GROUP);
        match resolve(dir.path(), "nobody") {
            Err(RuntimeError::UserNotFound { user, passwd }) => {
                assert_eq!(user, "nobody");
                assert_eq!(passwd, dir.path().join("etc/passwd"));
            }
            other => panic!("expected UserNotFound, got {other:?}"),
        }
        assert!(matches!(
            resolve(dir.path(), "app:staff"),
            Err(RuntimeError::GroupNotFound { group, .. }) if group == "staff"
        ));
    }

    #[test]
    fn a_name_without_passwd_is_an_error_and_a_number_is_not() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            resolve(dir.path(), "app"),
            Err(RuntimeError::UserNotFound { .. })
        ));
        assert_eq!(resolve(dir.path(), "5:6").unwrap().gid, 6);
    }

    #[test]
    fn malformed_users_are_refused() {
        let dir = rootfs(PASSWD, GROUP);
        for user in ["a:b:c", ":0", "app:"] {
            assert!(
                matches!(
                    resolve(dir.path(), user),
                    Err(RuntimeError::InvalidUser { .. })
                ),
                "{user}"
            );
        }
    }

    #[test]
    fn a_symlinked_passwd_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("etc/passwd")).unwrap();
        assert!(matches!(
            resolve(dir.path(), "root"),
            Err(RuntimeError::UnsafeRootfsFile { path, .. }) if path.ends_with("etc/passwd")
        ));
    }
}
