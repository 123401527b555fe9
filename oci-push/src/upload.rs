//! Blob uploads: each blob streams from its layout file through a reading thread that
//! hashes it once on its way out; a blob the registry has is skipped, a mount is tried when
//! asked, a failed attempt is retried (restarted, or resumed for chunked sessions), and a
//! registry refusing a monolithic upload gets chunks.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use crate::progress::BlobOutcome;
use crate::push::PushOptions;
use crate::reference::ImageRef;
use crate::spec::Descriptor;
use crate::transport::{Client, Target, UploadMode, error_body, expect_status, headers};
use crate::upload_hash::{HashState, check_hash};
use crate::{Digest, Error};

/// How one blob is being uploaded: the mode (which can change to chunks when the registry
/// refuses a monolithic upload) and the session to resume, if any.
struct Session {
    resume: Option<String>,
    mode: UploadMode,
}

/// Chunk size used when a registry refuses a monolithic upload.
const FALLBACK_CHUNK_SIZE: u64 = 8 * 1024 * 1024;

/// Bytes read from disk per chunk of an upload.
const READ_CHUNK: usize = 256 * 1024;
/// Chunks buffered between the reading thread and the connection, per blob.
const CHANNEL_DEPTH: usize = 8;

/// One blob being pushed: where it goes, where it comes from, and what its attempts share.
struct BlobPush<'a> {
    target: &'a ImageRef,
    blob: &'a Descriptor,
    path: &'a std::path::Path,
    options: &'a PushOptions,
    /// The running hash, kept across attempts.
    state: Arc<Mutex<HashState>>,
    /// The push's transfer slots.
    slots: &'a Arc<tokio::sync::Semaphore>,
}

