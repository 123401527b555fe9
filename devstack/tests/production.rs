//! notary's production topology: notary-server on PostgreSQL with a notary-signer over mutual
//! TLS, driven with the Go `notary` client, across restarts of each process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Instant;

use devstack::{
    Database, ListenerSecurity, NotaryCli, NotaryOptions, Postgres, ProductionNotary,
    SIGNER_PASSPHRASE_ALIAS,
};

fn target_file(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("contents of {name}")).unwrap();
    path.display().to_string()
}

/// The target names a fresh Go client (empty trust dir) lists for `gun`.
fn fresh_go_list(notary: &ProductionNotary, gun: &str) -> Vec<String> {
    let cli = NotaryCli::new(notary).unwrap();
    let out = cli.run(&["list", gun]).unwrap();
    let mut names: Vec<String> = out
        .lines()
        .skip(2)
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect();
    names.sort();
    names
}

fn rows(postgres: &Postgres, database: &Database, sql: &str) -> Vec<String> {
    let out = postgres.query(database, sql).unwrap();
    out.lines().map(str::to_owned).collect()
}

#[test]
fn go_collection_lives_in_postgres_with_keys_in_the_signer_across_restarts() {
    let began = Instant::now();
    let mut notary =
        ProductionNotary::start(NotaryOptions::with_security(ListenerSecurity::Tls)).unwrap();
    eprintln!("production topology started in {:?}", began.elapsed());
    assert!(notary.url().starts_with("https://127.0.0.1:"));
    let gun = "example.com/production/go";
    let scratch = tempfile::tempdir().unwrap();
    let go = NotaryCli::new(&notary).unwrap();
    go.run(&["init", gun, "-p"]).unwrap();
    go.run(&["add", gun, "v1", &target_file(scratch.path(), "v1"), "-p"])
        .unwrap();

    // The TUF files are rows of the server's database, not in the server's memory.
    let roles = rows(
        notary.postgres(),
        notary.server_database(),
        &format!("SELECT DISTINCT role FROM tuf_files WHERE gun = '{gun}' ORDER BY role"),
    );
    assert_eq!(roles, ["root", "snapshot", "targets", "timestamp"]);
    // The timestamp key is the signer's, encrypted (JWE) under devstack's alias.
    let keys = rows(
        notary.postgres(),
        notary.signer_database(),
        &format!(
            "SELECT role, passphrase_alias, encode(private, 'escape') LIKE 'eyJ%' \
             FROM private_keys WHERE gun = '{gun}'"
        ),
    );
    assert_eq!(keys, [format!("timestamp|{SIGNER_PASSPHRASE_ALIAS}|t")]);

    let server_pid = notary.server().pid().unwrap();
    notary.server_mut().restart().unwrap();
    assert_ne!(notary.server().pid(), Some(server_pid));
    assert_eq!(fresh_go_list(&notary, gun), ["v1"]);

    // After a signer restart the server signs new timestamps with the key from the database.
    let signer_pid = notary.signer().pid().unwrap();
    notary.signer_mut().restart().unwrap();
    assert_ne!(notary.signer().pid(), Some(signer_pid));
    let first = go.run(&["add", gun, "v2", &target_file(scratch.path(), "v2"), "-p"]);
    publish_until_through(&go, gun, first);
    assert_eq!(fresh_go_list(&notary, gun), ["v1", "v2"]);
    let timestamps = rows(
        notary.postgres(),
        notary.server_database(),
        &format!("SELECT count(*) FROM tuf_files WHERE gun = '{gun}' AND role = 'timestamp'"),
    );
    assert_eq!(timestamps, ["3"], "init, v1 and v2 each made a timestamp");
}

/// notary-server's gRPC connection to a restarted signer comes back after a reconnect backoff
/// (about a second, growing), so a publish right after the restart may fail: retry it (the
/// change stays staged) for up to a minute.
fn publish_until_through(go: &NotaryCli, gun: &str, first: Result<String, devstack::Error>) {
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let mut outcome = first;
    while let Err(error) = &outcome {
        assert!(
            Instant::now() < deadline,
            "publish never went through: {error}"
        );
        eprintln!("publish not through yet: {error}");
        std::thread::sleep(std::time::Duration::from_millis(500));
        outcome = go.run(&["publish", gun]);
    }
}

#[test]
fn production_notary_stops_every_process_and_removes_its_directories_on_drop() {
    let notary = ProductionNotary::start(NotaryOptions::default()).unwrap();
    let pids = [
        notary.server().pid().unwrap(),
        notary.signer().pid().unwrap(),
        notary.postgres().pid().unwrap(),
    ];
    let dirs = [
        notary.server().dir().to_owned(),
        notary.signer().dir().to_owned(),
        notary.postgres().dir().to_owned(),
    ];
    for pid in pids {
        assert!(Path::new(&format!("/proc/{pid}")).exists(), "{pid} runs");
    }
    drop(notary);
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "{pid} stopped"
        );
    }
    for dir in dirs {
        assert!(!dir.exists(), "{} removed", dir.display());
    }
}

#[test]
fn postgres_keeps_its_data_across_a_restart_and_refuses_odd_names() {
    let began = Instant::now();
    let mut postgres = Postgres::start().unwrap();
    eprintln!("postgres (initdb + start) in {:?}", began.elapsed());
    let db = postgres
        .create_database(
            "kept",
            "CREATE TABLE t (v text); INSERT INTO t VALUES ('before');",
        )
        .unwrap();
    assert!(
        db.url()
            .contains(&format!("127.0.0.1:{}/kept", postgres.port()))
    );
    let port = postgres.port();
    postgres.restart().unwrap();
    assert_eq!(postgres.port(), port);
    assert_eq!(rows(&postgres, &db, "SELECT v FROM t"), ["before"]);
    // A schema that fails says which database it was for.
    let error = postgres
        .create_database("broken", "CREATE TABLE x (v text); NOT SQL;")
        .unwrap_err();
    assert!(error.to_string().contains("-d broken"), "{error}");
    assert!(matches!(
        postgres.create_database("Robert'); DROP", ""),
        Err(devstack::Error::DatabaseName { .. })
    ));
}
