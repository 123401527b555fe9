//! The tampering server and the repository whose every key the tests hold, shared by the
//! attack tests (a mock is right here: a real notary-server cannot be made to misbehave).
//!
//! [`Mock::in_memory`] serves the files from a [`InMemory`] without a socket; [`Mock::start`]
//! also serves them over HTTP, for the attacks that are about bytes on the wire (endless and
//! streamed bodies, what was sent before the client hung up).
#![allow(dead_code, unreachable_pub)]
pub use std::collections::{BTreeMap, HashMap};
pub use std::path::{Path, PathBuf};
pub use std::sync::{Arc, Mutex};

pub use keymgmt::passphrase::{Fixed, Passphrase};
pub use keymgmt::{PrivateKey, PublicKey};
pub use notary_client::Error;
pub use notary_client::fetch::InMemory;
pub use notary_client::metadata::{
    self, DelegationRole, Delegations, FileMeta, KeyJson, MetaFile, Root, RootRole, SigningKey,
    Targets,
};
pub use notary_client::repository::Client;
pub use notary_client::transport::{Security, ServerConfig};
#[allow(unused_imports)]
pub use notary_client::verify::PinFailure;
pub use sha2::Digest as _;
pub use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub const GUN: &str = "registry.example.com/attacks/app";

// ---------------------------------------------------------------- a tampering server

#[derive(Clone)]
pub enum Body {
    Bytes(Vec<u8>),
    /// More bytes than any limit, until the client hangs up (bounded so the test ends).
    Endless,
    /// A server error whose body goes on like [`Body::Endless`].
    EndlessError,
    /// A body of this many bytes (announced in Content-Length), streamed until the client
    /// hangs up.
    Stream(u64),
}

#[derive(Clone)]
pub struct Mock {
    pub files: Arc<Mutex<HashMap<String, Body>>>,
    pub url: String,
    /// Bytes of endless bodies the client took before hanging up.
    pub endless_sent: Arc<std::sync::atomic::AtomicU64>,
    /// Body bytes of every answer written to the client.
    pub sent_total: Arc<std::sync::atomic::AtomicU64>,
    /// The paths the client asked for, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
    /// The same files (the byte bodies), for updates without a socket.
    pub memory: InMemory,
    /// Whether the files are served over HTTP at [`url`](Self::url) too.
    pub over_http: bool,
}

impl Mock {
    /// A server without a socket: victims update from [`memory`](Self::memory).
    pub fn in_memory() -> Mock {
        Mock {
            files: Arc::default(),
            url: "memory:".to_owned(),
            endless_sent: Arc::default(),
            sent_total: Arc::default(),
            requests: Arc::default(),
            memory: InMemory::new(),
            over_http: false,
        }
    }