impl Client {
    /// Uploads one blob unless the registry has it, retrying transient failures.
    pub(crate) async fn upload_blob(
        &self,
        target: &ImageRef,
        blob: &Descriptor,
        path: PathBuf,
        options: &PushOptions,
        slots: &Arc<tokio::sync::Semaphore>,
    ) -> Result<BlobOutcome, Error> {
        let progress = &options.progress;
        let size = std::fs::metadata(&path)
            .map_err(Error::io("read the metadata of", &path))?
            .len();
        if size != blob.size {
            return Err(Error::SizeMismatch {
                what: format!("layout blob {}", path.display()),
                expected: blob.size,
                actual: size,
            });
        }
        let t = push_target(target, None);
        let url = self.url(
            &target.registry,
            &target.repository,
            &format!("blobs/{}", blob.digest),
        );
        let attempts = self.inner.options.attempts;
        let head = self
            .send(
                &t,
                Method::HEAD,
                &url,
                Default::default(),
                &|| None,
                attempts,
            )
            .await?;
        if head.status() == StatusCode::OK {
            tracing::debug!(digest = %blob.digest, "blob exists, skipped");
            progress.blob_finished(&blob.digest, BlobOutcome::Skipped);
            return Ok(BlobOutcome::Skipped);
        }
        progress.blob_started(&blob.digest, blob.size);
        let job = BlobPush {
            target,
            blob,
            path: &path,
            options,
            state: Arc::new(Mutex::new(HashState {
                hasher: Sha256::new(),
                hashed: 0,
                result: None,
            })),
            slots,
        };
        let mut delay = self.inner.options.retry_delay;
        let mut attempt = 0;
        let mut session = Session {
            resume: None,
            mode: self.inner.options.upload,
        };
        loop {
            attempt += 1;
            let result = self.upload_once(&job, &mut session).await;
            match result {
                Ok(outcome) => {
                    progress.blob_finished(&blob.digest, outcome);
                    return Ok(outcome);
                }
                // A registry that will not take the blob in one request says 413: send it in
                // chunks instead (what the registry needs, not what was configured).
                Err(Error::RegistryStatus { status: 413, .. })
                    if session.mode == UploadMode::Monolithic =>
                {
                    tracing::debug!(digest = %blob.digest, "monolithic upload refused (413), switching to chunks");
                    session = Session {
                        resume: None,
                        mode: UploadMode::Chunked {
                            chunk_size: FALLBACK_CHUNK_SIZE,
                        },
                    };
                    progress.blob_retry(&blob.digest, 0);
                }
                Err(error) if error.is_transient() && attempt < attempts => {
                    tracing::debug!(digest = %blob.digest, %error, attempt, "upload failed, retrying");
                    if session.resume.is_none() {
                        progress.blob_retry(&blob.digest, 0);
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(4));
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// One upload attempt: a new session (or the one in `resume`), then the data.
    async fn upload_once(
        &self,
        job: &BlobPush<'_>,
        session: &mut Session,
    ) -> Result<BlobOutcome, Error> {
        let BlobPush {
            target,
            blob,
            options,
            state,
            slots,
            ..
        } = job;
        let mode = session.mode;
        let resume = &mut session.resume;
        let mount_from = options
            .mount_from
            .as_deref()
            .filter(|from| *from != target.repository);
        let t = push_target(target, mount_from);
        let mut offset = 0;
        let mut location = None;
        let mut min_chunk = 0;
        if let Some(previous) = resume.take() {
            // Ask where the interrupted session stands (chunked uploads only).
            let status = self
                .send(&t, Method::GET, &previous, Default::default(), &|| None, 1)
                .await;
            if let Ok(response) = status
                && response.status() == StatusCode::NO_CONTENT
                && let Some(end) = range_end(response.headers())
            {
                offset = end;
                location = Some(
                    response
                        .headers()
                        .get("location")
                        .and_then(|v| v.to_str().ok())
                        .map(|l| self.absolute(&target.registry, l))
                        .unwrap_or(previous),
                );
                options.progress.blob_retry(&blob.digest, offset);
            }
        }
        let mut location = match location {
            Some(location) => location,
            None => {
                let mut url = self.url(&target.registry, &target.repository, "blobs/uploads/");
                if let Some(from) = mount_from {
                    url.push_str(&format!("?mount={}&from={from}", blob.digest));
                }
                let response = self
                    .send(&t, Method::POST, &url, Default::default(), &|| None, 1)
                    .await?;
                match response.status() {
                    StatusCode::CREATED if mount_from.is_some() => {
                        tracing::debug!(digest = %blob.digest, "blob mounted");
                        return Ok(BlobOutcome::Mounted);
                    }
                    StatusCode::ACCEPTED => {}
                    status => {
                        return Err(Error::RegistryStatus {
                            method: "POST".to_owned(),
                            url,
                            status: status.as_u16(),
                            body: error_body(response).await,
                        });
                    }
                }
                min_chunk = response
                    .headers()
                    .get("oci-chunk-min-length")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                self.location(&target.registry, &response, "POST blobs/uploads/")?
            }
        };
        let (chunk, final_body) = match mode {
            UploadMode::Monolithic => (blob.size.max(1), true),
            // The registry's minimum chunk size, when it states one, wins.
            UploadMode::Chunked { chunk_size } => (chunk_size.max(min_chunk).max(1), false),
        };
        let digest_param = format!("digest={}", blob.digest);
        // Held while this blob's bytes move; the body hands it back after its last byte.
        let acquired = Arc::clone(slots).acquire_owned().await;
        // The semaphore is never closed; an error cannot happen, but is not a panic.
        let mut slot = Some(acquired.map_err(|_| Error::RegistryProtocol {
            request: "upload".to_owned(),
            reason: "the push's transfer slots were closed".to_owned(),
        })?);
        if final_body {
            let url = with_query(&location, &digest_param);
            let body = self.stream_body(job, 0, blob.size, slot.take())?;
            let body = Mutex::new(Some(body));
            let response = self
                .send(
                    &t,
                    Method::PUT,
                    &url,
                    headers(&[
                        ("content-type", "application/octet-stream"),
                        ("content-length", &blob.size.to_string()),
                    ])?,
                    &|| body.lock().ok().and_then(|mut b| b.take()),
                    1,
                )
                .await;
            // A failed transfer is retried (the hash goes on where it stopped); only a
            // completed one must have hashed every byte.
            let response = response?;
            check_hash(state, blob)?;
            return expect_created(response, "PUT", url).await;
        }
        while offset < blob.size {
            let end = (offset + chunk).min(blob.size);
            let last = if end == blob.size { slot.take() } else { None };
            let body = self.stream_body(job, offset, end, last)?;
            let body = Mutex::new(Some(body));
            let sent = self
                .send(
                    &t,
                    Method::PATCH,
                    &location,
                    headers(&[
                        ("content-type", "application/octet-stream"),
                        ("content-length", &(end - offset).to_string()),
                        ("content-range", &format!("{offset}-{}", end - 1)),
                    ])?,
                    &|| body.lock().ok().and_then(|mut b| b.take()),
                    1,
                )
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(error) => {
                    *resume = Some(location);
                    return Err(error);
                }
            };
            if response.status() != StatusCode::ACCEPTED {
                let status = response.status().as_u16();
                return Err(Error::RegistryStatus {
                    method: "PATCH".to_owned(),
                    url: location,
                    status,
                    body: error_body(response).await,
                });
            }
            location = self.location(&target.registry, &response, "PATCH upload")?;
            offset = end;
        }
        check_hash(state, blob)?;
        let url = with_query(&location, &digest_param);
        let response = self
            .send(
                &t,
                Method::PUT,
                &url,
                headers(&[("content-length", "0")])?,
                &|| None,
                1,
            )
            .await?;
        expect_created(response, "PUT", url).await
    }

    fn location(
        &self,
        registry: &str,
        response: &reqwest::Response,
        request: &str,
    ) -> Result<String, Error> {
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::RegistryProtocol {
                request: request.to_owned(),
                reason: "no Location header".to_owned(),
            })?;
        Ok(self.absolute(registry, location))
    }

    fn absolute(&self, registry: &str, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}{location}", self.base(registry))
        }
    }

