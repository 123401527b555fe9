//! Virtual servers, their mounts and ports, and the image store's records.

use std::collections::BTreeMap;

use hpvs_api::wire::{Filesystem, Image, Mount, PortMapping, Protocol, ServerState, VirtualServer};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, column, exists, in_use, not_found, to_sql_size};
use crate::error::{ApplianceError, Result};

/// A server to record, as `POST /virtual-servers` asked for it (checked by the caller
/// against its repository); its env values sealed.
#[derive(Debug, Clone)]
pub struct NewServerRow {
    /// The server as first reported (state `creating`).
    pub server: VirtualServer,
    /// The sealed env values.
    pub env_sealed: Vec<u8>,
}

/// A server as stored.
#[derive(Debug, Clone)]
pub struct ServerRow {
    /// What the API reports.
    pub server: VirtualServer,
    /// The sealed env values.
    pub env_sealed: Vec<u8>,
}

impl Store {
    /// Records a new server with its mounts and ports, in one transaction: its name must be
    /// new, each host port free of other servers, and each quotagroup must hold its mounts.
    pub fn add_server(&self, row: &NewServerRow) -> Result<()> {
        let s = &row.server;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let inserted = tx.execute(
            "INSERT INTO servers (name, repo, tag, digest, cpu, ram, state, reason, env_names,
                                  env_sealed, created_at, started_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT(name) DO NOTHING",
            params![
                s.name,
                s.repo,
                s.tag,
                s.digest,
                s.cpu,
                to_sql_size(s.ram)?,
                s.state.as_str(),
                s.reason,
                serde_json::to_string(&s.env_names).unwrap_or_default(),
                row.env_sealed,
                s.created_at,
                s.started_at
            ],
        )?;
        if inserted == 0 {
            return Err(exists("virtual server", &s.name));
        }
        let mut asked: BTreeMap<&str, u64> = BTreeMap::new();
        for mount in &s.quotagroups {
            let total = asked.entry(&mount.quotagroup).or_default();
            *total = total.saturating_add(mount.size);
        }
        for (group, requested) in asked {
            let room: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT size, (SELECT COALESCE(SUM(size), 0) FROM mounts WHERE quotagroup = ?1)
                     FROM quotagroups WHERE name = ?1",
                    [group],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let (size, used) = room.ok_or_else(|| not_found("quotagroup", group))?;
            let available = u64::try_from(size - used).unwrap_or_default();
            if requested > available {
                return Err(ApplianceError::QuotaExceeded {
                    quotagroup: group.to_owned(),
                    requested,
                    available,
                });
            }
        }
        for mount in &s.quotagroups {
            tx.execute(
                "INSERT INTO mounts (server, mountid, quotagroup, mount, filesystem, size, reset_root)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    s.name,
                    mount.mountid,
                    mount.quotagroup,
                    mount.mount,
                    mount.filesystem.as_str(),
                    to_sql_size(mount.size)?,
                    mount.reset_root
                ],
            )
            .map_err(|error| match error.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => ApplianceError::InvalidField {
                    field: "quotagroups",
                    value: mount.mountid.clone(),
                    expected: "each mountid once per server",
                },
                _ => error.into(),
            })?;
        }
        for port in &s.ports {
            let holder: Option<String> = tx
                .query_row(
                    "SELECT server FROM ports WHERE hostport = ?1",
                    [port.hostport],
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(holder) = holder {
                return Err(ApplianceError::PortTaken {
                    port: port.hostport,
                    holder: format!("server {holder}"),
                });
            }
            tx.execute(
                "INSERT INTO ports (hostport, server, containerport, protocol) VALUES (?1, ?2, ?3, 'tcp')",
                params![port.hostport, s.name, port.containerport],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Every server, by name.
    pub fn servers(&self) -> Result<Vec<ServerRow>> {
        let conn = self.conn();
        let names = column(&conn, "SELECT name FROM servers ORDER BY name", [])?;
        names.iter().map(|name| server_row(&conn, name)).collect()
    }

    /// The server `name`.
    pub fn server(&self, name: &str) -> Result<ServerRow> {
        server_row(&self.conn(), name)
    }

    /// Records a server's state, why (for `failed`, or the step while `creating`), and,
    /// once known, the digest its tag resolved to and when it started.
    pub fn set_server_state(
        &self,
        name: &str,
        state: ServerState,
        reason: Option<&str>,
        digest: Option<&str>,
        started_at: Option<&str>,
    ) -> Result<()> {
        let updated = self.conn().execute(
            "UPDATE servers SET state = ?2, reason = ?3, digest = COALESCE(?4, digest),
                                started_at = COALESCE(?5, started_at) WHERE name = ?1",
            params![name, state.as_str(), reason, digest, started_at],
        )?;
        if updated == 0 {
            return Err(not_found("virtual server", name));
        }
        Ok(())
    }

    /// Deletes the server `name` with its mounts and ports.
    pub fn delete_server(&self, name: &str) -> Result<()> {
        if self
            .conn()
            .execute("DELETE FROM servers WHERE name = ?1", [name])?
            == 0
        {
            return Err(not_found("virtual server", name));
        }
        Ok(())
    }

    /// Records an image pulled into the store (again: its record is replaced).
    pub fn put_image(&self, image: &Image) -> Result<()> {
        self.conn().execute(
            "INSERT INTO images (digest, repo, repository_name, size) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(digest) DO UPDATE SET repo = ?2, repository_name = ?3, size = ?4",
            params![
                image.digest,
                image.repo,
                image.repository_name,
                to_sql_size(image.size)?
            ],
        )?;
        Ok(())
    }

    /// Every image, with the servers that run it.
    pub fn images(&self) -> Result<Vec<Image>> {
        let conn = self.conn();
        let mut statement =
            conn.prepare("SELECT digest, repo, repository_name, size FROM images ORDER BY digest")?;
        let rows = statement.query_map([], |row| {
            let size: i64 = row.get(3)?;
            Ok(Image {
                digest: row.get(0)?,
                repo: row.get(1)?,
                repository_name: row.get(2)?,
                size: u64::try_from(size).unwrap_or_default(),
                servers: Vec::new(),
            })
        })?;
        let mut images: Vec<Image> = rows.collect::<rusqlite::Result<_>>()?;
        for image in &mut images {
            image.servers = column(
                &conn,
                "SELECT name FROM servers WHERE digest = ?1 ORDER BY name",
                [&image.digest],
            )?;
        }
        Ok(images)
    }

    /// Deletes the image record `digest`; one that a server runs is refused.
    pub fn delete_image(&self, digest: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let holders = column(
            &tx,
            "SELECT name FROM servers WHERE digest = ?1 ORDER BY name",
            [digest],
        )?;
        if !holders.is_empty() {
            return Err(in_use("image", digest, holders));
        }
        if tx.execute("DELETE FROM images WHERE digest = ?1", [digest])? == 0 {
            return Err(not_found("image", digest));
        }
        tx.commit()?;
        Ok(())
    }
}

fn server_row(conn: &Connection, name: &str) -> Result<ServerRow> {
    let found = conn
        .query_row(
            "SELECT name, repo, tag, digest, cpu, ram, state, reason, env_names, env_sealed,
                    created_at, started_at FROM servers WHERE name = ?1",
            [name],
            |row| {
                let ram: i64 = row.get(5)?;
                let state: String = row.get(6)?;
                let env_names: String = row.get(8)?;
                Ok(ServerRow {
                    server: VirtualServer {
                        name: row.get(0)?,
                        repo: row.get(1)?,
                        tag: row.get(2)?,
                        digest: row.get(3)?,
                        cpu: row.get(4)?,
                        ram: u64::try_from(ram).unwrap_or_default(),
                        state: parse_state(&state),
                        reason: row.get(7)?,
                        quotagroups: Vec::new(),
                        env_names: serde_json::from_str(&env_names).unwrap_or_default(),
                        ports: Vec::new(),
                        created_at: row.get(10)?,
                        started_at: row.get(11)?,
                    },
                    env_sealed: row.get(9)?,
                })
            },
        )
        .optional()?;
    let mut row = found.ok_or_else(|| not_found("virtual server", name))?;
    let mut mounts = conn.prepare(
        "SELECT quotagroup, mountid, mount, filesystem, size, reset_root FROM mounts
         WHERE server = ?1 ORDER BY rowid",
    )?;
    row.server.quotagroups = mounts
        .query_map([name], |r| {
            let filesystem: String = r.get(3)?;
            let size: i64 = r.get(4)?;
            Ok(Mount {
                quotagroup: r.get(0)?,
                mountid: r.get(1)?,
                mount: r.get(2)?,
                filesystem: filesystem.parse().unwrap_or(Filesystem::Ext4),
                size: u64::try_from(size).unwrap_or_default(),
                reset_root: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut ports = conn
        .prepare("SELECT containerport, hostport FROM ports WHERE server = ?1 ORDER BY hostport")?;
    row.server.ports = ports
        .query_map([name], |r| {
            Ok(PortMapping {
                containerport: r.get(0)?,
                protocol: Protocol::Tcp,
                hostport: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(row)
}

fn parse_state(text: &str) -> ServerState {
    match text {
        "creating" => ServerState::Creating,
        "running" => ServerState::Running,
        "stopped" => ServerState::Stopped,
        _ => ServerState::Failed,
    }
}
