//! The appliance's persisted state: one SQLite database in the state directory.
//!
//! Every change is one transaction, so a process killed at any moment restarts into a state
//! that some sequence of whole calls produced. Calls take a mutex for the few milliseconds
//! a local transaction lasts; they are not worth a thread hop.
//!
//! Secrets (registry passwords, a registration's pull credentials, server env values) are
//! stored sealed (AES-256-GCM under the appliance's sealing key); the store holds the sealed bytes and never sees
//! the key.

mod schema;
mod servers;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use hpvs_api::wire::{Filesystem, Quotagroup, Registry, Repository};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{ApplianceError, Result};

pub use servers::{NewServerRow, ServerRow};

/// A registry as stored: its password sealed.
#[derive(Debug, Clone)]
pub struct RegistryRow {
    /// Its name, URL, Notary URL and user.
    pub registry: Registry,
    /// The sealed password, if one was given.
    pub password_sealed: Option<Vec<u8>>,
}

/// A repository as stored.
#[derive(Debug, Clone)]
pub struct RepositoryRow {
    /// What the API reports (its `servers` filled from the servers table).
    pub repository: Repository,
    /// The registry its images come from (none for the built-in build server).
    pub registry: Option<String>,
    /// The sealed registration JSON (none for the built-in build server).
    pub registration_sealed: Option<Vec<u8>>,
}

