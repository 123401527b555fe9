//! Staging runs offline (status, reset, delete), and what `trust` refuses at staging or init:
//! control characters, a nested delegation without its parent, a GUN another root owns, GUNs
//! that URLs would rewrite.

use super::*;

#[test]
fn staging_runs_offline_reset_and_delete_work_like_go() {
    let Fixture { server, dir, ours } = Fixture::start();
    let gun = "example.com/offline/app";
    let file = payload(&dir, b"offline bytes");
    let path = file.to_str().unwrap();
    ok(trust(&server, &ours, &["init", gun, "-p"]));

    // Staging never talks to the server: a dead one, or none configured at all.
    let digest = "b".repeat(64);
    for (url, args) in [
        (Some(DEAD_SERVER), vec!["add", gun, "t0", path]),
        (None, vec!["add", gun, "t1", path]),
        (
            Some(DEAD_SERVER),
            vec!["add-hash", gun, "t2", "12", "--sha256", &digest],
        ),
        (None, vec!["remove", gun, "t3"]),
        (Some(DEAD_SERVER), vec!["add", gun, "t4", path]),
    ] {
        ok(trust_at(url, &ours, &args, &[]));
    }
    let status = ok(trust_at(None, &ours, &["status", gun], &[]));
    let go = NotaryCli::with_trust_dir(&server, &ours).unwrap();
    assert_eq!(status, go.run(&["status", gun]).unwrap());

    // reset -n as Go: numbers as status lists them, repeated or comma-separated.
    let reset = ok(trust_at(
        DEAD_SERVER.into(),
        &ours,
        &["reset", gun, "-n", "1", "-n", "3"],
        &[],
    ));
    assert_eq!(
        reset.trim_end(),
        format!("Successfully reset specified changes for repository {gun}")
    );
    let left: Vec<String> = ok(trust_at(None, &ours, &["status", gun], &[]))
        .lines()
        .skip(4)
        .map(|l| l.split_whitespace().last().unwrap().to_owned())
        .collect();
    assert_eq!(left, ["t0", "t2", "t4"]);
    let error = failed(trust_at(None, &ours, &["reset", gun, "-n", "0,7"], &[]));
    assert!(error.contains("no staged change number 7"), "{error}");
    assert_eq!(
        go.run(&["status", gun]).unwrap().lines().count(),
        7,
        "nothing was dropped"
    );
    let error = failed(trust_at(None, &ours, &["reset", gun], &[]));
    assert!(error.contains("-n or the --all flag"), "{error}");
    ok(trust_at(None, &ours, &["reset", gun, "-n", "1"], &[]));
    ok(trust(&server, &ours, &["publish", gun]));
    let names: Vec<String> = go
        .run(&["list", gun])
        .unwrap()
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["t0", "t4"]);
    ok(trust_at(None, &ours, &["add", gun, "t5", path], &[]));
    ok(trust_at(None, &ours, &["reset", gun, "--all"], &[]));
    assert_eq!(
        ok(trust_at(None, &ours, &["status", gun], &[])).trim_end(),
        format!("No unpublished changes for {gun}")
    );

    // delete without --remote: only the local trust data goes (offline), keys stay, the
    // server keeps the collection; the output is Go's.
    let keys = files_in(&ours.join("private"));
    ok(trust_at(None, &ours, &["add", gun, "t6", path], &[]));
    let deleted = ok(trust_at(Some(DEAD_SERVER), &ours, &["delete", gun], &[]));
    let go_dir = dir.path().join("go");
    let go_own = NotaryCli::with_trust_dir(&server, &go_dir).unwrap();
    go_own.run(&["list", gun]).unwrap();
    assert_eq!(deleted, go_own.run(&["delete", gun]).unwrap());
    assert!(!ours.join("tuf").join(gun).exists());
    assert!(!go_dir.join("tuf").join(gun).join("metadata").exists());
    assert_eq!(files_in(&ours.join("private")), keys);
    let listed = ok(trust(&server, &ours, &["list", gun]));
    assert!(listed.contains("t0") && listed.contains("t4"), "{listed}");
}