    /// A body streaming bytes `start..end` of the blob file, read on a blocking thread which
    /// also hashes every byte not hashed before, and lets `slot` go once it has read `end`.
    fn stream_body(
        &self,
        job: &BlobPush<'_>,
        start: u64,
        end: u64,
        slot: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Result<reqwest::Body, Error> {
        let BlobPush {
            path,
            blob,
            state,
            options,
            ..
        } = job;
        let mut file = std::fs::File::open(path).map_err(Error::io("open", path))?;
        file.seek(SeekFrom::Start(start))
            .map_err(Error::io("seek in", path))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_DEPTH);
        let state = Arc::clone(state);
        let expected = blob.digest.clone();
        let total = blob.size;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let mut position = start;
            while position < end {
                let want = ((end - position) as usize).min(READ_CHUNK);
                let mut buffer = vec![0u8; want];
                if let Err(error) = file.read_exact(&mut buffer) {
                    let _ = tx.blocking_send(Err(error));
                    return;
                }
                let abort = match state.lock() {
                    Ok(mut s) => {
                        if s.hashed < position + want as u64 && s.hashed >= position {
                            let from = (s.hashed - position) as usize;
                            s.hasher.update(&buffer[from..]);
                            s.hashed = position + want as u64;
                            if s.hashed == total {
                                let digest = Digest::from_hasher(s.hasher.clone());
                                let bad = digest != expected;
                                s.result = Some(digest);
                                bad
                            } else {
                                false
                            }
                        } else {
                            false
                        }
                    }
                    Err(_) => true,
                };
                if abort {
                    // Do not let the registry store content that is not what its name says.
                    let _ = tx.blocking_send(Err(std::io::Error::other("blob digest mismatch")));
                    return;
                }
                position += want as u64;
                if tx.blocking_send(Ok(Bytes::from(buffer))).is_err() {
                    return;
                }
            }
        });
        let progress = Arc::clone(&options.progress);
        let digest = blob.digest.clone();
        let stream = futures_util::stream::unfold(rx, move |mut rx| {
            let progress = Arc::clone(&progress);
            let digest = digest.clone();
            async move {
                let item = rx.recv().await?;
                if let Ok(bytes) = &item {
                    progress.blob_bytes(&digest, bytes.len() as u64);
                }
                Some((item, rx))
            }
        });
        Ok(reqwest::Body::wrap_stream(stream))
    }
}

/// The scope a push needs.
pub(crate) fn push_target<'a>(target: &'a ImageRef, mount_from: Option<&'a str>) -> Target<'a> {
    Target {
        registry: &target.registry,
        repository: &target.repository,
        actions: "pull,push",
        mount_from,
    }
}

async fn expect_created(
    response: reqwest::Response,
    method: &str,
    url: String,
) -> Result<BlobOutcome, Error> {
    expect_status(response, StatusCode::CREATED, method, &url).await?;
    Ok(BlobOutcome::Uploaded)
}

/// The offset after the last byte a `Range: 0-N` header acknowledges.
fn range_end(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let range = headers.get("range")?.to_str().ok()?;
    let (_, end) = range.trim_start_matches("bytes=").split_once('-')?;
    // docker-registry answers `0-0` for an empty session too: resend from 0 then.
    end.parse::<u64>()
        .ok()
        .map(|e| if e == 0 { 0 } else { e + 1 })
}

fn with_query(url: &str, param: &str) -> String {
    if url.contains('?') {
        format!("{url}&{param}")
    } else {
        format!("{url}?{param}")
    }
}
