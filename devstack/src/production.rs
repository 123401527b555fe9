//! notary's production topology: notary-server on PostgreSQL, with a separate notary-signer
//! (its own database) holding the timestamp and snapshot keys, reached over mutual TLS.

use std::time::Instant;

use crate::notary::Backend;
use crate::postgres::{Database, Postgres};
use crate::signer::{NotarySigner, trust_service};
use crate::{Error, NotaryOptions, NotaryServer};

/// The server schema devstack applies (written from notary's GORM models and migrations).
pub const SERVER_SCHEMA: &str = include_str!("../sql/notary-server.sql");
/// The signer schema devstack applies.
pub const SIGNER_SCHEMA: &str = include_str!("../sql/notary-signer.sql");

/// notary-server with a PostgreSQL database and `trust_service.type: remote`, a notary-signer
/// with a database of its own, and the PostgreSQL cluster of both; everything stops and is
/// removed on drop (server first, then signer, then the database).
///
/// Collections survive a restart of either process ([`NotaryServer::restart`],
/// [`NotarySigner::restart`]); [`NotarySigner::stop`] makes a signer outage. It dereferences
/// to its [`NotaryServer`], so a [`NotaryCli`](crate::NotaryCli) takes it as it is.
#[derive(Debug)]
pub struct ProductionNotary {
    // Field order matters: drop the users of the database before the database.
    server: NotaryServer,
    signer: NotarySigner,
    server_database: Database,
    signer_database: Database,
    postgres: Postgres,
}

impl ProductionNotary {
    /// Starts PostgreSQL, creates the server and signer databases, then starts notary-signer
    /// and notary-server (with `options.security` towards clients).
    pub fn start(options: NotaryOptions) -> Result<ProductionNotary, Error> {
        let began = Instant::now();
        let postgres = Postgres::start()?;
        let server_database = postgres.create_database("notaryserver", SERVER_SCHEMA)?;
        let signer_database = postgres.create_database("notarysigner", SIGNER_SCHEMA)?;
        let database_ready = began.elapsed();
        let signer = NotarySigner::start(&signer_database)?;
        let server = NotaryServer::start_with_auth(
            options,
            None,
            Some(Backend {
                db_url: server_database.url(),
                trust_service: trust_service(&signer),
            }),
        )?;
        tracing::info!(
            database_ms = database_ready.as_millis(),
            total_ms = began.elapsed().as_millis(),
            url = server.url(),
            "production notary topology is up"
        );
        Ok(ProductionNotary {
            server,
            signer,
            server_database,
            signer_database,
            postgres,
        })
    }

    /// The notary-server clients talk to.
    pub fn server(&self) -> &NotaryServer {
        &self.server
    }

    /// The notary-server, to stop or restart it.
    pub fn server_mut(&mut self) -> &mut NotaryServer {
        &mut self.server
    }

    /// The notary-signer.
    pub fn signer(&self) -> &NotarySigner {
        &self.signer
    }

    /// The notary-signer, to stop or restart it.
    pub fn signer_mut(&mut self) -> &mut NotarySigner {
        &mut self.signer
    }

    /// The PostgreSQL cluster of both.
    pub fn postgres(&self) -> &Postgres {
        &self.postgres
    }

    /// The server's database (`tuf_files`, `changefeed`).
    pub fn server_database(&self) -> &Database {
        &self.server_database
    }

    /// The signer's database (`private_keys`).
    pub fn signer_database(&self) -> &Database {
        &self.signer_database
    }
}

impl std::ops::Deref for ProductionNotary {
    type Target = NotaryServer;

    fn deref(&self) -> &NotaryServer {
        &self.server
    }
}