#[test]
fn control_characters_in_target_names_are_refused_at_add() {
    let Fixture { server, dir, ours } = Fixture::start();
    let gun = "example.com/control/app";
    let file = payload(&dir, b"bytes");
    let path = file.to_str().unwrap();
    ok(trust(&server, &ours, &["init", gun, "-p"]));
    for name in ["a\nb", "t\tx", "x\u{1}y"] {
        let error = failed(trust(&server, &ours, &["add", gun, name, path]));
        assert!(error.contains("control character"), "{error}");
        let error = failed(trust(&server, &ours, &["remove", gun, name]));
        assert!(error.contains("control character"), "{error}");
    }
    assert!(ok(trust(&server, &ours, &["status", gun])).contains("No unpublished changes"));

    // Go stages such a name, but cannot publish it: its canonical JSON writes it raw.
    let go = NotaryCli::with_trust_dir(&server, &ours).unwrap();
    go.run(&["add", gun, "a\nb", path]).unwrap();
    let go_error = go.run(&["publish", gun]).unwrap_err().to_string();
    assert!(go_error.contains("invalid character"), "{go_error}");
    // Ours refuses the change Go staged before sending anything, and says why.
    let error = failed(trust(&server, &ours, &["publish", gun]));
    assert!(
        error.contains("control character") && !error.contains("MALFORMED"),
        "{error}"
    );
    ok(trust(&server, &ours, &["reset", gun, "--all"]));
    ok(trust(&server, &ours, &["add", gun, "h<&>é", path, "-p"]));
    let listed = NotaryCli::new(&server)
        .unwrap()
        .run(&["list", gun])
        .unwrap();
    assert!(listed.contains("h<&>é"), "{listed}");
}

#[test]
fn a_nested_delegation_needs_its_parent_at_staging_time() {
    let Fixture { server, dir, ours } = Fixture::start();
    let gun = "example.com/nested/app";
    let (_, cert) = devstack::openssl::ec_key_and_certificate(dir.path(), "nested").unwrap();
    let cert = cert.to_str().unwrap();
    ok(trust(&server, &ours, &["init", gun, "-p"]));
    let error = failed(trust(
        &server,
        &ours,
        &["delegation", "add", gun, "targets/a/b", cert, "--all-paths"],
    ));
    assert!(
        error.contains("parent role targets/a does not exist"),
        "{error}"
    );
    assert!(ok(trust(&server, &ours, &["status", gun])).contains("No unpublished changes"));
    // Staged parent first, then the child: both accepted, and published.
    ok(trust(
        &server,
        &ours,
        &["delegation", "add", gun, "targets/a", cert, "--all-paths"],
    ));
    ok(trust(
        &server,
        &ours,
        &["delegation", "add", gun, "targets/a/b", cert, "--all-paths"],
    ));
    ok(trust(&server, &ours, &["reset", gun, "--all"]));
    // A parent published earlier (in the cache) counts too.
    ok(trust(
        &server,
        &ours,
        &[
            "delegation",
            "add",
            gun,
            "targets/a",
            cert,
            "--all-paths",
            "-p",
        ],
    ));
    ok(trust(
        &server,
        &ours,
        &["delegation", "add", gun, "targets/a/b", cert, "--all-paths"],
    ));
}

#[test]
fn init_of_a_gun_another_root_owns_says_so() {
    // The directory holds the trust dir: it lives to the end of the test.
    let Fixture {
        server,
        dir: _dir,
        ours,
    } = Fixture::start();
    let gun = "example.com/owned/app";
    NotaryCli::new(&server)
        .unwrap()
        .run(&["init", gun, "-p"])
        .unwrap();
    let error = failed(trust(&server, &ours, &["init", gun, "-p"]));
    assert!(
        error.contains("already exists on") && error.contains("under another root"),
        "{error}"
    );
    assert!(
        !error.contains("older than") && !error.contains("--remote"),
        "{error}"
    );
}

#[test]
fn guns_that_urls_would_rewrite_are_refused() {
    let server = NotaryServer::start(NotaryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scratch = payload(&dir, b"kill switch");
    let go = NotaryCli::new(&server).unwrap();
    go.run(&["init", "example.com/kill", "-p"]).unwrap();
    go.run(&[
        "add",
        "example.com/kill",
        "secret",
        scratch.to_str().unwrap(),
        "-p",
    ])
    .unwrap();
    let ours = dir.path().join("trust");
    for gun in [
        "example.com/x/%2e%2e/kill",
        "example.com/x/../kill",
        "example.com/kill?x",
        "example.com/kill#x",
        "example.com/Kill",
    ] {
        let output = trust(&server, &ours, &["list", gun]);
        assert!(!String::from_utf8_lossy(&output.stdout).contains("secret"));
        let error = failed(output);
        assert!(error.contains("invalid GUN"), "{gun}: {error}");
        assert!(!ours.join("tuf").join("example.com").join("kill").exists());
    }
    let error = failed(trust(
        &server,
        &ours,
        &["list", "example.com/x/%2e%2e/kill"],
    ));
    assert!(error.contains("expected a repository name"), "{error}");
    // The collection itself is readable by its own name.
    assert!(ok(trust(&server, &ours, &["list", "example.com/kill"])).contains("secret"));
}