/// The appliance's database.
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (or makes) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = Connection::open(path)?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// An empty database in memory (for tests).
    pub fn in_memory() -> Result<Self> {
        let mut conn = Connection::open_in_memory()?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock left no transaction open (rusqlite rolls back on
        // drop), so the connection is still consistent.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a registry; its name must be new.
    pub fn add_registry(&self, row: &RegistryRow) -> Result<()> {
        let r = &row.registry;
        let inserted = self.conn().execute(
            "INSERT INTO registries (name, url, dct, user, password_sealed) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name) DO NOTHING",
            params![r.name, r.url, r.dct, r.user, row.password_sealed],
        )?;
        if inserted == 0 {
            return Err(exists("registry", &r.name));
        }
        Ok(())
    }

    /// Every registry, by name.
    pub fn registries(&self) -> Result<Vec<RegistryRow>> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT name, url, dct, user, password_sealed FROM registries ORDER BY name",
        )?;
        let rows = statement.query_map([], registry_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The registry `name`.
    pub fn registry(&self, name: &str) -> Result<RegistryRow> {
        self.conn()
            .query_row(
                "SELECT name, url, dct, user, password_sealed FROM registries WHERE name = ?1",
                [name],
                registry_row,
            )
            .optional()?
            .ok_or_else(|| not_found("registry", name))
    }

    /// Replaces the registry `row.registry.name`.
    pub fn update_registry(&self, row: &RegistryRow) -> Result<()> {
        let r = &row.registry;
        let updated = self.conn().execute(
            "UPDATE registries SET url = ?2, dct = ?3, user = ?4, password_sealed = ?5 WHERE name = ?1",
            params![r.name, r.url, r.dct, r.user, row.password_sealed],
        )?;
        if updated == 0 {
            return Err(not_found("registry", &r.name));
        }
        Ok(())
    }

    /// Deletes the registry `name`; one that a repository pulls from is refused.
    pub fn delete_registry(&self, name: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let holders = column(
            &tx,
            "SELECT id FROM repositories WHERE registry = ?1 ORDER BY id",
            [name],
        )?;
        if !holders.is_empty() {
            return Err(in_use("registry", name, holders));
        }
        if tx.execute("DELETE FROM registries WHERE name = ?1", [name])? == 0 {
            return Err(not_found("registry", name));
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a repository, or replaces it when `replace` (an update whose vendor the
    /// caller has checked).
    pub fn put_repository(&self, row: &RepositoryRow, replace: bool) -> Result<()> {
        let r = &row.repository;
        let whitelist = serde_json::to_string(&r.envs_whitelist).unwrap_or_default();
        let cap_add = serde_json::to_string(&r.cap_add).unwrap_or_default();
        let sql = if replace {
            "UPDATE repositories SET repository_name = ?2, registry = ?3, root_key_id = ?4,
             vendor_fingerprint = ?5, envs_whitelist = ?6, cap_add = ?7, runtime = ?8,
             registration_sealed = ?9 WHERE id = ?1"
        } else {
            "INSERT INTO repositories (id, repository_name, registry, root_key_id,
             vendor_fingerprint, envs_whitelist, cap_add, runtime, registration_sealed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(id) DO NOTHING"
        };
        let changed = self.conn().execute(
            sql,
            params![
                r.id,
                r.repository_name,
                row.registry,
                r.root_key_id,
                r.vendor_fingerprint,
                whitelist,
                cap_add,
                r.runtime,
                row.registration_sealed
            ],
        )?;
        match (changed, replace) {
            (0, true) => Err(not_found("repository", &r.id)),
            (0, false) => Err(exists("repository", &r.id)),
            _ => Ok(()),
        }
    }

    /// Every repository, by ID.
    pub fn repositories(&self) -> Result<Vec<RepositoryRow>> {
        let conn = self.conn();
        let ids = column(&conn, "SELECT id FROM repositories ORDER BY id", [])?;
        ids.iter().map(|id| repository_row(&conn, id)).collect()
    }

    /// The repository `id`.
    pub fn repository(&self, id: &str) -> Result<RepositoryRow> {
        repository_row(&self.conn(), id)
    }

    /// Deletes the repository `id` and its images' records. Refused while servers use it:
    /// the caller removes them first (`force`).
    pub fn delete_repository(&self, id: &str) -> Result<Vec<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let holders = column(
            &tx,
            "SELECT name FROM servers WHERE repo = ?1 ORDER BY name",
            [id],
        )?;
        if !holders.is_empty() {
            return Err(in_use("repository", id, holders));
        }
        let images = column(
            &tx,
            "SELECT digest FROM images WHERE repo = ?1 ORDER BY digest",
            [id],
        )?;
        tx.execute("DELETE FROM images WHERE repo = ?1", [id])?;
        if tx.execute("DELETE FROM repositories WHERE id = ?1", [id])? == 0 {
            return Err(not_found("repository", id));
        }
        tx.commit()?;
        Ok(images)
    }

    /// Records a quotagroup; its name must be new.
    pub fn add_quotagroup(&self, group: &Quotagroup) -> Result<()> {
        let inserted = self.conn().execute(
            "INSERT INTO quotagroups (name, size, filesystem, passthrough, pool_id)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(name) DO NOTHING",
            params![
                group.name,
                to_sql_size(group.size)?,
                group.filesystem.as_str(),
                group.passthrough,
                group.pool_id
            ],
        )?;
        if inserted == 0 {
            return Err(exists("quotagroup", &group.name));
        }
        Ok(())
    }

    /// Every quotagroup, with its servers and available bytes.
    pub fn quotagroups(&self) -> Result<Vec<Quotagroup>> {
        let conn = self.conn();
        let names = column(&conn, "SELECT name FROM quotagroups ORDER BY name", [])?;
        names.iter().map(|name| quotagroup(&conn, name)).collect()
    }

    /// The quotagroup `name`.
    pub fn quotagroup(&self, name: &str) -> Result<Quotagroup> {
        quotagroup(&self.conn(), name)
    }

    /// Deletes the quotagroup `name`; one with mounts is refused.
    pub fn delete_quotagroup(&self, name: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let holders = column(
            &tx,
            "SELECT DISTINCT server FROM mounts WHERE quotagroup = ?1 ORDER BY server",
            [name],
        )?;
        if !holders.is_empty() {
            return Err(in_use("quotagroup", name, holders));
        }
        if tx.execute("DELETE FROM quotagroups WHERE name = ?1", [name])? == 0 {
            return Err(not_found("quotagroup", name));
        }
        tx.commit()?;
        Ok(())
    }
}

fn registry_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RegistryRow> {
    let password_sealed: Option<Vec<u8>> = row.get(4)?;
    Ok(RegistryRow {
        registry: Registry {
            name: row.get(0)?,
            url: row.get(1)?,
            dct: row.get(2)?,
            user: row.get(3)?,
            has_password: password_sealed.is_some(),
        },
        password_sealed,
    })
}

fn repository_row(conn: &Connection, id: &str) -> Result<RepositoryRow> {
    let row = conn
        .query_row(
            "SELECT id, repository_name, registry, root_key_id, vendor_fingerprint,
                    envs_whitelist, cap_add, runtime, registration_sealed
             FROM repositories WHERE id = ?1",
            [id],
            |row| {
                let whitelist: String = row.get(5)?;
                let cap_add: String = row.get(6)?;
                Ok(RepositoryRow {
                    repository: Repository {
                        id: row.get(0)?,
                        repository_name: row.get(1)?,
                        root_key_id: row.get(3)?,
                        vendor_fingerprint: row.get(4)?,
                        envs_whitelist: serde_json::from_str(&whitelist).unwrap_or_default(),
                        cap_add: serde_json::from_str(&cap_add).unwrap_or_default(),
                        runtime: row.get(7)?,
                        servers: Vec::new(),
                    },
                    registry: row.get(2)?,
                    registration_sealed: row.get(8)?,
                })
            },
        )
        .optional()?;
    let mut row = row.ok_or_else(|| not_found("repository", id))?;
    row.repository.servers = column(
        conn,
        "SELECT name FROM servers WHERE repo = ?1 ORDER BY name",
        [id],
    )?;
    Ok(row)
}

fn quotagroup(conn: &Connection, name: &str) -> Result<Quotagroup> {
    let found = conn
        .query_row(
            "SELECT name, size, filesystem, passthrough, pool_id,
                    (SELECT COALESCE(SUM(size), 0) FROM mounts WHERE quotagroup = ?1)
             FROM quotagroups WHERE name = ?1",
            [name],
            |row| {
                let size: i64 = row.get(1)?;
                let used: i64 = row.get(5)?;
                let filesystem: String = row.get(2)?;
                Ok((
                    Quotagroup {
                        name: row.get(0)?,
                        size: u64::try_from(size).unwrap_or_default(),
                        filesystem: filesystem.parse().unwrap_or(Filesystem::Btrfs),
                        passthrough: row.get(3)?,
                        pool_id: row.get(4)?,
                        containers: Vec::new(),
                        available: 0,
                    },
                    u64::try_from(used).unwrap_or_default(),
                ))
            },
        )
        .optional()?;
    let (mut group, used) = found.ok_or_else(|| not_found("quotagroup", name))?;
    group.available = group.size.saturating_sub(used);
    group.containers = column(
        conn,
        "SELECT DISTINCT server FROM mounts WHERE quotagroup = ?1 ORDER BY server",
        [name],
    )?;
    Ok(group)
}

/// The first column of every row of `sql` with one text parameter.
fn column(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<String>> {
    let mut statement = conn.prepare(sql)?;
    let rows = statement.query_map(params, |row| row.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// SQLite integers are signed: sizes past `i64::MAX` are refused, not wrapped.
fn to_sql_size(size: u64) -> Result<i64> {
    i64::try_from(size).map_err(|_| ApplianceError::InvalidField {
        field: "size",
        value: size.to_string(),
        expected: "at most 8 EiB",
    })
}

fn not_found(kind: &'static str, name: &str) -> ApplianceError {
    ApplianceError::NotFound {
        kind,
        name: name.to_owned(),
    }
}

fn exists(kind: &'static str, name: &str) -> ApplianceError {
    ApplianceError::Exists {
        kind,
        name: name.to_owned(),
    }
}

fn in_use(kind: &'static str, name: &str, holders: Vec<String>) -> ApplianceError {
    ApplianceError::InUse {
        kind,
        name: name.to_owned(),
        holders,
    }
}

#[cfg(test)]
mod tests;
