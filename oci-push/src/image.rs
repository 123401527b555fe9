//! Image assembly: a base (scratch or an image in a layout), layers, the runtime config,
//! and an OCI manifest, written into a layout with the same bytes for the same input.

use std::collections::{BTreeMap, BTreeSet};

use crate::Error;
use crate::layer::{Compression, LayerBuilder};
use crate::layout::Layout;
use crate::spec::{self, Descriptor, Parsed, Platform, parse_manifest};

/// `SOURCE_DATE_EPOCH` when set and valid, else 0 (1970-01-01).
pub fn source_date_epoch() -> Result<i64, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value.trim().parse().map_err(|_| Error::InvalidOption {
            option: "SOURCE_DATE_EPOCH".to_owned(),
            reason: format!("{value:?} is not a number of seconds"),
        }),
        Err(_) => Ok(0),
    }
}

/// The runtime settings of an image config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `KEY=VALUE` entries, in order.
    pub env: Vec<String>,
    /// The entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// The default command.
    pub cmd: Option<Vec<String>>,
    /// The working directory.
    pub working_dir: Option<String>,
    /// The user.
    pub user: Option<String>,
    /// `PORT/PROTO` entries.
    pub exposed_ports: BTreeSet<String>,
    /// Volume mount points.
    pub volumes: BTreeSet<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl ImageConfig {
    /// Sets `key` in `env`, replacing an earlier value.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let prefix = format!("{key}=");
        self.env.retain(|e| !e.starts_with(&prefix));
        self.env.push(format!("{key}={value}"));
    }

    fn from_json(value: &serde_json::Value) -> ImageConfig {
        let strings = |v: Option<&serde_json::Value>| -> Option<Vec<String>> {
            v?.as_array().map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
        };
        let keys = |v: Option<&serde_json::Value>| -> BTreeSet<String> {
            v.and_then(|v| v.as_object())
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let text = |v: Option<&serde_json::Value>| -> Option<String> {
            v?.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
        };
        ImageConfig {
            env: strings(value.get("Env")).unwrap_or_default(),
            entrypoint: strings(value.get("Entrypoint")),
            cmd: strings(value.get("Cmd")),
            working_dir: text(value.get("WorkingDir")),
            user: text(value.get("User")),
            exposed_ports: keys(value.get("ExposedPorts")),
            volumes: keys(value.get("Volumes")),
            labels: value
                .get("Labels")
                .and_then(|l| l.as_object())
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        let set = |s: &BTreeSet<String>| {
            serde_json::Value::Object(
                s.iter()
                    .map(|k| (k.clone(), serde_json::json!({})))
                    .collect(),
            )
        };
        if let Some(user) = &self.user {
            out.insert("User".into(), user.clone().into());
        }
        if !self.exposed_ports.is_empty() {
            out.insert("ExposedPorts".into(), set(&self.exposed_ports));
        }
        if !self.env.is_empty() {
            out.insert("Env".into(), self.env.clone().into());
        }
        if let Some(entrypoint) = &self.entrypoint {
            out.insert("Entrypoint".into(), entrypoint.clone().into());
        }
        if let Some(cmd) = &self.cmd {
            out.insert("Cmd".into(), cmd.clone().into());
        }
        if !self.volumes.is_empty() {
            out.insert("Volumes".into(), set(&self.volumes));
        }
        if let Some(dir) = &self.working_dir {
            out.insert("WorkingDir".into(), dir.clone().into());
        }
        if !self.labels.is_empty() {
            out.insert(
                "Labels".into(),
                serde_json::to_value(&self.labels).unwrap_or_default(),
            );
        }
        serde_json::Value::Object(out)
    }
}

/// Assembles an image: a base (scratch or an image in a layout), new layers, a config.
#[derive(Clone, Debug)]
pub struct ImageBuilder {
    platform: Platform,
    base_config: serde_json::Value,
    layers: Vec<Descriptor>,
    diff_ids: Vec<String>,
    history: Vec<serde_json::Value>,
    /// The runtime settings, initialised from the base image.
    pub config: ImageConfig,
    /// Seconds since the epoch for `created` and every file's mtime.
    pub created: i64,
    /// Compression of new layers.
    pub compression: Compression,
}

impl ImageBuilder {
    /// An image from scratch for `platform`.
    pub fn scratch(platform: Platform, created: i64) -> ImageBuilder {
        ImageBuilder {
            platform,
            base_config: serde_json::json!({}),
            layers: Vec::new(),
            diff_ids: Vec::new(),
            history: Vec::new(),
            config: ImageConfig::default(),
            created,
            compression: Compression::Gzip,
        }
    }

    /// An image extending `base` (an image manifest, or an index from which the manifest
    /// for `platform` is chosen) whose blobs are in `layout`.
    pub fn from_base(
        layout: &Layout,
        base: &Descriptor,
        platform: Platform,
        created: i64,
    ) -> Result<ImageBuilder, Error> {
        let base = layout.select_platform(base, &platform)?;
        let bytes = layout.read_document(&base)?;
        let (config, layers) = match parse_manifest(&base.media_type, &bytes)? {
            Parsed::Image { config, layers } => (config, layers),
            Parsed::Index { .. } => {
                return Err(Error::UnsupportedMediaType {
                    what: format!("base image {}", base.digest),
                    media_type: base.media_type.clone(),
                });
            }
        };
        let config_bytes = layout.read_document(&config)?;
        let base_config: serde_json::Value =
            serde_json::from_slice(&config_bytes).map_err(|e| Error::InvalidDocument {
                what: format!("base image config {}", config.digest),
                reason: e.to_string(),
            })?;
        let diff_ids: Vec<String> = base_config
            .pointer("/rootfs/diff_ids")
            .and_then(|d| d.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if diff_ids.len() != layers.len() {
            return Err(Error::InvalidDocument {
                what: format!("base image config {}", config.digest),
                reason: format!("{} diff_ids for {} layers", diff_ids.len(), layers.len()),
            });
        }
        let history = base_config
            .get("history")
            .and_then(|h| h.as_array())
            .cloned()
            .unwrap_or_default();
        let runtime = ImageConfig::from_json(
            base_config
                .get("config")
                .unwrap_or(&serde_json::Value::Null),
        );
        Ok(ImageBuilder {
            platform,
            base_config,
            layers,
            diff_ids,
            history,
            config: runtime,
            created,
            compression: Compression::Gzip,
        })
    }

    /// Writes `layer` into `layout` and appends it, with a history entry `created_by`.
    pub fn add_layer(
        &mut self,
        layout: &Layout,
        layer: &LayerBuilder,
        created_by: &str,
    ) -> Result<Descriptor, Error> {
        let (descriptor, diff_id) = layer.write(layout, self.compression, self.created)?;
        self.layers.push(descriptor.clone());
        self.diff_ids.push(diff_id.to_string());
        self.history
            .push(serde_json::json!({"created": self.timestamp(), "created_by": created_by}));
        Ok(descriptor)
    }

    /// Records a config-only step in the history.
    pub fn add_history(&mut self, created_by: &str) {
        self.history.push(serde_json::json!({
            "created": self.timestamp(), "created_by": created_by, "empty_layer": true
        }));
    }

    fn timestamp(&self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.created)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
    }

    /// Writes config and manifest into `layout`, tags the manifest `tag`, and returns its
    /// descriptor.
    pub fn finish(self, layout: &Layout, tag: &str) -> Result<Descriptor, Error> {
        let mut config = match self.base_config.clone() {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        config.insert("created".into(), self.timestamp().into());
        config.insert(
            "architecture".into(),
            self.platform.architecture.clone().into(),
        );
        config.insert("os".into(), self.platform.os.clone().into());
        match &self.platform.variant {
            Some(variant) => {
                config.insert("variant".into(), variant.clone().into());
            }
            None => {
                config.remove("variant");
            }
        }
        config.insert("config".into(), self.config.to_json());
        config.insert(
            "rootfs".into(),
            serde_json::json!({"type": "layers", "diff_ids": self.diff_ids}),
        );
        config.insert("history".into(), self.history.clone().into());
        for stale in [
            "container",
            "container_config",
            "docker_version",
            "id",
            "parent",
        ] {
            config.remove(stale);
        }
        let config_bytes = serde_json::to_vec(&serde_json::Value::Object(config)).map_err(|e| {
            Error::InvalidDocument {
                what: "image config".to_owned(),
                reason: e.to_string(),
            }
        })?;
        let config = layout.write_document(spec::OCI_CONFIG, &config_bytes)?;
        let descriptor = |d: &Descriptor| oci_client::manifest::OciDescriptor {
            media_type: d.media_type.clone(),
            digest: d.digest.to_string(),
            size: d.size as i64,
            urls: None,
            annotations: None,
            artifact_type: None,
        };
        let manifest = oci_client::manifest::OciImageManifest {
            schema_version: 2,
            media_type: Some(spec::OCI_MANIFEST.to_owned()),
            config: descriptor(&config),
            layers: self.layers.iter().map(descriptor).collect(),
            subject: None,
            artifact_type: None,
            annotations: None,
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::InvalidDocument {
            what: "image manifest".to_owned(),
            reason: e.to_string(),
        })?;
        let manifest = layout.write_document(spec::OCI_MANIFEST, &bytes)?;
        layout.set_tag(tag, &manifest)?;
        Ok(manifest)
    }
}
