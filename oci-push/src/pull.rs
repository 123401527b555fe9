//! Pull: a manifest resolved and verified, the manifests an index lists fetched, their
//! blobs downloaded several at a time ([`crate::download`]), and the manifests written into
//! the layout last, so that it never lists an image whose blobs are missing.

use std::sync::Arc;

use futures_util::{StreamExt as _, TryStreamExt as _};
use reqwest::{Method, StatusCode};

use crate::download::pull_target;
use crate::layout::Layout;
use crate::progress::{NoProgress, Progress};
use crate::reference::ImageRef;
use crate::spec::{
    Descriptor, MANIFEST_ACCEPT, MAX_DOCUMENT_SIZE, Parsed, Platform, is_index, parse_manifest,
    select_platform, sniff_media_type,
};
use crate::transport::{Client, Limited, expect_status, headers, read_limited};
use crate::tree::ImageTree;
use crate::{Digest, Error};

/// Options of one pull.
#[derive(Clone)]
pub struct PullOptions {
    /// Progress events.
    pub progress: Arc<dyn Progress>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            progress: Arc::new(NoProgress),
        }
    }
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions").finish_non_exhaustive()
    }
}

impl Client {
    /// Resolves `reference` to its manifest descriptor (digest, size, media type) without
    /// downloading blobs. The manifest is fetched and hashed; a digest reference is
    /// verified.
    pub async fn resolve(&self, reference: &ImageRef) -> Result<Descriptor, Error> {
        let (descriptor, _) = self
            .fetch_manifest(reference, &reference.reference())
            .await?;
        Ok(descriptor)
    }

    /// Pulls `reference` (every platform of an index) into `layout`, and tags it there as
    /// `tag`. Returns the manifest's descriptor.
    pub async fn pull(
        &self,
        reference: &ImageRef,
        layout: &Layout,
        tag: &str,
        options: &PullOptions,
    ) -> Result<Descriptor, Error> {
        let root = self.pull_into(reference, layout, options).await?;
        layout.set_tag(tag, &root)?;
        Ok(root)
    }

    /// Pulls `reference` into `layout`'s blobs without tagging it (for base images).
    pub async fn pull_into(
        &self,
        reference: &ImageRef,
        layout: &Layout,
        options: &PullOptions,
    ) -> Result<Descriptor, Error> {
        let (root, bytes) = self
            .fetch_manifest(reference, &reference.reference())
            .await?;
        self.pull_documents(reference, root, bytes, layout, options)
            .await
    }

    /// Pulls the image of `platform` from `reference` into `layout` and tags it there as
    /// `tag`: from an index only the matching manifest and its blobs are downloaded, and the
    /// image manifest (not the index) is tagged. Returns the image manifest's descriptor.
    ///
    /// An image reference (not an index) is pulled as it is. An index without the platform
    /// is [`Error::PlatformNotFound`], listing what it offers.
    pub async fn pull_platform(
        &self,
        reference: &ImageRef,
        platform: &Platform,
        layout: &Layout,
        tag: &str,
        options: &PullOptions,
    ) -> Result<Descriptor, Error> {
        let image = self
            .pull_platform_into(reference, platform, layout, options)
            .await?;
        layout.set_tag(tag, &image)?;
        Ok(image)
    }

    /// [`pull_platform`](Client::pull_platform) without tagging (for base images).
    pub async fn pull_platform_into(
        &self,
        reference: &ImageRef,
        platform: &Platform,
        layout: &Layout,
        options: &PullOptions,
    ) -> Result<Descriptor, Error> {
        let (root, bytes) = self
            .fetch_manifest(reference, &reference.reference())
            .await?;
        let (root, bytes) = match parse_manifest(&root.media_type, &bytes)? {
            Parsed::Image { .. } => (root, bytes),
            Parsed::Index { manifests } => {
                let chosen = select_platform(manifests, platform, &reference.to_string())?;
                self.fetch_child(reference, chosen).await?
            }
        };
        self.pull_documents(reference, root, bytes, layout, options)
            .await
    }

