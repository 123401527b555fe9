//! Step 5: the wallet over HTTPS, as its user reaches it: the certificate the workload made
//! at start (its CN is the server's hostname), register, log in, create a wallet, read the
//! testnet receive address; after `hpvs vs restart` the same user finds the same wallet,
//! because it lives on the server's `/data` mount.
//!
//! [`WalletClient`] speaks the sample application's forms (see `examples/lab-app/README.md`
//! for the routes and element ids).

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use registry_http::{Secret, TlsOptions, TrustRoots};

use super::error::{InStep as _, LabError, Step};
use super::{APP_SERVER, Lab, WALLET_USER};
use crate::{detail, stage};

const STEP: Step = Step::Access;
pub(crate) const WALLET_PASSWORD: &str = "correct-horse-battery-staple";

/// What step 5 saw.
#[derive(Debug, Clone)]
pub struct WalletVisit {
    /// The testnet receive address the wallet showed (`tb1q...`).
    pub address: String,
    /// The subject CN of the certificate the workload presented.
    pub certificate_cn: String,
    /// The page title (`Bitcoin Wallet on <arch> Linux`).
    pub title: String,
    /// The address shown again after `hpvs vs restart` (equal to `address`).
    pub address_after_restart: String,
}

/// The certificate a TLS server on `127.0.0.1:port` presents, read with `openssl s_client`
/// (the workload makes it at start: the lab has no other way to know it), and its CN.
pub fn presented_certificate(port: u16, hostname: &str) -> Result<(String, String), String> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} -servername {hostname} </dev/null \
             2>/dev/null | openssl x509"
        ))
        .output()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    let pem = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() || !pem.contains("BEGIN CERTIFICATE") {
        return Err(format!("no certificate on 127.0.0.1:{port}"));
    }
    let mut subject = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-nameopt", "multiline"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if let Some(mut stdin) = subject.stdin.take() {
        use std::io::Write as _;
        stdin
            .write_all(pem.as_bytes())
            .map_err(|e| format!("cannot write to openssl: {e}"))?;
    }
    let subject = subject
        .wait_with_output()
        .map_err(|e| format!("openssl x509: {e}"))?;
    let cn = String::from_utf8_lossy(&subject.stdout)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("commonName")
                .map(|v| v.trim_start_matches([' ', '=']).trim().to_owned())
        })
        .ok_or_else(|| "the certificate has no CN".to_owned())?;
    Ok((pem, cn))
}

/// A user of the wallet: HTTPS to the workload by its hostname (mapped to loopback),
/// trusting exactly the certificate it presented, carrying the session cookie.
pub struct WalletClient {
    http: reqwest::Client,
    base: String,
    session: Option<String>,
}

impl WalletClient {
    /// A client of `https://<hostname>:<port>` that trusts `certificate_pem` alone.
    pub fn new(hostname: &str, port: u16, certificate_pem: &str) -> Result<WalletClient, String> {
        let tls = TlsOptions {
            roots: TrustRoots::CustomCa(certificate_pem.as_bytes().to_vec()),
            client_identity_pem: None::<Secret>,
        }
        .client_config()
        .map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .resolve(hostname, SocketAddr::from(([127, 0, 0, 1], port)))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(WalletClient {
            http,
            base: format!("https://{hostname}:{port}"),
            session: None,
        })
    }

    /// `GET path`: the status, the `Location` header and the body.
    pub async fn get(&self, path: &str) -> Result<(u16, Option<String>, String), String> {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(session) = &self.session {
            request = request.header("Cookie", format!("session={session}"));
        }
        let answer = request.send().await.map_err(|e| error_chain(&e))?;
        let status = answer.status().as_u16();
        let location = header(&answer, "location");
        let body = answer.text().await.map_err(|e| e.to_string())?;
        Ok((status, location, body))
    }

