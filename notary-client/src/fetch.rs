//! Where the update flow gets a collection's files: [`Fetch`], implemented by the HTTP
//! [`ServerConnection`] and by [`InMemory`] (a server in a map, for tests and offline tools).
//!
//! The flow verifies everything it fetches, so an implementation only moves bytes: it must
//! not read more than `limit` bytes of a file ([`Error::TooLarge`] past it) and must say
//! "not found" (`Ok(None)`) only when the server has no such file.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};
use crate::transport::{Fetched, ServerConnection};

/// A source of a notary server's TUF files.
pub trait Fetch {
    /// Reads `file` (`root.json`, `snapshot.<sha256>.json`, `2.root.json`, ...) of `gun`'s
    /// collection, at most `limit` bytes; `role` names the file in errors. `Ok(None)`: the
    /// server has no such file.
    fn fetch(
        &self,
        gun: &str,
        file: &str,
        role: &str,
        limit: u64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;

    /// The server, as errors name it (its base URL).
    fn server(&self) -> &str;

    /// Where `file` of `gun` comes from, as errors name it (its URL).
    fn location(&self, gun: &str, file: &str) -> String {
        format!("{}/v2/{gun}/_trust/tuf/{file}", self.server())
    }
}

impl Fetch for ServerConnection {
    async fn fetch(
        &self,
        gun: &str,
        file: &str,
        role: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>> {
        match self.get(gun, file, role, limit).await? {
            Fetched::Found(bytes) => Ok(Some(bytes)),
            Fetched::NotFound => Ok(None),
        }
    }

    fn server(&self) -> &str {
        self.base_url()
    }

    fn location(&self, gun: &str, file: &str) -> String {
        self.url(gun, file)
    }
}

/// A notary server held in memory: files by GUN and name, and a log of the requests. Cheap to
/// clone (clones share the files), so a test can change what the "server" serves between two
/// updates, as an attacker would.
#[derive(Debug, Clone, Default)]
pub struct InMemory {
    state: Arc<Mutex<Served>>,
}

#[derive(Debug, Default)]
struct Served {
    files: BTreeMap<(String, String), Vec<u8>>,
    requests: Vec<String>,
}

impl InMemory {
    /// An empty server: every file is "not found".
    pub fn new() -> Self {
        Self::default()
    }

    fn served(&self) -> std::sync::MutexGuard<'_, Served> {
        // The map stays consistent whatever panicked while holding the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves `bytes` as `file` of `gun` (replacing what was served).
    pub fn insert(&self, gun: &str, file: &str, bytes: impl Into<Vec<u8>>) {
        self.served()
            .files
            .insert((gun.to_owned(), file.to_owned()), bytes.into());
    }

    /// Stops serving `file` of `gun`; returns what was served.
    pub fn remove(&self, gun: &str, file: &str) -> Option<Vec<u8>> {
        self.served()
            .files
            .remove(&(gun.to_owned(), file.to_owned()))
    }

    /// The file names requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.served().requests.clone()
    }

    /// Forgets the requests logged so far.
    pub fn clear_requests(&self) {
        self.served().requests.clear();
    }
}

impl Fetch for InMemory {
    async fn fetch(
        &self,
        gun: &str,
        file: &str,
        role: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>> {
        let mut served = self.served();
        served.requests.push(file.to_owned());
        match served.files.get(&(gun.to_owned(), file.to_owned())) {
            Some(bytes) if bytes.len() as u64 > limit => Err(Error::TooLarge {
                role: role.to_owned(),
                limit,
            }),
            Some(bytes) => Ok(Some(bytes.clone())),
            None => Ok(None),
        }
    }

    fn server(&self) -> &str {
        "memory:"
    }
}
