//! The database schema, as numbered migrations. `PRAGMA user_version` records how many have
//! run; each runs in the transaction that bumps it, so a kill leaves either all of a
//! migration or none.

use rusqlite::Connection;

use crate::error::{ApplianceError, Result};

/// Migration `i` takes the schema from version `i` to `i + 1`. Append only: a released
/// migration never changes.
const MIGRATIONS: &[&str] = &[
    // 1: the appliance's resources. Rules the API enforces are constraints where SQL can say
    // them (one server per host port, no quotagroup or repository deleted under a server),
    // so a race between two calls cannot break them.
    "
    CREATE TABLE registries (
        name TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        dct TEXT NOT NULL,
        user TEXT NOT NULL,
        password_sealed BLOB
    );
    CREATE TABLE repositories (
        id TEXT PRIMARY KEY,
        repository_name TEXT NOT NULL,
        registry TEXT REFERENCES registries(name) ON DELETE RESTRICT,
        root_key_id TEXT NOT NULL,
        vendor_fingerprint TEXT NOT NULL,
        envs_whitelist TEXT NOT NULL,
        cap_add TEXT NOT NULL,
        runtime TEXT NOT NULL,
        registration_sealed BLOB
    );
    CREATE TABLE quotagroups (
        name TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        filesystem TEXT NOT NULL,
        passthrough INTEGER NOT NULL,
        pool_id TEXT NOT NULL
    );
    CREATE TABLE servers (
        name TEXT PRIMARY KEY,
        repo TEXT NOT NULL REFERENCES repositories(id) ON DELETE RESTRICT,
        tag TEXT NOT NULL,
        digest TEXT,
        cpu INTEGER NOT NULL,
        ram INTEGER NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        env_names TEXT NOT NULL,
        env_sealed BLOB NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT
    );
    CREATE TABLE mounts (
        server TEXT NOT NULL REFERENCES servers(name) ON DELETE CASCADE,
        mountid TEXT NOT NULL,
        quotagroup TEXT NOT NULL REFERENCES quotagroups(name) ON DELETE RESTRICT,
        mount TEXT NOT NULL,
        filesystem TEXT NOT NULL,
        size INTEGER NOT NULL,
        reset_root INTEGER NOT NULL,
        PRIMARY KEY (server, mountid)
    );
    CREATE TABLE ports (
        hostport INTEGER PRIMARY KEY,
        server TEXT NOT NULL REFERENCES servers(name) ON DELETE CASCADE,
        containerport INTEGER NOT NULL,
        protocol TEXT NOT NULL
    );
    CREATE TABLE images (
        digest TEXT PRIMARY KEY,
        repo TEXT NOT NULL,
        repository_name TEXT NOT NULL,
        size INTEGER NOT NULL
    );
    ",
    // 2: the built-in repository, so its servers reference a row like any other's.
    "
    INSERT INTO repositories (id, repository_name, registry, root_key_id, vendor_fingerprint,
                              envs_whitelist, cap_add, runtime, registration_sealed)
    VALUES ('SecureDockerBuild', 'SecureDockerBuild', NULL, '', '', '[]', '[]', 'sbs', NULL);
    ",
];

/// Brings the database to the newest schema; refuses one made by a newer hpvs-sim.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(ApplianceError::SchemaTooNew {
            found: version,
            supported: MIGRATIONS.len(),
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(index + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op_and_a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
        conn.pragma_update(None, "user_version", 99).unwrap();
        match migrate(&mut conn) {
            Err(ApplianceError::SchemaTooNew { found: 99, .. }) => {}
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }
}
