//! OCI documents as a registry or a foreign layout serves them: image manifests (OCI and
//! Docker schema 2), indexes and manifest lists, image configs and `index.json`, read through
//! the public layout API (`select_platform`, `unpack_image`, `ImageBuilder::from_base`,
//! `manifests`, `resolve`). The input is `MANIFEST \0 CONFIG \0 INDEX_JSON` (parts may be
//! missing). The manifest is tried as sent, and with its config descriptor pointed at the
//! config part so that config parsing is reached; a base that is accepted builds on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_push::media_type::{OCI_CONFIG, OCI_MANIFEST};
use oci_push::{Descriptor, ImageBuilder, Layout, Platform, UnpackOptions, unpack_image};

fn platform() -> Platform {
    Platform {
        os: "linux".to_owned(),
        architecture: "amd64".to_owned(),
        variant: None,
    }
}

fn exercise(layout: &Layout, descriptor: &Descriptor, root: &std::path::Path) {
    let _ = layout.select_platform(descriptor, &platform());
    let _ = unpack_image(layout, descriptor, root, &UnpackOptions::default());
    if let Ok(builder) = ImageBuilder::from_base(layout, descriptor, platform(), 0) {
        let built = builder
            .finish(layout, "fuzz")
            .expect("an accepted base builds on");
        let resolved = layout
            .resolve(Some("fuzz"))
            .expect("the built image is tagged");
        assert_eq!(resolved, built);
        ImageBuilder::from_base(layout, &built, platform(), 0)
            .expect("an image we built is a valid base");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let manifest = parts.next().unwrap_or_default();
    let config = parts.next().unwrap_or_default();
    let index = parts.next();
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let root = dir.path().join("rootfs");
    let layout = Layout::create(dir.path().join("layout")).expect("creates a layout");
    let config_descriptor = layout
        .write_document(OCI_CONFIG, config)
        .expect("writes the config");

    let own_type = serde_json::from_slice::<serde_json::Value>(manifest)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        });
    for media_type in [Some(String::new()), own_type.clone()]
        .into_iter()
        .flatten()
    {
        let descriptor = layout
            .write_document(&media_type, manifest)
            .expect("writes the manifest");
        exercise(&layout, &descriptor, &root);
    }

    if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(manifest)
        && let Some(descriptor) = value.get_mut("config").filter(|c| c.is_object())
    {
        descriptor["digest"] = config_descriptor.digest.as_str().into();
        descriptor["size"] = config_descriptor.size.into();
        let bytes = serde_json::to_vec(&value).expect("JSON serialises");
        let media_type = own_type.unwrap_or_else(|| OCI_MANIFEST.to_owned());
        let descriptor = layout
            .write_document(&media_type, &bytes)
            .expect("writes the manifest");
        exercise(&layout, &descriptor, &root);
    }

    if let Some(index) = index {
        std::fs::write(layout.path().join("index.json"), index).expect("writes index.json");
        let _ = layout.manifests();
        let _ = layout.resolve(None);
        let _ = layout.resolve(Some("latest"));
        if let Ok(reopened) = Layout::open(layout.path()) {
            let _ = reopened.manifests();
        }
    }
});
