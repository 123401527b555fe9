//! Response bodies read with a bound: a server cannot make a client buffer more than it
//! agreed to, however long it makes the body.

use crate::Error;

/// Bytes of an error response's body kept for messages.
pub const ERROR_BODY_LIMIT: usize = 512;

/// Reads `response`'s body, failing with [`Error::TooLarge`] as soon as it passes `limit`
/// bytes (or announces more in `Content-Length`), without reading further.
pub async fn read_limited(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, Error> {
    let url = response.url().to_string();
    let too_large = |seen: u64| Error::TooLarge {
        url: url.clone(),
        limit,
        seen,
    };
    if let Some(length) = response.content_length()
        && length > limit
    {
        return Err(too_large(length));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|source| Error::Request {
        url: url.clone(),
        source,
    })? {
        let seen = body.len() as u64 + chunk.len() as u64;
        if seen > limit {
            return Err(too_large(seen));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The first [`ERROR_BODY_LIMIT`] bytes of an error response's body, lossily decoded and
/// trimmed, for messages; the rest is never read, and a read error ends the text early.
pub async fn error_body(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < ERROR_BODY_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(ERROR_BODY_LIMIT);
    String::from_utf8_lossy(&bytes).trim().to_owned()
}
