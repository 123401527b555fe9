//! A PostgreSQL cluster of its own for notary-server and notary-signer: `initdb` in a
//! temporary directory, the server on a free loopback port, one role and database per user.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{self, Launch, Probe, Service, Shutdown};
use crate::{Error, require_binary};

/// The cluster's superuser, which creates the other roles and databases.
const SUPERUSER: &str = "devstack";
/// How long a fast shutdown (SIGINT) may take before the server is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Where the Debian packages put the versioned binaries (`/usr/lib/postgresql/15/bin`).
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// A running PostgreSQL server with a cluster of its own, stopped (fast shutdown) and removed
/// with its data on drop.
///
/// As root it runs as the `postgres` user (PostgreSQL refuses to run as root); otherwise as
/// the caller. It listens on `127.0.0.1` only, with password (SCRAM) authentication for
/// every role; its Unix socket lives in its own directory.
#[derive(Debug)]
pub struct Postgres {
    // Field order matters: the process is stopped before its directory is removed.
    service: Service,
    bin: PathBuf,
    password: String,
    dir: TempDir,
}

/// A database and the role that owns it, on a [`Postgres`] cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct Database {
    name: String,
    user: String,
    password: String,
    port: u16,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.name)
            .field("user", &self.user)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The role that owns it.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The `postgres://` URL (with the role's password) that notary-server's and
    /// notary-signer's `storage.db_url` take.
    pub fn url(&self) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{}?sslmode=disable",
            self.user, self.password, self.port, self.name
        )
    }
}

impl Postgres {
    /// Creates a cluster with `initdb` in a new temporary directory and starts the server on
    /// a free loopback port, waiting until `pg_isready` says it accepts connections.
    pub fn start() -> Result<Postgres, Error> {
        let bin = bin_dir()?;
        let run_as = run_as()?;
        let dir = process::instance_dir("devstack-postgres-")?;
        let socket = dir.path().join("socket");
        std::fs::create_dir(&socket).map_err(Error::io("create directory", &socket))?;
        let password = process::random_hex();
        let pwfile = dir.path().join("superuser-password");
        process::write_private(&pwfile, password.as_bytes())?;
        if let Some((uid, gid)) = run_as {
            for path in [dir.path(), socket.as_path(), pwfile.as_path()] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .map_err(Error::io("give the postgres user", path))?;
            }
        }
        let data = dir.path().join("data");
        let log = dir.path().join("postgres.log");
        initdb(&bin, dir.path(), &data, &pwfile, &log, run_as)?;
        std::fs::remove_file(&pwfile).map_err(Error::io("remove", &pwfile))?;

        let program = bin.join("postgres");
        let pg_isready = bin.join("pg_isready");
        let service = process::start_on_free_port_probed(
            "postgres",
            |port| ready_probe(&pg_isready, port),
            |port| {
                Ok(Launch {
                    name: "postgres",
                    program: program.clone(),
                    args: server_args(&data, &socket, port),
                    clear_env: &["PG"],
                    log: log.clone(),
                    health_timeout: process::HEALTH_TIMEOUT,
                    env: Vec::new(),
                    run_as,
                })
            },
        )?
        // A killed postmaster leaves its backends and shared memory behind: shut down.
        .with_shutdown(Shutdown::Signal {
            signal: "INT",
            grace: SHUTDOWN_GRACE,
        });
        tracing::info!(port = service.port(), "postgres is up");
        Ok(Postgres {
            service,
            bin,
            password,
            dir,
        })
    }

    /// Creates role `name` (with a random password) and database `name` owned by it, then runs
    /// `schema` (SQL) in that database as that role, all in one transaction.
    pub fn create_database(&self, name: &str, schema: &str) -> Result<Database, Error> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(Error::DatabaseName {
                name: name.to_owned(),
            });
        }
        let database = Database {
            name: name.to_owned(),
            user: name.to_owned(),
            password: process::random_hex(),
            port: self.port(),
        };
        let create_role = format!("CREATE ROLE {name} LOGIN PASSWORD '{}'", database.password);
        let create_database = format!("CREATE DATABASE {name} OWNER {name}");
        self.psql(
            SUPERUSER,
            &self.password,
            "postgres",
            &["-c", &create_role, "-c", &create_database],
        )?;
        self.psql(name, &database.password, name, &["-c", schema])?;
        tracing::debug!(name, "created database");
        Ok(database)
    }

    /// Runs `sql` in `database` as its owner and returns what `psql` prints, unaligned and
    /// without headers (one row a line, columns separated by `|`).
    pub fn query(&self, database: &Database, sql: &str) -> Result<String, Error> {
        self.psql(
            &database.user,
            &database.password,
            &database.name,
            &["-A", "-t", "-c", sql],
        )
    }

    fn psql(&self, user: &str, password: &str, db: &str, args: &[&str]) -> Result<String, Error> {
        let program = self.bin.join("psql");
        let port = self.port().to_string();
        let mut all = vec![
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            user,
            "-d",
            db,
        ];
        all.extend_from_slice(args);
        let mut command = Command::new(&program);
        command.args(&all).stdin(Stdio::null());
        process::clear_env_prefixed(&mut command, &["PG"]);
        command
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "5");
        let output = command.output().map_err(|source| Error::Spawn {
            program: program.clone(),
            source,
        })?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            return Err(Error::Cli {
                program: "psql".to_owned(),
                // Statements may hold passwords: name the database, not the SQL.
                args: vec![format!("-U {user} -d {db} (devstack's SQL)")],
                status: output.status,
                stdout,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(stdout)
    }

    /// The port it listens on (on `127.0.0.1`, kept across [`Postgres::restart`]).
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        self.service.log_path()
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's process ID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.service.pid()
    }

    /// Stops the server (fast shutdown: sessions end, data is kept) for [`Postgres::restart`].
    pub fn stop(&mut self) {
        self.service.stop();
    }

    /// Stops the server if it runs and starts it again on the same port and data.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.service.restart()
    }

    /// The instance's temporary directory (data, socket, log), removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn server_args(data: &Path, socket: &Path, port: u16) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "-D".into(),
        data.into(),
        "-k".into(),
        socket.into(),
        "-p".into(),
        port.to_string().into(),
    ];
    // Loopback only; durability against a process restart, not a machine crash (tests).
    for setting in [
        "listen_addresses=127.0.0.1",
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
        "shared_buffers=16MB",
        "max_connections=40",
    ] {
        args.push("-c".into());
        args.push(setting.into());
    }
    args
}