    /// A server on a local socket (and in memory).
    pub async fn start() -> Mock {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<HashMap<String, Body>>> = Arc::default();
        let shared = files.clone();
        let endless_sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sent = endless_sent.clone();
        let sent_total = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let total = sent_total.clone();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let files = shared.clone();
                let sent = sent.clone();
                let total = total.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let prefix = format!("/v2/{GUN}/_trust/tuf/");
                    log.lock().unwrap().push(path.clone());
                    let body = path
                        .strip_prefix(&prefix)
                        .and_then(|f| files.lock().unwrap().get(f).cloned());
                    match body {
                        Some(Body::Bytes(bytes)) => {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                bytes.len()
                            );
                            let _ = socket.write_all(head.as_bytes()).await;
                            if socket.write_all(&bytes).await.is_ok() {
                                total.fetch_add(
                                    bytes.len() as u64,
                                    std::sync::atomic::Ordering::SeqCst,
                                );
                            }
                        }
                        Some(Body::Stream(length)) => {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
                            );
                            let _ = socket.write_all(head.as_bytes()).await;
                            let chunk = vec![b' '; 64 * 1024];
                            let mut left = length;
                            while left > 0 {
                                let n = left.min(chunk.len() as u64) as usize;
                                if socket.write_all(&chunk[..n]).await.is_err() {
                                    break;
                                }
                                total.fetch_add(n as u64, std::sync::atomic::Ordering::SeqCst);
                                left -= n as u64;
                            }
                        }
                        Some(endless @ (Body::Endless | Body::EndlessError)) => {
                            let head: &[u8] = if matches!(endless, Body::Endless) {
                                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
                            } else {
                                b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n"
                            };
                            let _ = socket.write_all(head).await;
                            let chunk = vec![b' '; 64 * 1024];
                            for _ in 0..1024 {
                                if socket.write_all(&chunk).await.is_err() {
                                    break;
                                }
                                sent.fetch_add(
                                    chunk.len() as u64,
                                    std::sync::atomic::Ordering::SeqCst,
                                );
                                total.fetch_add(
                                    chunk.len() as u64,
                                    std::sync::atomic::Ordering::SeqCst,
                                );
                            }
                        }
                        None => {
                            let body = r#"{"errors":[{"code":"METADATA_NOT_FOUND","message":"not found"}]}"#;
                            let head = format!(
                                "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            );
                            let _ = socket.write_all(head.as_bytes()).await;
                            let _ = socket.write_all(body.as_bytes()).await;
                        }
                    }
                    let _ = socket.shutdown().await;
                });
            }
        });
        Mock {
            files,
            url,
            endless_sent,
            sent_total,
            requests,
            memory: InMemory::new(),
            over_http: true,
        }
    }

    /// Forgets what was sent and asked so far.
    pub fn reset_counts(&self) {
        self.sent_total
            .store(0, std::sync::atomic::Ordering::SeqCst);
        self.requests.lock().unwrap().clear();
        self.memory.clear_requests();
    }

    /// Body bytes written since the last [`reset_counts`](Self::reset_counts).
    pub fn sent(&self) -> u64 {
        self.sent_total.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether the client asked for a file whose name starts with `prefix`.
    pub fn asked_for(&self, prefix: &str) -> bool {
        let wanted = format!("/v2/{GUN}/_trust/tuf/{prefix}");
        self.requests
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.starts_with(&wanted))
            || self.memory.requests().iter().any(|f| f.starts_with(prefix))
    }

    pub fn put(&self, name: &str, body: Body) {
        match &body {
            Body::Bytes(bytes) => self.memory.insert(GUN, name, bytes.clone()),
            _ => {
                assert!(self.over_http, "streamed bodies need Mock::start");
                self.memory.remove(GUN, name);
            }
        }
        self.files.lock().unwrap().insert(name.to_owned(), body);
    }

    pub fn put_bytes(&self, name: &str, bytes: &[u8]) {
        self.put(name, Body::Bytes(bytes.to_vec()));
    }

    /// Serves a consistent set of files as notary-server names them.
    pub fn serve(&self, set: &FileSet) {
        self.put_bytes("root.json", &set.root);
        self.put_bytes(&format!("root.{}.json", sha(&set.root)), &set.root);
        self.put_bytes(&format!("targets.{}.json", sha(&set.targets)), &set.targets);
        self.put_bytes(
            &format!("snapshot.{}.json", sha(&set.snapshot)),
            &set.snapshot,
        );
        self.put_bytes("timestamp.json", &set.timestamp);
        for (role, bytes) in &set.delegations {
            self.put_bytes(&format!("{role}.{}.json", sha(bytes)), bytes);
        }
    }
}

pub fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

// ---------------------------------------------------------------- a repository whose every key we hold

pub struct Keys {
    pub root: PrivateKey,
    pub root_cert: PublicKey,
    pub targets: PrivateKey,
    pub snapshot: PrivateKey,
    pub timestamp: PrivateKey,
}

impl Keys {
    pub fn new() -> Keys {
        let root = PrivateKey::generate_ecdsa();
        let root_cert = keymgmt::x509::generate_root_certificate(GUN, &root).unwrap();
        Keys {
            root,
            root_cert,
            targets: PrivateKey::generate_ecdsa(),
            snapshot: PrivateKey::generate_ecdsa(),
            timestamp: PrivateKey::generate_ecdsa(),
        }
    }
}

