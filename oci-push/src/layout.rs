//! OCI image layout directories (`oci-layout`, `index.json`, `blobs/sha256/`), the format
//! skopeo, buildah and crane write.

use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

use crate::digest::{HashingWriter, LimitedReader, Verifier};
use crate::spec::{
    Descriptor, MAX_DOCUMENT_SIZE, OCI_INDEX, Parsed, Platform, parse_manifest, select_platform,
};
use crate::{Digest, Error};

/// The annotation holding a manifest's tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI image layout directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Opens an existing layout, checking its `oci-layout` marker.
    pub fn open(dir: impl AsRef<Path>) -> Result<Layout, Error> {
        let root = dir.as_ref().to_owned();
        let marker = root.join("oci-layout");
        let text = std::fs::read_to_string(&marker).map_err(|e| Error::InvalidLayout {
            path: root.clone(),
            reason: format!("cannot read oci-layout: {e}"),
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::InvalidLayout {
                path: root.clone(),
                reason: format!("oci-layout is not JSON: {e}"),
            })?;
        if value.get("imageLayoutVersion").and_then(|v| v.as_str()) != Some("1.0.0") {
            return Err(Error::InvalidLayout {
                path: root,
                reason: "oci-layout does not declare imageLayoutVersion 1.0.0".to_owned(),
            });
        }
        Ok(Layout { root })
    }

    /// Opens the layout at `dir`, creating the directory, marker and an empty index when
    /// they are missing.
    pub fn create(dir: impl AsRef<Path>) -> Result<Layout, Error> {
        let root = dir.as_ref().to_owned();
        let blobs = root.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).map_err(Error::io("create directory", &blobs))?;
        let marker = root.join("oci-layout");
        if !marker.exists() {
            write_atomic(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let layout = Layout::open(root)?;
        let index = layout.root.join("index.json");
        let _lock = layout.lock_index()?;
        if !index.exists() {
            let empty =
                serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []});
            write_atomic(&index, empty.to_string().as_bytes())?;
        }
        Ok(layout)
    }

    /// Locks the layout against other writers of `index.json`, in this process or another,
    /// until the returned file is dropped. The lock is held on the `oci-layout` marker, a
    /// file nobody rewrites, so that the rename of a new `index.json` cannot lose it.
    fn lock_index(&self) -> Result<std::fs::File, Error> {
        let marker = self.root.join("oci-layout");
        let file = std::fs::File::open(&marker).map_err(Error::io("open", &marker))?;
        file.lock().map_err(Error::io("lock", &marker))?;
        Ok(file)
    }

    /// The layout's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Where the blob named `digest` lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    /// The directory blobs are written in.
    pub(crate) fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// Removes what interrupted work left among the blobs and nobody uses any more: partial
    /// downloads (`.partial-*`, kept by a pull that gave up so that the next one can resume)
    /// that no pull is writing, and temporary files of interrupted writes (the other names
    /// starting with a dot there), when they were last written more than `older_than` ago.
    /// Returns how many files were removed.
    pub fn remove_stale_files(&self, older_than: std::time::Duration) -> Result<usize, Error> {
        let dir = self.blob_dir();
        let entries = std::fs::read_dir(&dir).map_err(Error::io("read directory", &dir))?;
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(Error::io("read directory", &dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let Ok(file) = std::fs::File::open(&path) else {
                continue;
            };
            // A pull writing it holds this lock.
            if file.try_lock().is_err() {
                continue;
            }
            let age = file
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok());
            if age.is_some_and(|age| age > older_than) {
                std::fs::remove_file(&path).map_err(Error::io("remove", &path))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Whether a blob exists with the size expected.
    pub fn has_blob(&self, descriptor: &Descriptor) -> bool {
        std::fs::metadata(self.blob_path(&descriptor.digest))
            .map(|m| m.is_file() && m.len() == descriptor.size)
            .unwrap_or(false)
    }

    /// Hashes the blob `descriptor` names in this layout, whatever its size, and checks its
    /// size and digest: a blob is used only once this passed.
    pub fn verify_blob(&self, descriptor: &Descriptor) -> Result<(), Error> {
        let path = self.blob_path(&descriptor.digest);
        let what = format!("layout blob {}", descriptor.digest);
        let mut file = std::fs::File::open(&path).map_err(Error::io("open", &path))?;
        let mut verifier = Verifier::new(what, &descriptor.digest, descriptor.size);
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buffer).map_err(Error::io("read", &path))?;
            if n == 0 {
                break;
            }
            verifier.update(&buffer[..n])?;
        }
        verifier.finish()
    }

    /// Reads a small blob (manifest, index, config) whole, checking size and digest.
    pub fn read_document(&self, descriptor: &Descriptor) -> Result<Vec<u8>, Error> {
        if descriptor.size > MAX_DOCUMENT_SIZE {
            return Err(Error::TooLarge {
                what: format!("document {}", descriptor.digest),
                size: descriptor.size,
                limit: MAX_DOCUMENT_SIZE,
            });
        }
        let path = self.blob_path(&descriptor.digest);
        let file = std::fs::File::open(&path).map_err(Error::io("open", &path))?;
        let mut bytes = Vec::new();
        LimitedReader::new(file, descriptor.size)
            .read_to_end(&mut bytes)
            .map_err(|_| Error::SizeMismatch {
                what: format!("layout blob {}", descriptor.digest),
                expected: descriptor.size,
                actual: descriptor.size + 1,
            })?;
        if bytes.len() as u64 != descriptor.size {
            return Err(Error::SizeMismatch {
                what: format!("layout blob {}", descriptor.digest),
                expected: descriptor.size,
                actual: bytes.len() as u64,
            });
        }
        descriptor
            .digest
            .verify(&format!("layout blob {}", descriptor.digest), &bytes)?;
        Ok(bytes)
    }

    /// Writes a small blob and returns its descriptor.
    pub fn write_document(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, Error> {
        let digest = Digest::of(bytes);
        let descriptor = Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size: bytes.len() as u64,
        };
        // A present blob of the right size may still hold other bytes: compare, not trust.
        let present = self.has_blob(&descriptor)
            && std::fs::read(self.blob_path(&descriptor.digest))
                .is_ok_and(|existing| existing == bytes);
        if !present {
            write_atomic(&self.blob_path(&descriptor.digest), bytes)?;
        }
        Ok(descriptor)
    }

    /// Streams a blob of any size into the layout, hashing it on the way, and returns its
    /// descriptor.
    pub fn write_blob(&self, media_type: &str, mut reader: impl Read) -> Result<Descriptor, Error> {
        let dir = self.blob_dir();
        let tmp = tempfile::Builder::new()
            .prefix(".blob-")
            .tempfile_in(&dir)
            .map_err(Error::io("create a temporary file in", &dir))?;
        let file = tmp
            .reopen()
            .map_err(Error::io("open", tmp.path().to_owned()))?;
        let mut writer = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
        std::io::copy(&mut reader, &mut writer)
            .map_err(Error::io("write", tmp.path().to_owned()))?;
        let (mut file, digest, size) = writer.finish();
        file.flush()
            .map_err(Error::io("write", tmp.path().to_owned()))?;
        drop(file);
        let path = self.blob_path(&digest);
        tmp.persist(&path)
            .map_err(|e| Error::io("rename into", &path)(e.error))?;
        Ok(Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
        })
    }

    /// The manifests listed in `index.json`, with their tags.
    pub fn manifests(&self) -> Result<Vec<(Descriptor, Option<String>)>, Error> {
        let index = self.read_index()?;
        let entries = index
            .get("manifests")
            .and_then(|m| m.as_array())
            .cloned()
            .unwrap_or_default();
        entries
            .iter()
            .map(|entry| {
                let field = |name: &str| entry.get(name).and_then(|v| v.as_str()).unwrap_or("");
                let size = entry.get("size").and_then(|v| v.as_i64()).unwrap_or(-1);
                let descriptor = Descriptor::from_parts(field("mediaType"), field("digest"), size)?;
                let tag = entry
                    .get("annotations")
                    .and_then(|a| a.get(REF_NAME))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                Ok((descriptor, tag))
            })
            .collect()
    }

    /// The manifest tagged `tag`, or the only manifest when `tag` is `None`.
    pub fn resolve(&self, tag: Option<&str>) -> Result<Descriptor, Error> {
        let manifests = self.manifests()?;
        let available: Vec<String> = manifests.iter().filter_map(|(_, t)| t.clone()).collect();
        match tag {
            Some(tag) => manifests
                .into_iter()
                .find(|(_, t)| t.as_deref() == Some(tag))
                .map(|(d, _)| d)
                .ok_or_else(|| Error::TagNotFound {
                    path: self.root.clone(),
                    tag: tag.to_owned(),
                    available,
                }),
            None if manifests.len() > 1 => Err(Error::AmbiguousImage {
                path: self.root.clone(),
                count: manifests.len(),
                available,
            }),
            None => {
                manifests
                    .into_iter()
                    .next()
                    .map(|(d, _)| d)
                    .ok_or_else(|| Error::InvalidLayout {
                        path: self.root.clone(),
                        reason: "index.json lists no image".to_owned(),
                    })
            }
        }
    }

    /// `descriptor` itself when it is an image manifest; for an index, the manifest of the
    /// matching platform (a variant is compared only when `platform` has one).
    pub fn select_platform(
        &self,
        descriptor: &Descriptor,
        platform: &Platform,
    ) -> Result<Descriptor, Error> {
        let bytes = self.read_document(descriptor)?;
        match parse_manifest(&descriptor.media_type, &bytes)? {
            Parsed::Image { .. } => Ok(descriptor.clone()),
            Parsed::Index { manifests } => {
                select_platform(manifests, platform, descriptor.digest.as_str())
            }
        }
    }

    /// Records `descriptor` in `index.json` under `tag`, replacing an entry with that tag.
    /// The read, change and write of `index.json` hold the layout's lock, so concurrent
    /// pulls and builds into one layout never lose each other's tags.
    pub fn set_tag(&self, tag: &str, descriptor: &Descriptor) -> Result<(), Error> {
        let _lock = self.lock_index()?;
        let mut index = self.read_index()?;
        let mut entries = index
            .get("manifests")
            .and_then(|m| m.as_array())
            .cloned()
            .unwrap_or_default();
        entries.retain(|e| {
            e.get("annotations")
                .and_then(|a| a.get(REF_NAME))
                .and_then(|v| v.as_str())
                != Some(tag)
        });
        entries.push(serde_json::json!({
            "mediaType": descriptor.media_type,
            "digest": descriptor.digest.as_str(),
            "size": descriptor.size,
            "annotations": { REF_NAME: tag },
        }));
        index["manifests"] = serde_json::Value::Array(entries);
        let path = self.root.join("index.json");
        write_atomic(&path, index.to_string().as_bytes())
    }

    fn read_index(&self) -> Result<serde_json::Value, Error> {
        let path = self.root.join("index.json");
        let file = std::fs::File::open(&path).map_err(Error::io("open", &path))?;
        let mut text = Vec::new();
        LimitedReader::new(file, MAX_DOCUMENT_SIZE)
            .read_to_end(&mut text)
            .map_err(Error::io("read", &path))?;
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| Error::InvalidLayout {
                path: self.root.clone(),
                reason: format!("index.json is not JSON: {e}"),
            })?;
        if !value.get("manifests").is_some_and(|m| m.is_array()) {
            return Err(Error::InvalidLayout {
                path: self.root.clone(),
                reason: "index.json has no manifests array".to_owned(),
            });
        }
        Ok(value)
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(Error::io("create a temporary file in", dir))?;
    tmp.write_all(bytes)
        .map_err(Error::io("write", tmp.path().to_owned()))?;
    tmp.persist(path)
        .map_err(|e| Error::io("rename into", path)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn create_write_tag_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path().join("l")).unwrap();
        let d = layout.write_document("application/x", b"{}").unwrap();
        assert_eq!(layout.read_document(&d).unwrap(), b"{}");
        layout.set_tag("v1", &d).unwrap();
        layout.set_tag("v1", &d).unwrap();
        assert_eq!(layout.resolve(Some("v1")).unwrap(), d);
        assert_eq!(layout.resolve(None).unwrap(), d);
        assert!(matches!(
            layout.resolve(Some("v2")),
            Err(Error::TagNotFound { .. })
        ));
        std::fs::write(layout.blob_path(&d.digest), b"[]").unwrap();
        assert!(matches!(
            layout.read_document(&d),
            Err(Error::DigestMismatch { .. })
        ));
        assert!(Layout::open(dir.path()).is_err());
    }
}
