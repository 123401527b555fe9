//! The manifest-to-blobs walk shared by push and pull, without I/O: the caller loads each
//! manifest an index lists (from a layout or a registry) and hands its bytes back.

use std::collections::BTreeSet;

use crate::spec::{Descriptor, Parsed, is_index, parse_manifest};
use crate::{Digest, Error};

/// The documents of one image or index and the blobs they reference.
#[derive(Debug)]
pub(crate) struct ImageTree {
    /// The manifest the walk started at.
    pub(crate) root: Descriptor,
    /// Its bytes.
    pub(crate) root_bytes: Vec<u8>,
    /// The manifests an index lists, in its order (none for an image).
    pub(crate) children: Vec<(Descriptor, Vec<u8>)>,
    /// Every config and layer, each once, in the order the manifests name them.
    pub(crate) blobs: Vec<Descriptor>,
    seen: BTreeSet<Digest>,
}

impl ImageTree {
    /// Starts the walk at `root`. Returns the tree and the manifests it lists, which the
    /// caller loads and passes to [`add_child`](ImageTree::add_child) (none for an image).
    /// A nested index is refused: neither registries nor runtimes agree on its meaning.
    pub(crate) fn new(
        root: Descriptor,
        bytes: Vec<u8>,
    ) -> Result<(ImageTree, Vec<Descriptor>), Error> {
        let parsed = parse_manifest(&root.media_type, &bytes)?;
        let mut tree = ImageTree {
            root,
            root_bytes: bytes,
            children: Vec::new(),
            blobs: Vec::new(),
            seen: BTreeSet::new(),
        };
        let children = match parsed {
            Parsed::Image { config, layers } => {
                tree.add_blobs(config, layers);
                Vec::new()
            }
            Parsed::Index { manifests } => manifests
                .into_iter()
                .map(|(child, _)| {
                    if is_index(&child.media_type) {
                        return Err(Error::UnsupportedMediaType {
                            what: format!("nested index {} in {}", child.digest, tree.root.digest),
                            media_type: child.media_type,
                        });
                    }
                    Ok(child)
                })
                .collect::<Result<_, _>>()?,
        };
        Ok((tree, children))
    }

    /// Adds one manifest the root index lists, with the blobs it references.
    pub(crate) fn add_child(&mut self, child: Descriptor, bytes: Vec<u8>) -> Result<(), Error> {
        if let Parsed::Image { config, layers } = parse_manifest(&child.media_type, &bytes)? {
            self.add_blobs(config, layers);
        }
        self.children.push((child, bytes));
        Ok(())
    }

    fn add_blobs(&mut self, config: Descriptor, layers: Vec<Descriptor>) {
        for blob in std::iter::once(config).chain(layers) {
            if self.seen.insert(blob.digest.clone()) {
                self.blobs.push(blob);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::spec::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};

    fn blob(content: &[u8], media_type: &str) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: Digest::of(content),
            size: content.len() as u64,
        }
    }

    fn json(d: &Descriptor) -> serde_json::Value {
        serde_json::json!({"mediaType": d.media_type, "digest": d.digest.as_str(), "size": d.size})
    }

    fn image(config: &Descriptor, layers: &[&Descriptor]) -> (Descriptor, Vec<u8>) {
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": json(config),
            "layers": layers.iter().map(|l| json(l)).collect::<Vec<_>>(),
        }))
        .unwrap();
        (blob(&bytes, OCI_MANIFEST), bytes)
    }

    fn index(children: &[&Descriptor]) -> (Descriptor, Vec<u8>) {
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": children.iter().map(|c| json(c)).collect::<Vec<_>>(),
        }))
        .unwrap();
        (blob(&bytes, OCI_INDEX), bytes)
    }

    #[test]
    fn an_image_needs_its_config_and_layers_once_and_no_child() {
        let config = blob(b"{}", OCI_CONFIG);
        let layer = blob(b"layer", OCI_LAYER_GZIP);
        let (root, bytes) = image(&config, &[&layer, &layer]);
        let (tree, children) = ImageTree::new(root.clone(), bytes.clone()).unwrap();
        assert!(children.is_empty());
        assert_eq!(tree.blobs, [config, layer]);
        assert_eq!((tree.root, tree.root_bytes), (root, bytes));
        assert!(tree.children.is_empty());
    }

    #[test]
    fn an_index_lists_its_children_and_shares_their_blobs() {
        let shared = blob(b"shared", OCI_LAYER_GZIP);
        let (amd, amd_bytes) = image(&blob(b"{\"a\":1}", OCI_CONFIG), &[&shared]);
        let (arm, arm_bytes) = image(&blob(b"{\"b\":1}", OCI_CONFIG), &[&shared]);
        let (root, bytes) = index(&[&amd, &arm]);
        let (mut tree, children) = ImageTree::new(root.clone(), bytes).unwrap();
        assert_eq!(children, [amd.clone(), arm.clone()]);
        tree.add_child(amd.clone(), amd_bytes).unwrap();
        tree.add_child(arm.clone(), arm_bytes).unwrap();
        assert_eq!(tree.root, root);
        let names: Vec<_> = tree.children.iter().map(|(d, _)| d.clone()).collect();
        assert_eq!(names, [amd, arm]);
        assert_eq!(tree.blobs.len(), 3, "{:?}", tree.blobs);
        assert_eq!(tree.blobs[1], shared);
    }

    #[test]
    fn a_nested_index_is_refused_with_its_digest() {
        let (inner, _) = index(&[]);
        let (root, bytes) = index(&[&inner]);
        match ImageTree::new(root, bytes).unwrap_err() {
            Error::UnsupportedMediaType { what, media_type } => {
                assert_eq!(media_type, OCI_INDEX);
                assert!(what.contains(inner.digest.as_str()), "{what}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_child_that_is_no_manifest_is_refused() {
        let (child, _) = image(&blob(b"{}", OCI_CONFIG), &[]);
        let (root, bytes) = index(&[&child]);
        let (mut tree, _) = ImageTree::new(root, bytes).unwrap();
        assert!(matches!(
            tree.add_child(child, b"not json".to_vec()).unwrap_err(),
            Error::InvalidDocument { .. }
        ));
    }
}
