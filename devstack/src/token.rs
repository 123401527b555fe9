//! A small registry-style token issuer (docker/distribution token auth) for notary-server's
//! `auth.type: token`, on a free loopback port.
//!
//! `GET /token?service=S&scope=repository:<gun>:<actions>` with basic auth answers
//! `{"token": <JWT>}`. The JWT is ES256, signed by a P-256 key whose self-signed certificate is
//! both in the token's `x5c` header and in the bundle notary-server trusts
//! ([`TokenIssuer::root_cert_bundle`]). Users and the actions each may get are fixed at start.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keymgmt::PrivateKey;
use tempfile::TempDir;

use crate::{Error, process};

/// The `service` notary-server is configured with and tokens are issued for.
pub const SERVICE: &str = "notary-server";
/// The issuer name in tokens.
pub const ISSUER: &str = "devstack-token-issuer";

/// A token issuer; stops on drop.
#[derive(Debug)]
pub struct TokenIssuer {
    realm: String,
    bundle: PathBuf,
    stop: Arc<AtomicBool>,
    port: u16,
    _dir: TempDir,
}

/// A user of the issuer and the actions (`pull`, `push`, `*`) it may be granted.
#[derive(Debug, Clone)]
pub struct TokenUser {
    /// User name.
    pub name: String,
    /// Password.
    pub password: String,
    /// Actions this user may get (others are left out of its tokens).
    pub actions: Vec<String>,
}

impl TokenUser {
    /// A user allowed every action.
    pub fn admin(name: &str, password: &str) -> Self {
        Self {
            name: name.to_owned(),
            password: password.to_owned(),
            actions: vec!["pull".into(), "push".into(), "*".into()],
        }
    }

    /// A user allowed only `pull`.
    pub fn reader(name: &str, password: &str) -> Self {
        Self {
            name: name.to_owned(),
            password: password.to_owned(),
            actions: vec!["pull".into()],
        }
    }
}

/// What a request without credentials gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anonymous {
    /// Nothing: 401.
    Refused,
    /// Pull tokens, as a public repository on Docker Hub (the Go `notary` client fetches
    /// read-only tokens anonymously).
    Pull,
}

struct Signer {
    key: PrivateKey,
    cert_der_b64: String,
    users: Vec<TokenUser>,
    anonymous: Anonymous,
}

impl TokenIssuer {
    /// Starts the issuer for `users`; requests without credentials get what `anonymous` says.
    pub fn start(users: Vec<TokenUser>, anonymous: Anonymous) -> Result<TokenIssuer, Error> {
        let dir = process::instance_dir("devstack-token-")?;
        let ca = keymgmt::mtls::CertificateAuthority::generate("devstack token signer")?;
        let key = keymgmt::keyfile::decode(ca.private_key_pem().as_bytes(), None, None)?.key;
        let bundle = dir.path().join("token-root.pem");
        std::fs::write(&bundle, ca.certificate_pem()).map_err(Error::io("write", &bundle))?;
        let der = pem_body(ca.certificate_pem());
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(Error::io("bind", "127.0.0.1:0"))?;
        let port = listener
            .local_addr()
            .map_err(Error::io("bind", "127.0.0.1:0"))?
            .port();
        let stop = Arc::new(AtomicBool::new(false));
        let signer = Arc::new(Signer {
            key,
            cert_der_b64: STANDARD.encode(der),
            users,
            anonymous,
        });
        let flag = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let signer = signer.clone();
                    std::thread::spawn(move || serve(stream, &signer));
                }
            }
        });
        Ok(TokenIssuer {
            realm: format!("http://127.0.0.1:{port}/token"),
            bundle,
            stop,
            port,
            _dir: dir,
        })
    }

    /// The token endpoint (`realm` in notary-server's config and challenges).
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The certificate bundle notary-server must trust (`rootcertbundle`).
    pub fn root_cert_bundle(&self) -> &Path {
        &self.bundle
    }

    /// notary-server's `auth` section for this issuer.
    pub fn notary_auth_config(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "token",
            "options": {
                "realm": self.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": self.bundle.display().to_string(),
            }
        })
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap_or_default()
}

fn serve(stream: TcpStream, signer: &Signer) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut authorization = None;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("authorization")
                {
                    authorization = Some(value.trim().to_owned());
                }
            }
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = answer(target, authorization.as_deref(), signer);
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn answer(target: &str, authorization: Option<&str>, signer: &Signer) -> (&'static str, String) {
    let unauthorized = (
        "401 Unauthorized",
        r#"{"details":"bad credentials"}"#.to_owned(),
    );
    let Some(query) = target.strip_prefix("/token") else {
        return ("404 Not Found", "{}".to_owned());
    };
    let params: BTreeMap<String, String> = query
        .trim_start_matches('?')
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect();
    let user = match authorization {
        Some(header) => header
            .strip_prefix("Basic ")
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|text| {
                let (name, password) = text.split_once(':')?;
                signer
                    .users
                    .iter()
                    .find(|u| u.name == name && u.password == password)
                    .cloned()
            }),
        None if signer.anonymous == Anonymous::Pull => Some(TokenUser::reader("", "")),
        None => None,
    };
    let Some(user) = user else {
        return unauthorized;
    };
    let mut access = Vec::new();
    for scope in params
        .get("scope")
        .map(String::as_str)
        .unwrap_or("")
        .split(' ')
    {
        let Some((kind, rest)) = scope.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        let granted: Vec<&str> = actions
            .split(',')
            .filter(|a| user.actions.iter().any(|allowed| allowed == a))
            .collect();
        access.push(serde_json::json!({"type": kind, "name": name, "actions": granted}));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [signer.cert_der_b64]});
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": user.name,
        "aud": params.get("service").cloned().unwrap_or_else(|| SERVICE.to_owned()),
        "exp": now + 300,
        "nbf": now.saturating_sub(10),
        "iat": now,
        "jti": format!("{now}-{}", user.name),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = signer.key.sign(signing_input.as_bytes());
    let token = format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.bytes)
    );
    (
        "200 OK",
        serde_json::json!({"token": token, "access_token": token, "expires_in": 300}).to_string(),
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