    /// `POST path` of a form; keeps a session cookie it is given. Returns status and
    /// `Location`.
    pub async fn post(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<(u16, Option<String>), String> {
        let mut request = self.http.post(format!("{}{path}", self.base)).form(fields);
        if let Some(session) = &self.session {
            request = request.header("Cookie", format!("session={session}"));
        }
        let answer = request.send().await.map_err(|e| error_chain(&e))?;
        for cookie in answer.headers().get_all("set-cookie") {
            let text = cookie.to_str().unwrap_or_default();
            if let Some(value) = text.strip_prefix("session=") {
                self.session = Some(value.split(';').next().unwrap_or_default().to_owned());
            }
        }
        Ok((answer.status().as_u16(), header(&answer, "location")))
    }

    /// Registers `user` (or logs in when `register` is false); the session is kept.
    pub async fn sign_in(
        &mut self,
        user: &str,
        password: &str,
        register: bool,
    ) -> Result<(), String> {
        let path = if register {
            "/electrum/register"
        } else {
            "/electrum/login"
        };
        let (status, location) = self
            .post(path, &[("username", user), ("password", password)])
            .await?;
        if status != 303 || location.as_deref() != Some("/electrum") || self.session.is_none() {
            return Err(format!("{path} answered {status} (location {location:?})"));
        }
        Ok(())
    }

    /// Creates the wallet of the signed-in user.
    pub async fn create_wallet(&mut self) -> Result<(), String> {
        let (status, _) = self.post("/electrum/wallet", &[]).await?;
        if status != 303 {
            return Err(format!("creating the wallet answered {status}"));
        }
        Ok(())
    }

    /// The text of the element `id` on `page`, or an error naming it.
    pub async fn element(&self, page: &str, id: &str) -> Result<String, String> {
        let (status, _, body) = self.get(page).await?;
        if status != 200 {
            return Err(format!("{page} answered {status}"));
        }
        element_text(&body, id).ok_or_else(|| format!("{page} has no element #{id}"))
    }
}

fn header(answer: &reqwest::Response, name: &str) -> Option<String> {
    answer
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The text inside the first element with `id="<id>"` (no nested elements expected).
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let start = html.find(&marker)?;
    let open_end = start + html[start..].find('>')? + 1;
    let close = open_end + html[open_end..].find('<')?;
    Some(html[open_end..close].trim().to_owned())
}

impl Lab {
    /// Step 5: the wallet, as its user reaches it; then `hpvs vs restart` and the same
    /// wallet again.
    pub async fn access(&mut self) -> Result<WalletVisit, LabError> {
        stage(
            STEP.number(),
            6,
            "access: the wallet over HTTPS, as its user; its data survives a restart",
        );
        let port = self.made.app_port;
        let (pem, cn) = wait_for_certificate(port).await?;
        if cn != APP_SERVER {
            return Err(LabError::new(
                STEP,
                "check the workload's certificate",
                format!("its CN is {cn:?}, the server's hostname is {APP_SERVER}"),
            ));
        }
        detail(format!(
            "the workload presents a certificate it made at start, CN={cn}"
        ));
        let mut wallet = WalletClient::new(APP_SERVER, port, &pem).in_step(STEP, "connect")?;
        let (status, location, _) = wallet
            .get("/electrum")
            .await
            .in_step(STEP, "GET /electrum")?;
        if status != 303 || location.as_deref() != Some("/electrum/login") {
            return Err(LabError::new(
                STEP,
                "GET /electrum without a session",
                format!("answered {status} to {location:?}, not a redirect to the login page"),
            ));
        }
        detail("GET /electrum without a session: 303 to /electrum/login");
        wallet
            .sign_in(WALLET_USER, WALLET_PASSWORD, true)
            .await
            .in_step(STEP, format!("register {WALLET_USER}"))?;
        let title = wallet
            .element("/electrum", "title")
            .await
            .in_step(STEP, "read the title")?;
        detail(format!("registered {WALLET_USER}, logged in: \"{title}\""));
        wallet
            .create_wallet()
            .await
            .in_step(STEP, "create the wallet")?;
        let address = wallet
            .element("/electrum?tab=receive", "receive-address")
            .await
            .in_step(STEP, "read the receive address")?;
        detail(format!("wallet created; testnet receive address {address}"));

        self.hpvs
            .run(STEP, &["vs", "restart", "--name", APP_SERVER], None, &[])?;
        self.api
            .wait_until_settled(APP_SERVER, Duration::from_secs(120), |_| {})
            .await
            .in_step(STEP, "wait for the restart")?;
        let (pem_after, _) = wait_for_certificate(port).await?;
        if pem_after == pem {
            return Err(LabError::new(
                STEP,
                "check the certificate after the restart",
                "the workload presents the same certificate: it was not made at start",
            ));
        }
        let mut again = WalletClient::new(APP_SERVER, port, &pem_after).in_step(STEP, "connect")?;
        again
            .sign_in(WALLET_USER, WALLET_PASSWORD, false)
            .await
            .in_step(STEP, format!("log in as {WALLET_USER} after the restart"))?;
        let address_after_restart = again
            .element("/electrum?tab=receive", "receive-address")
            .await
            .in_step(STEP, "read the receive address after the restart")?;
        if address_after_restart != address {
            return Err(LabError::new(
                STEP,
                "compare the wallet after the restart",
                format!("{address_after_restart} after, {address} before"),
            ));
        }
        detail(format!(
            "after the restart: a new certificate, and {WALLET_USER}'s wallet from /data shows {address_after_restart}"
        ));
        Ok(WalletVisit {
            address,
            certificate_cn: cn,
            title,
            address_after_restart,
        })
    }
}

/// The certificate of the wallet on `port` and its CN, once it listens (it makes the
/// certificate first); waits up to a minute.
pub async fn wait_for_certificate(port: u16) -> Result<(String, String), LabError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match presented_certificate(port, APP_SERVER) {
            Ok(found) => return Ok(found),
            Err(e) if std::time::Instant::now() > deadline => {
                return Err(LabError::new(STEP, "read the workload's certificate", e));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::element_text;

    #[test]
    fn the_text_of_an_element_is_found_by_its_id() {
        let html = "<h1 id=\"title\">Bitcoin Wallet on x86_64 Linux</h1>\
                    <code id=\"receive-address\"> tb1qabc </code>";
        assert_eq!(
            element_text(html, "title").as_deref(),
            Some("Bitcoin Wallet on x86_64 Linux")
        );
        assert_eq!(
            element_text(html, "receive-address").as_deref(),
            Some("tb1qabc")
        );
        assert_eq!(element_text(html, "missing"), None);
    }
}