pub fn signer(key: &PrivateKey) -> SigningKey<'_> {
    SigningKey {
        key,
        key_id: key.key_id(),
    }
}

pub fn root_meta(keys: &Keys, version: i64, expires: &str) -> Root {
    let mut map = BTreeMap::new();
    let mut roles = BTreeMap::new();
    for (role, public) in [
        ("root", keys.root_cert.clone()),
        ("targets", keys.targets.public_key()),
        ("snapshot", keys.snapshot.public_key()),
        ("timestamp", keys.timestamp.public_key()),
    ] {
        let id = public.key_id().to_string();
        map.insert(id.clone(), KeyJson::from_public(&public));
        roles.insert(
            role.to_owned(),
            RootRole {
                keyids: vec![id],
                threshold: 1,
            },
        );
    }
    Root {
        type_name: "Root".into(),
        consistent_snapshot: false,
        expires: expires.into(),
        keys: map,
        roles,
        version,
    }
}

pub fn sign_root(keys: &Keys, root: &Root) -> Vec<u8> {
    metadata::sign(
        root,
        &[SigningKey {
            key: &keys.root,
            key_id: keys.root_cert.key_id(),
        }],
    )
    .unwrap()
}

pub fn future() -> String {
    metadata::expires_in(time::Duration::days(30))
}

pub fn past() -> String {
    metadata::expires_in(time::Duration::days(-1))
}

pub struct FileSet {
    pub root: Vec<u8>,
    pub targets: Vec<u8>,
    pub snapshot: Vec<u8>,
    pub timestamp: Vec<u8>,
    pub delegations: Vec<(String, Vec<u8>)>,
}

/// Versions and contents of one consistent publication.
pub struct Spec {
    pub version: i64,
    pub targets: BTreeMap<String, FileMeta>,
    pub delegations: Delegations,
    pub delegation_files: Vec<(String, Vec<u8>)>,
    pub timestamp_expires: String,
}

impl Spec {
    pub fn version(version: i64) -> Spec {
        let mut targets = BTreeMap::new();
        targets.insert(
            format!("v{version}"),
            FileMeta::of_bytes(format!("content {version}").as_bytes()),
        );
        Spec {
            version,
            targets,
            delegations: Delegations::default(),
            delegation_files: Vec::new(),
            timestamp_expires: future(),
        }
    }
}

pub fn publication(keys: &Keys, root: &[u8], spec: &Spec) -> FileSet {
    let targets = Targets {
        type_name: "Targets".into(),
        delegations: spec.delegations.clone(),
        expires: future(),
        targets: spec.targets.clone(),
        version: spec.version,
    };
    let targets = metadata::sign(&targets, &[signer(&keys.targets)]).unwrap();
    let mut meta = BTreeMap::new();
    meta.insert("root".to_owned(), FileMeta::of_bytes(root));
    meta.insert("targets".to_owned(), FileMeta::of_bytes(&targets));
    for (role, bytes) in &spec.delegation_files {
        meta.insert(role.clone(), FileMeta::of_bytes(bytes));
    }
    let snapshot = MetaFile {
        type_name: "Snapshot".into(),
        expires: future(),
        meta,
        version: spec.version,
    };
    let snapshot = metadata::sign(&snapshot, &[signer(&keys.snapshot)]).unwrap();
    let timestamp = timestamp_for(keys, &snapshot, spec.version, &spec.timestamp_expires);
    FileSet {
        root: root.to_vec(),
        targets,
        snapshot,
        timestamp,
        delegations: spec.delegation_files.clone(),
    }
}

pub fn timestamp_for(keys: &Keys, snapshot: &[u8], version: i64, expires: &str) -> Vec<u8> {
    let mut meta = BTreeMap::new();
    meta.insert("snapshot".to_owned(), FileMeta::of_bytes(snapshot));
    let timestamp = MetaFile {
        type_name: "Timestamp".into(),
        expires: expires.into(),
        meta,
        version,
    };
    metadata::sign(&timestamp, &[signer(&keys.timestamp)]).unwrap()
}

