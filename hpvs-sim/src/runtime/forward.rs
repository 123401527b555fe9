//! Host port forwarding into a server's network namespace.
//!
//! A tokio listener on a loopback address accepts; for each connection a short-lived thread
//! joins the server's namespace with `setns` and connects to `127.0.0.1:<container port>`
//! there. A socket keeps the namespace it was made in, so the stream it hands back reaches
//! the container from the host process without any route or address outside loopback.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream as StdTcpStream};
use std::path::PathBuf;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::error::{Result, RuntimeError, io_error};
use super::netns::NetNamespace;

/// How long a connection into the namespace may take before the client is dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections relayed at once by one forwarder; more are closed as they arrive.
const MAX_RELAYS: usize = 1024;

/// A running forwarder from a host loopback port to a port inside a server's namespace.
/// Dropping it stops listening and closes every relayed connection.
#[derive(Debug)]
pub struct PortForwarder {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl PortForwarder {
    /// Listens on `listen` (a loopback address; port 0 picks a free one) and relays each
    /// connection to `127.0.0.1:container_port` inside `namespace`. Must be called within a
    /// tokio runtime.
    pub async fn bind(
        listen: SocketAddr,
        namespace: &NetNamespace,
        container_port: u16,
    ) -> Result<Self> {
        if !listen.ip().is_loopback() {
            return Err(RuntimeError::NonLoopbackAddress { addr: listen });
        }
        let listener = TcpListener::bind(listen)
            .await
            .map_err(io_error("listen on", listen.to_string()))?;
        let local_addr = listener
            .local_addr()
            .map_err(io_error("listen on", listen.to_string()))?;
        let target = Target {
            namespace: namespace.path(),
            port: container_port,
        };
        let task = tokio::spawn(accept_loop(listener, target));
        Ok(Self { local_addr, task })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for PortForwarder {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every relay.
        self.task.abort();
    }
}

/// Where connections go.
#[derive(Debug, Clone)]
struct Target {
    namespace: PathBuf,
    port: u16,
}

async fn accept_loop(listener: TcpListener, target: Target) {
    let mut relays = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    if relays.len() >= MAX_RELAYS {
                        // Each relay costs a connect thread and two sockets: shed load.
                        tracing::warn!(%peer, "too many connections, closing this one");
                        continue;
                    }
                    let target = target.clone();
                    relays.spawn(async move {
                        if let Err(error) = relay(client, &target).await {
                            tracing::debug!(%peer, port = target.port, %error, "relay ended");
                        }
                    });
                }
                Err(error) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished relays so the set does not grow with every connection.
            Some(_) = relays.join_next(), if !relays.is_empty() => {}
        }
    }
}

async fn relay(mut client: TcpStream, target: &Target) -> io::Result<()> {
    let mut upstream = connect_inside(target).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// Connects to the target port from inside its namespace, on a thread of its own so that
/// no thread of the tokio pool ever changes namespace.
async fn connect_inside(target: &Target) -> io::Result<TcpStream> {
    let (reply, answer) = oneshot::channel();
    let target = target.clone();
    std::thread::Builder::new()
        .name("hpvs-netns-connect".into())
        .spawn(move || {
            // The receiver may be gone when the client left; nothing is left to tell then.
            let _ = reply.send(connect_blocking(&target));
        })?;
    let stream = answer
        .await
        .map_err(|_| io::Error::other("namespace connect thread ended without an answer"))??;
    stream.set_nonblocking(true)?;
    TcpStream::from_std(stream)
}

fn connect_blocking(target: &Target) -> io::Result<StdTcpStream> {
    let namespace = File::open(&target.namespace)?;
    setns(&namespace, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, target.port));
    StdTcpStream::connect_timeout(&address, CONNECT_TIMEOUT)
}
