//! Serving the API over HTTPS: rustls (ring, explicitly; no process-wide provider) in
//! front of the axum router, one task per connection, so a slow handshake holds up no one.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::error::Result;
use crate::state_files::state_error;

/// A TLS server configuration from a PEM certificate chain and its PEM private key.
pub fn tls_config(cert_pem: &Path, key_pem: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| state_error("read", path, e));
    let bad = |path: &Path, what: String| state_error("read", path, std::io::Error::other(what));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert_pem)?)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(cert_pem, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(bad(cert_pem, "holds no certificate".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key_pem)?)
        .map_err(|e| bad(key_pem, format!("not a PEM private key: {e}")))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
    .map_err(|e| bad(cert_pem, format!("unusable certificate and key: {e}")))?;
    Ok(Arc::new(config))
}

/// Serves `router` over TLS on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, do not spin or stop.
                    tracing::warn!(%error, "accept");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let stream = match acceptor.accept(stream).await {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::debug!(%peer, %error, "TLS handshake");
                    return;
                }
            };
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "connection");
            }
        });
    }
}

/// The admin token in `path`, or a new random one (32 bytes, hex) written there with mode
/// 0600 when the file does not exist.
pub fn admin_token(path: &Path) -> Result<String> {
    if let Some(bytes) = crate::state_files::read_secret(path)? {
        let token = String::from_utf8_lossy(&bytes).trim().to_owned();
        if token.is_empty() {
            return Err(state_error(
                "read",
                path,
                std::io::Error::other("the token file is empty"),
            ));
        }
        return Ok(token);
    }
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| state_error("make", path, std::io::Error::other("no randomness")))?;
    let token = hex::encode(bytes);
    crate::state_files::write_secret(path, token.as_bytes())?;
    Ok(token)
}