// ---------------------------------------------------------------- the client side

pub struct Victim {
    pub dir: tempfile::TempDir,
    pub client: Client,
    /// Set for a [`Mock::in_memory`]: updates read it instead of the network.
    pub memory: Option<InMemory>,
}

impl Victim {
    pub fn new(mock: &Mock) -> Victim {
        let dir = tempfile::tempdir().unwrap();
        // An in-memory victim's client is never asked to connect: any valid URL does.
        let url = if mock.over_http {
            mock.url.clone()
        } else {
            "http://127.0.0.1:9".to_owned()
        };
        let config = ServerConfig {
            url,
            security: Security::InsecureHttp,
            ..Default::default()
        };
        let client = Client::new(
            dir.path(),
            &config,
            Fixed(Passphrase::new("unused-passphrase")),
        )
        .unwrap();
        Victim {
            dir,
            client,
            memory: (!mock.over_http).then(|| mock.memory.clone()),
        }
    }

    pub async fn update(&self) -> Result<notary_client::update::TrustedState, Error> {
        self.update_with(&self.client).await
    }

    /// An update by `client` (this victim's, with other pins or limits) from the mock.
    pub async fn update_with(
        &self,
        client: &Client,
    ) -> Result<notary_client::update::TrustedState, Error> {
        let repo = client.repository(GUN).unwrap();
        match &self.memory {
            Some(memory) => repo.update_from(memory).await,
            None => repo.update().await,
        }
    }

    pub fn cache(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.dir.path().join("tuf"), &mut out);
        out
    }

    /// Runs an update that must fail, checks the cache did not change, returns the error.
    pub async fn refused(&self) -> Error {
        let before = self.cache();
        let err = self.update().await.expect_err("the attack must be refused");
        assert_eq!(
            before,
            self.cache(),
            "a refused update changed the cache ({err})"
        );
        err
    }
}

/// A victim that trusts version 2 of everything, served without a socket.
pub async fn trusting_v2() -> (Keys, Mock, Victim, Vec<u8>) {
    trusting_v2_from(Mock::in_memory()).await
}

/// [`trusting_v2`] served over HTTP.
pub async fn trusting_v2_over_http() -> (Keys, Mock, Victim, Vec<u8>) {
    trusting_v2_from(Mock::start().await).await
}

async fn trusting_v2_from(mock: Mock) -> (Keys, Mock, Victim, Vec<u8>) {
    let keys = Keys::new();
    let root = sign_root(&keys, &root_meta(&keys, 1, &future()));
    mock.serve(&publication(&keys, &root, &Spec::version(1)));
    let victim = Victim::new(&mock);
    victim.update().await.unwrap();
    mock.serve(&publication(&keys, &root, &Spec::version(2)));
    let state = victim.update().await.unwrap();
    assert_eq!(state.timestamp.file.signed.version, 2);
    (keys, mock, victim, root)
}

/// Version 1 of the repository with a `targets/releases` delegation (a fresh key) that may
/// sign `paths` and signs `targets`.
pub fn with_releases_delegation(targets: &[(&str, &[u8])], paths: &[&str]) -> Spec {
    let releases = PrivateKey::generate_ecdsa();
    let delegated = targets
        .iter()
        .map(|(name, content)| ((*name).to_owned(), FileMeta::of_bytes(content)))
        .collect();
    let file = metadata::sign(
        &Targets {
            type_name: "Targets".into(),
            delegations: Delegations::default(),
            expires: future(),
            targets: delegated,
            version: 1,
        },
        &[signer(&releases)],
    )
    .unwrap();
    let mut spec = Spec::version(1);
    spec.delegations.keys.insert(
        releases.key_id().to_string(),
        KeyJson::from_public(&releases.public_key()),
    );
    spec.delegations.roles.push(DelegationRole {
        keyids: vec![releases.key_id().to_string()],
        name: "targets/releases".into(),
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        threshold: 1,
    });
    spec.delegation_files
        .push(("targets/releases".into(), file));
    spec
}
