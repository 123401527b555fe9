//! The lab's git host: real sshd and git. An authorised deploy key pushes and clones over
//! SSH; another key is refused; the host key the client learns is the server's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use devstack::GitHost;

fn keygen(path: &Path) -> String {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(path.with_extension("pub")).unwrap()
}

/// `git ARGS` with only `key` and a known-hosts file of the test's own.
fn git(dir: &Path, key: &Path, known_hosts: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=Lab", "-c", "user.email=lab@example.com"])
        .args(args)
        .env(
            "GIT_SSH_COMMAND",
            format!(
                "ssh -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=accept-new -o BatchMode=yes",
                key.display(),
                known_hosts.display()
            ),
        )
        .output()
        .unwrap()
}

#[test]
fn an_authorised_deploy_key_pushes_and_clones_and_another_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let host = GitHost::start().unwrap();
    let url = host.create_repository("wallet").unwrap();
    assert!(url.starts_with("ssh://root@127.0.0.1:"), "{url}");
    let key = dir.path().join("deploy");
    host.authorize(&keygen(&key)).unwrap();
    let known_hosts = dir.path().join("known_hosts");

    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("README"), "wallet\n").unwrap();
    for args in [
        &["init", "--quiet", "--initial-branch", "main"][..],
        &["add", "."],
        &["commit", "--quiet", "-m", "first"],
        &["remote", "add", "origin", &url],
        &["push", "--quiet", "origin", "main"],
    ] {
        let output = git(&work, &key, &known_hosts, args);
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // The host key learnt on first use is the server's.
    let learnt = std::fs::read_to_string(&known_hosts).unwrap();
    let host_key_body = host.host_key().split_whitespace().nth(1).unwrap();
    assert!(learnt.contains(host_key_body), "{learnt}");

    let clone = dir.path().join("clone");
    let output = git(
        dir.path(),
        &key,
        &known_hosts,
        &["clone", "--quiet", &url, clone.to_str().unwrap()],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(clone.join("README")).unwrap(),
        "wallet\n"
    );

    let stranger = dir.path().join("stranger");
    keygen(&stranger);
    let output = git(
        dir.path(),
        &stranger,
        &known_hosts,
        &[
            "clone",
            "--quiet",
            &url,
            dir.path().join("nope").to_str().unwrap(),
        ],
    );
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(host.create_repository("../escape").is_err());
    assert!(host.authorize("not a key").is_err());
}

#[test]
fn push_tree_commits_a_work_tree_and_the_repository_has_that_commit() {
    let dir = tempfile::tempdir().unwrap();
    let host = GitHost::start().unwrap();
    host.create_repository("app").unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("Dockerfile"), "FROM scratch\n").unwrap();
    let first = host.push_tree("app", &work, "first").unwrap();
    std::fs::write(work.join("Dockerfile"), "FROM scratch\nCOPY a /\n").unwrap();
    let second = host.push_tree("app", &work, "second").unwrap();
    assert_ne!(first, second);
    assert_eq!(second.len(), 40, "{second}");
    let bare = host.repository_path("app");
    let main = devstack::git(&bare, &["rev-parse", "main"]).unwrap();
    assert_eq!(main.trim(), second);
    let parent = devstack::git(&bare, &["rev-parse", "main~1"]).unwrap();
    assert_eq!(parent.trim(), first);
}
