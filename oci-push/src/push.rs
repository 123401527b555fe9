//! Push: blobs stream from a layout, each hashed once on its way out, several at a time (a
//! blob being committed by the registry no longer counts); existing blobs are skipped,
//! mounts tried, failures retried; manifests go last, so a tag never points at an
//! incomplete image.

use std::sync::Arc;

use bytes::Bytes;

use futures_util::{StreamExt as _, TryStreamExt as _};
use reqwest::{Method, StatusCode};

use crate::layout::Layout;
use crate::progress::{NoProgress, Progress};
use crate::pull::echoed_digest;
use crate::reference::ImageRef;
use crate::spec::Descriptor;
use crate::transport::{Client, error_body, headers};
use crate::tree::ImageTree;
use crate::upload::push_target;
use crate::{Digest, Error};

/// What a push produced: what Docker Content Trust signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The manifest's digest (the same as in the layout: its bytes are sent unchanged).
    pub digest: Digest,
    /// The manifest's size in bytes.
    pub size: u64,
    /// The manifest's media type.
    pub media_type: String,
}

/// Options of one push.
#[derive(Clone)]
pub struct PushOptions {
    /// A repository of the same registry to mount blobs from; a declined mount falls back
    /// to an upload.
    pub mount_from: Option<String>,
    /// Progress events.
    pub progress: Arc<dyn Progress>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            mount_from: None,
            progress: Arc::new(NoProgress),
        }
    }
}

impl std::fmt::Debug for PushOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushOptions")
            .field("mount_from", &self.mount_from)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Pushes the manifest tagged `tag` in `layout` (or its only manifest) to `target`, with
    /// every blob it references. Returns the manifest digest and size.
    pub async fn push_layout(
        &self,
        layout: &Layout,
        tag: Option<&str>,
        target: &ImageRef,
        options: &PushOptions,
    ) -> Result<Pushed, Error> {
        let root = layout.resolve(tag)?;
        self.push_manifest(layout, &root, target, options).await
    }

    /// Pushes the manifest `root` (an image or an index) from `layout` to `target`.
    pub async fn push_manifest(
        &self,
        layout: &Layout,
        root: &Descriptor,
        target: &ImageRef,
        options: &PushOptions,
    ) -> Result<Pushed, Error> {
        let root_bytes = layout.read_document(root)?;
        let (mut tree, children) = ImageTree::new(root.clone(), root_bytes)?;
        for child in children {
            let bytes = layout.read_document(&child)?;
            tree.add_child(child, bytes)?;
        }
        // Authenticated once here, not by each of the concurrent requests below.
        self.authorize(&push_target(target, None)).await?;
        if let Some(from) = options.mount_from.as_deref()
            && from != target.repository
        {
            self.authorize(&push_target(target, Some(from))).await?;
        }
        let parallelism = self.inner.options.parallelism;
        // `parallelism` blobs move data at once; a blob whose last byte is sent gives its
        // slot to the next one while the registry commits it (HEADs and commits run beside).
        let slots = Arc::new(tokio::sync::Semaphore::new(parallelism));
        futures_util::stream::iter(tree.blobs.into_iter().map(|blob| {
            let path = layout.blob_path(&blob.digest);
            let slots = &slots;
            async move { self.upload_blob(target, &blob, path, options, slots).await }
        }))
        .buffer_unordered(parallelism.saturating_mul(2))
        .try_collect::<Vec<_>>()
        .await?;
        // Children first, the root (by tag) last: a tag never names an incomplete image.
        for (child, bytes) in tree.children {
            self.put_manifest(target, &child.digest.to_string(), &child, bytes)
                .await?;
        }
        let reference = target.reference();
        self.put_manifest(target, &reference, root, tree.root_bytes)
            .await?;
        Ok(Pushed {
            digest: root.digest.clone(),
            size: root.size,
            media_type: root.media_type.clone(),
        })
    }

    async fn put_manifest(
        &self,
        target: &ImageRef,
        reference: &str,
        descriptor: &Descriptor,
        bytes: Vec<u8>,
    ) -> Result<(), Error> {
        let url = self.url(
            &target.registry,
            &target.repository,
            &format!("manifests/{reference}"),
        );
        let t = push_target(target, None);
        let bytes = Bytes::from(bytes);
        let response = self
            .send(
                &t,
                Method::PUT,
                &url,
                headers(&[("content-type", &descriptor.media_type)])?,
                &|| Some(reqwest::Body::from(bytes.clone())),
                self.inner.options.attempts,
            )
            .await?;
        if response.status() != StatusCode::CREATED {
            let status = response.status().as_u16();
            return Err(Error::RegistryStatus {
                method: "PUT".to_owned(),
                url,
                status,
                body: error_body(response).await,
            });
        }
        if let Some(echoed) = echoed_digest(response.headers(), &url)?
            && echoed != descriptor.digest
        {
            return Err(Error::DigestMismatch {
                what: format!("manifest stored by the registry at {url}"),
                expected: descriptor.digest.clone(),
                actual: echoed,
            });
        }
        tracing::debug!(%url, digest = %descriptor.digest, "manifest put");
        Ok(())
    }
}