fn ready_probe(pg_isready: &Path, port: u16) -> Probe {
    let program = pg_isready.to_owned();
    let port_text = port.to_string();
    Probe::Check {
        target: format!("postgres://127.0.0.1:{port} (pg_isready)"),
        ready: Arc::new(move || {
            Command::new(&program)
                .args(["-q", "-h", "127.0.0.1", "-p", &port_text, "-t", "1"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        }),
    }
}

fn initdb(
    bin: &Path,
    dir: &Path,
    data: &Path,
    pwfile: &Path,
    log: &Path,
    run_as: Option<(u32, u32)>,
) -> Result<(), Error> {
    let program = bin.join("initdb");
    let mut command = Command::new(&program);
    command
        .arg("-D")
        .arg(data)
        .arg(format!("--username={SUPERUSER}"))
        .arg("--pwfile")
        .arg(pwfile)
        .args([
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ])
        .current_dir(dir)
        .stdin(Stdio::null());
    process::clear_env_prefixed(&mut command, &["PG"]);
    if let Some((uid, gid)) = run_as {
        use std::os::unix::process::CommandExt as _;
        command.uid(uid).gid(gid);
    }
    let output = command.output().map_err(|source| Error::Spawn {
        program: program.clone(),
        source,
    })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    process::write_private(log, text.as_bytes())?;
    if !output.status.success() {
        return Err(Error::Exited {
            name: "initdb".to_owned(),
            status: output.status,
            log: log.to_owned(),
            log_tail: process::log_tail(log),
        });
    }
    Ok(())
}

/// The directory with `initdb`, `postgres`, `pg_isready` and `psql`: the newest
/// `/usr/lib/postgresql/N/bin` (Debian), else the directory of `postgres` on `PATH`.
fn bin_dir() -> Result<PathBuf, Error> {
    let complete = |dir: &Path| {
        ["initdb", "postgres", "pg_isready", "psql"]
            .iter()
            .all(|name| crate::is_executable(&dir.join(name)))
    };
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| complete(dir))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Ok(dir);
    }
    let postgres = require_binary("postgres", "postgresql")?;
    let resolved = std::fs::canonicalize(&postgres).unwrap_or(postgres);
    match resolved.parent() {
        Some(dir) if complete(dir) => Ok(dir.to_owned()),
        _ => Err(Error::MissingBinary {
            name: format!("initdb, pg_isready or psql next to {}", resolved.display()),
            package: "postgresql".to_owned(),
        }),
    }
}

/// As root, the `postgres` user's (uid, gid); otherwise none (run as the caller).
fn run_as() -> Result<Option<(u32, u32)>, Error> {
    use std::os::unix::fs::MetadataExt as _;
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0);
    if !is_root {
        return Ok(None);
    }
    let id = |flag: &str| -> Option<u32> {
        let output = Command::new("id")
            .args([flag, "postgres"])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !output.status.success() {
            return None;
        }
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) if uid != 0 => Ok(Some((uid, gid))),
        _ => Err(Error::PostgresUser),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn database_url_and_debug() {
        let db = Database {
            name: "notaryserver".to_owned(),
            user: "notaryserver".to_owned(),
            password: "s3cret".to_owned(),
            port: 5555,
        };
        assert_eq!(
            db.url(),
            "postgres://notaryserver:s3cret@127.0.0.1:5555/notaryserver?sslmode=disable"
        );
        assert!(!format!("{db:?}").contains("s3cret"));
    }

    #[test]
    fn server_listens_on_loopback_only() {
        let args = server_args(Path::new("/d"), Path::new("/s"), 7);
        let args: Vec<String> = args
            .iter()
            .map(|arg| arg.to_string_lossy().into())
            .collect();
        assert!(args.contains(&"listen_addresses=127.0.0.1".to_owned()));
        assert_eq!(args[..6], ["-D", "/d", "-k", "/s", "-p", "7"]);
    }
}