    /// Fetches the manifest an index lists, checking it is no index itself and has the size
    /// the index gives.
    async fn fetch_child(
        &self,
        reference: &ImageRef,
        child: Descriptor,
    ) -> Result<(Descriptor, Vec<u8>), Error> {
        if is_index(&child.media_type) {
            return Err(Error::UnsupportedMediaType {
                what: format!("nested index {} in {reference}", child.digest),
                media_type: child.media_type,
            });
        }
        let (fetched, bytes) = self
            .fetch_manifest(reference, child.digest.as_str())
            .await?;
        if fetched.size != child.size {
            return Err(Error::SizeMismatch {
                what: format!("manifest {}", child.digest),
                expected: child.size,
                actual: fetched.size,
            });
        }
        Ok((child, bytes))
    }

    /// Downloads what the fetched manifest `root` needs (every image of an index), then
    /// writes the manifests, last.
    async fn pull_documents(
        &self,
        reference: &ImageRef,
        root: Descriptor,
        bytes: Vec<u8>,
        layout: &Layout,
        options: &PullOptions,
    ) -> Result<Descriptor, Error> {
        let (mut tree, children) = ImageTree::new(root, bytes)?;
        for child in children {
            let (child, child_bytes) = self.fetch_child(reference, child).await?;
            tree.add_child(child, child_bytes)?;
        }
        let blobs = std::mem::take(&mut tree.blobs);
        futures_util::stream::iter(blobs.into_iter().map(|blob| async move {
            self.download_blob(reference, &blob, layout, options).await
        }))
        .buffer_unordered(self.inner.options.parallelism)
        .try_collect::<Vec<_>>()
        .await?;
        // Manifests last: a layout never lists an image whose blobs are missing.
        for (descriptor, bytes) in tree.children.iter().rev() {
            layout.write_document(&descriptor.media_type, bytes)?;
        }
        layout.write_document(&tree.root.media_type, &tree.root_bytes)?;
        Ok(tree.root)
    }

    /// Fetches a manifest by tag or digest, bounded in size; verifies it against a digest
    /// reference and against the registry's `Docker-Content-Digest`.
    pub(crate) async fn fetch_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
    ) -> Result<(Descriptor, Vec<u8>), Error> {
        let url = self.url(
            &image.registry,
            &image.repository,
            &format!("manifests/{reference}"),
        );
        let t = pull_target(image);
        let response = self
            .send(
                &t,
                Method::GET,
                &url,
                headers(&[("accept", MANIFEST_ACCEPT)])?,
                &|| None,
                self.inner.options.attempts,
            )
            .await?;
        let response = expect_status(response, StatusCode::OK, "GET", &url).await?;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_owned());
        let echoed = echoed_digest(response.headers(), &url)?;
        let bytes = match read_limited(response, MAX_DOCUMENT_SIZE)
            .await
            .map_err(|e| Error::Http {
                method: "GET".to_owned(),
                url: url.clone(),
                attempts: 1,
                source: Box::new(e),
            })? {
            Limited::Body(bytes) => bytes,
            Limited::Exceeded(size) => {
                return Err(Error::TooLarge {
                    what: format!("manifest {url}"),
                    size,
                    limit: MAX_DOCUMENT_SIZE,
                });
            }
        };
        let digest = Digest::of(&bytes);
        let expected = Digest::parse(reference).ok().or(image
            .digest
            .clone()
            .filter(|_| reference == image.reference()));
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(Error::DigestMismatch {
                what: format!("manifest {url}"),
                expected,
                actual: digest,
            });
        }
        if let Some(echoed) = echoed
            && echoed != digest
        {
            return Err(Error::DigestMismatch {
                what: format!("manifest {url} (Docker-Content-Digest)"),
                expected: echoed,
                actual: digest,
            });
        }
        let media_type =
            sniff_media_type(&bytes)
                .or(content_type)
                .ok_or_else(|| Error::InvalidDocument {
                    what: format!("manifest {url}"),
                    reason: "no media type in the document or the response".to_owned(),
                })?;
        Ok((
            Descriptor {
                media_type,
                digest,
                size: bytes.len() as u64,
            },
            bytes,
        ))
    }
}

/// The `Docker-Content-Digest` a registry sent with its answer to `url`, if any (one that is
/// not text is ignored); one that is no sha256 digest is refused.
pub(crate) fn echoed_digest(
    headers: &reqwest::header::HeaderMap,
    url: &str,
) -> Result<Option<Digest>, Error> {
    let Some(text) = headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    Digest::parse(text)
        .map(Some)
        .map_err(|error| Error::RegistryProtocol {
            request: url.to_owned(),
            reason: format!("its Docker-Content-Digest is unusable: {error}"),
        })
}
