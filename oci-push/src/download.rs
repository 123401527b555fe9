//! Blob downloads: each blob streams to a partial file while its size and digest are
//! checked, then is renamed into place; a mismatch deletes it. A transfer cut by the network
//! resumes with `Range`, within a pull and, from the partial file a failed pull keeps, in the
//! next pull into the same layout.

use futures_util::StreamExt as _;
use reqwest::{Method, StatusCode};
use std::io::Write as _;

use crate::Error;
use crate::layout::Layout;
use crate::partial::{Partial, open_partial};
use crate::progress::BlobOutcome;
use crate::pull::PullOptions;
use crate::reference::ImageRef;
use crate::spec::Descriptor;
use crate::transport::{Client, Target, expect_status, headers};

/// Bytes queued between a download and the thread that hashes and writes it, at most (this
/// and the write buffer bound a download's memory, whatever the blob's size).
const QUEUE_BYTES: usize = 2 * 1024 * 1024;

impl Client {
    /// Downloads a blob into the layout unless present there, verifying as it streams. A
    /// transfer cut by a transient failure resumes where it stopped (`Range`) when the
    /// registry serves ranges, and restarts from the first byte otherwise. When the attempts
    /// run out, what arrived stays in `.partial-HEX` for the next pull to resume from.
    pub(crate) async fn download_blob(
        &self,
        image: &ImageRef,
        blob: &Descriptor,
        layout: &Layout,
        options: &PullOptions,
    ) -> Result<BlobOutcome, Error> {
        let progress = &options.progress;
        if layout.has_blob(blob) {
            // A size that matches proves nothing: the blob is hashed, and fetched again when
            // its content is not what its name says.
            let present = tokio::task::spawn_blocking({
                let (layout, blob) = (layout.clone(), blob.clone());
                move || layout.verify_blob(&blob)
            })
            .await
            .map_err(|error| Error::Io {
                action: "verify",
                path: layout.blob_path(&blob.digest),
                source: std::io::Error::other(error.to_string()),
            })?;
            match present {
                Ok(()) => {
                    progress.blob_finished(&blob.digest, BlobOutcome::Skipped);
                    return Ok(BlobOutcome::Skipped);
                }
                Err(error @ (Error::DigestMismatch { .. } | Error::SizeMismatch { .. })) => {
                    tracing::warn!(%error, "a blob in the layout is corrupt, fetching it again");
                    let path = layout.blob_path(&blob.digest);
                    std::fs::remove_file(&path).map_err(Error::io("remove", &path))?;
                }
                Err(error) => return Err(error),
            }
        }
        progress.blob_started(&blob.digest, blob.size);
        let url = self.url(
            &image.registry,
            &image.repository,
            &format!("blobs/{}", blob.digest),
        );
        let dir = layout.blob_dir();
        let what = format!("blob {} from {url}", blob.digest);
        let (mut partial, mut guard) = tokio::task::spawn_blocking({
            let (dir, blob) = (dir.clone(), blob.clone());
            move || open_partial(&dir, &blob, what)
        })
        .await
        .map_err(|error| Error::Io {
            action: "open a partial download in",
            path: dir.clone(),
            source: std::io::Error::other(error.to_string()),
        })??;
        if partial.written > 0 {
            tracing::debug!(digest = %blob.digest, offset = partial.written, "resuming an earlier download");
            progress.blob_retry(&blob.digest, partial.written);
        }
        let attempts = self.inner.options.attempts;
        let mut delay = self.inner.options.retry_delay;
        let mut attempt = 0;
        // An earlier pull may have left every byte already.
        while partial.written < blob.size {
            attempt += 1;
            match self
                .download_attempt(image, blob, &url, partial, options)
                .await?
            {
                Attempt::Complete(done) => {
                    partial = done;
                    break;
                }
                // Every byte arrived before the connection failed: the checks below decide.
                Attempt::Interrupted(kept, _) if kept.written == blob.size => {
                    partial = kept;
                    break;
                }
                Attempt::Interrupted(kept, error) if error.is_transient() && attempt < attempts => {
                    tracing::debug!(digest = %blob.digest, %error, offset = kept.written, "download interrupted, retrying");
                    progress.blob_retry(&blob.digest, kept.written);
                    partial = kept;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(4));
                }
                Attempt::Interrupted(kept, error) => {
                    // What arrived stays for the next pull into this layout to resume from.
                    guard.keep = guard.resumable && error.is_transient() && kept.written > 0;
                    return Err(error);
                }
            }
        }
        partial.verifier.finish()?;
        let path = layout.blob_path(&blob.digest);
        std::fs::rename(&guard.path, &path).map_err(Error::io("rename into", &path))?;
        guard.keep = true;
        tracing::debug!(digest = %blob.digest, "blob downloaded and verified");
        progress.blob_finished(&blob.digest, BlobOutcome::Downloaded);
        Ok(BlobOutcome::Downloaded)
    }

    /// One GET of a blob, from where `partial` stands. The body is hashed and written on a
    /// blocking thread, so that the runtime's workers only move bytes off the network.
    /// Returns `Err` for what a retry cannot fix (a local write failed, the content is
    /// longer than its descriptor says).
    async fn download_attempt(
        &self,
        image: &ImageRef,
        blob: &Descriptor,
        url: &str,
        mut partial: Partial,
        options: &PullOptions,
    ) -> Result<Attempt, Error> {
        let offset = partial.written;
        let request_headers = if offset > 0 {
            headers(&[("range", &format!("bytes={offset}-"))])?
        } else {
            Default::default()
        };
        let sent = self
            .send(
                &pull_target(image),
                Method::GET,
                url,
                request_headers,
                &|| None,
                self.inner.options.attempts,
            )
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Ok(Attempt::Interrupted(partial, error)),
        };
        let resumed = offset > 0
            && response.status() == StatusCode::PARTIAL_CONTENT
            && content_range_start(response.headers()) == Some(offset);
        let response = if resumed {
            response
        } else {
            let response = match expect_status(response, StatusCode::OK, "GET", url).await {
                Ok(response) => response,
                Err(error) => return Ok(Attempt::Interrupted(partial, error)),
            };
            if offset > 0 {
                // The registry sent the whole blob again: start over.
                partial = partial.restart()?;
                options.progress.blob_retry(&blob.digest, 0);
            }
            response
        };
        self.stream_into(response, blob, url, partial, options)
            .await
    }

    async fn stream_into(
        &self,
        response: reqwest::Response,
        blob: &Descriptor,
        url: &str,
        mut partial: Partial,
        options: &PullOptions,
    ) -> Result<Attempt, Error> {
        // The channel is unbounded; the byte budget is what holds the network back.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<bytes::Bytes>();
        let budget = std::sync::Arc::new(tokio::sync::Semaphore::new(QUEUE_BYTES));
        let released = budget.clone();
        let writer = tokio::task::spawn_blocking(move || {
            let mut outcome = Ok(());
            while let Some(chunk) = rx.blocking_recv() {
                if let Err(error) = partial.verifier.update(&chunk) {
                    outcome = Err(error);
                    break;
                }
                if let Err(error) = partial.file.write_all(&chunk) {
                    outcome = Err(Error::io("write", partial.path.clone())(error));
                    break;
                }
                partial.written += chunk.len() as u64;
                released.add_permits(chunk.len().min(QUEUE_BYTES));
            }
            // Wakes a download waiting for room that will never come.
            released.close();
            if outcome.is_ok()
                && let Err(error) = partial.file.flush()
            {
                outcome = Err(Error::io("write", partial.path.clone())(error));
            }
            (partial, outcome)
        });
        let mut network = None;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => {
                    let length = chunk.len() as u64;
                    let cost = chunk.len().min(QUEUE_BYTES) as u32;
                    // A closed channel means the writer stopped; its outcome says why.
                    let Ok(permit) = budget.acquire_many(cost).await else {
                        break;
                    };
                    permit.forget();
                    if tx.send(chunk).is_err() {
                        break;
                    }
                    options.progress.blob_bytes(&blob.digest, length);
                }
                Err(error) => {
                    network = Some(Error::Http {
                        method: "GET".to_owned(),
                        url: url.to_owned(),
                        attempts: 1,
                        source: Box::new(error),
                    });
                    break;
                }
            }
        }
        drop(tx);
        let (partial, written) = writer.await.map_err(|error| Error::Io {
            action: "write",
            path: blob.digest.to_string().into(),
            source: std::io::Error::other(error.to_string()),
        })?;
        written?;
        Ok(match network {
            Some(error) => Attempt::Interrupted(partial, error),
            None => Attempt::Complete(partial),
        })
    }
}

/// How one GET of a blob ended.
enum Attempt {
    /// Every byte arrived (size and digest are checked next).
    Complete(Partial),
    /// The transfer stopped early; what arrived is kept for a retry.
    Interrupted(Partial, Error),
}

/// The first byte a `Content-Range: bytes START-END/TOTAL` header covers.
fn content_range_start(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let value = headers.get("content-range")?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes")?.trim_start();
    let (start, _) = range.split_once('-')?;
    start.trim().parse().ok()
}

/// The scope a pull needs.
pub(crate) fn pull_target(image: &ImageRef) -> Target<'_> {
    Target {
        registry: &image.registry,
        repository: &image.repository,
        actions: "pull",
        mount_from: None,
    }
}
