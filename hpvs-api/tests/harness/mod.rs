//! A small in-process HTTP/1.1 server for the client's tests: it records every request and
//! answers with whatever the test's closure writes, byte for byte (so a test can answer
//! what no well-behaved server would).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// One request as the server read it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `GET`, `POST`...
    pub method: String,
    /// The request target exactly as sent (still percent-encoded), query included.
    pub target: String,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body (by `Content-Length`).
    pub body: Vec<u8>,
}

impl Recorded {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What to answer a request with.
pub type Respond = Arc<dyn Fn(&Recorded) -> Vec<u8> + Send + Sync>;

/// A running server: its base URL and what it received.
pub struct TestServer {
    /// `http://127.0.0.1:PORT` (or `https://`).
    pub url: String,
    /// Every request so far, in order.
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl TestServer {
    /// The requests so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// Serves plain HTTP on a free loopback port.
pub async fn serve(respond: impl Fn(&Recorded) -> Vec<u8> + Send + Sync + 'static) -> TestServer {
    serve_with(None, Arc::new(respond)).await
}

/// Serves HTTPS with `acceptor` on a free loopback port.
pub async fn serve_tls(
    acceptor: tokio_rustls::TlsAcceptor,
    respond: impl Fn(&Recorded) -> Vec<u8> + Send + Sync + 'static,
) -> TestServer {
    serve_with(Some(acceptor), Arc::new(respond)).await
}

async fn serve_with(acceptor: Option<tokio_rustls::TlsAcceptor>, respond: Respond) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let requests = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&requests);
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let (respond, recorder, acceptor) = (
                Arc::clone(&respond),
                Arc::clone(&recorder),
                acceptor.clone(),
            );
            tokio::spawn(async move {
                match acceptor {
                    None => answer_one(socket, respond, recorder).await,
                    // A failed handshake (the client refused our certificate) ends here.
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(socket).await {
                            answer_one(stream, respond, recorder).await;
                        }
                    }
                }
            });
        }
    });
    TestServer {
        url: format!("{scheme}://{address}"),
        requests,
    }
}

/// Reads one request, records it, writes the answer and closes the connection (every
/// answer says `connection: close`, so the client never reuses it).
async fn answer_one(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    respond: Respond,
    recorder: Arc<Mutex<Vec<Recorded>>>,
) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    recorder.lock().unwrap().push(request.clone());
    let answer = respond(&request);
    let _ = stream.write_all(&answer).await;
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut (impl AsyncRead + Unpin)) -> Option<Recorded> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map_or(0, |(_, value)| value.parse().unwrap());
    let mut body = buffer[header_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded {
        method,
        target,
        headers,
        body,
    })
}

/// An answer with `status` (e.g. `409 Conflict`), a content type and a body.
pub fn answer(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A JSON answer.
pub fn json(status: &str, body: &serde_json::Value) -> Vec<u8> {
    answer(status, "application/json", body.to_string().as_bytes())
}

/// A `204 No Content` answer.
pub fn no_content() -> Vec<u8> {
    b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_vec()
}
