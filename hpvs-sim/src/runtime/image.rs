//! The part of an OCI image config that decides how its workload runs.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::{Result, RuntimeError};

/// The image config's `config` object: what to run, with which environment, where and as
/// whom. Other fields (`Labels`, `Volumes`, `StopSignal`...) are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    /// The program and its leading arguments.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// Arguments after the entrypoint (or the program, without one).
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// `KEY=value` pairs.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// The working directory; `/` when unset.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// `user[:group]` by name or number; root when unset.
    #[serde(default)]
    pub user: Option<String>,
    /// `"8080/tcp": {}` entries.
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
}

/// A port the image declares, from `ExposedPorts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExposedPort {
    /// The port number.
    pub port: u16,
    /// The transport.
    pub protocol: Protocol,
}

/// A transport protocol of an exposed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP (the default when no protocol is written).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl ImageConfig {
    /// Reads the `config` object out of a whole image config document (the blob a
    /// manifest's `config` descriptor points to). A document without one runs nothing.
    pub fn from_document(json: &[u8]) -> Result<Self> {
        #[derive(Deserialize)]
        struct Document {
            #[serde(default)]
            config: Option<ImageConfig>,
        }
        let document: Document =
            serde_json::from_slice(json).map_err(|error| RuntimeError::InvalidImageConfig {
                detail: error.to_string(),
            })?;
        Ok(document.config.unwrap_or_default())
    }

    /// The process's arguments: entrypoint then cmd.
    pub fn args(&self) -> Result<Vec<String>> {
        let args: Vec<String> = self
            .entrypoint
            .iter()
            .chain(self.cmd.iter())
            .flatten()
            .cloned()
            .collect();
        if args.is_empty() {
            return Err(RuntimeError::NoCommand);
        }
        Ok(args)
    }

    /// The working directory, `/` when unset; a relative one is refused.
    pub fn cwd(&self) -> Result<String> {
        match self.working_dir.as_deref() {
            None | Some("") => Ok("/".to_owned()),
            Some(dir) if dir.starts_with('/') => Ok(dir.to_owned()),
            Some(dir) => Err(RuntimeError::RelativeWorkingDir {
                dir: dir.to_owned(),
            }),
        }
    }

    /// The declared ports, sorted.
    pub fn exposed_ports(&self) -> Result<Vec<ExposedPort>> {
        let mut ports = Vec::new();
        for key in self.exposed_ports.iter().flat_map(BTreeMap::keys) {
            let invalid = || RuntimeError::InvalidImageConfig {
                detail: format!("exposed port {key:?}: expected PORT[/tcp|udp|sctp]"),
            };
            let (number, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
            let protocol = match protocol {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                "sctp" => Protocol::Sctp,
                _ => return Err(invalid()),
            };
            let port = number.parse().map_err(|_| invalid())?;
            ports.push(ExposedPort { port, protocol });
        }
        ports.sort();
        Ok(ports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_config_document_parses_with_nulls_and_unknown_fields() {
        let json = br#"{"architecture":"amd64","config":{"Entrypoint":null,
            "Cmd":["httpd","-f"],"Env":["PATH=/bin"],"WorkingDir":"","User":"app",
            "ExposedPorts":{"8080/tcp":{},"53/udp":{}},"Labels":{"a":"b"}},"rootfs":{}}"#;
        let config = ImageConfig::from_document(json).unwrap();
        assert_eq!(config.args().unwrap(), ["httpd", "-f"]);
        assert_eq!(config.cwd().unwrap(), "/");
        assert_eq!(config.user.as_deref(), Some("app"));
        assert_eq!(
            config.exposed_ports().unwrap(),
            [
                ExposedPort {
                    port: 53,
                    protocol: Protocol::Udp
                },
                ExposedPort {
                    port: 8080,
                    protocol: Protocol::Tcp
                },
            ]
        );
    }

    #[test]
    fn args_are_entrypoint_then_cmd() {
        let config = ImageConfig {
            entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
            cmd: Some(vec!["echo hi".into()]),
            ..ImageConfig::default()
        };
        assert_eq!(config.args().unwrap(), ["/bin/sh", "-c", "echo hi"]);
    }

    #[test]
    fn nothing_to_run_and_relative_dirs_are_refused() {
        assert!(matches!(
            ImageConfig::default().args(),
            Err(RuntimeError::NoCommand)
        ));
        let config = ImageConfig {
            working_dir: Some("app".into()),
            ..ImageConfig::default()
        };
        assert!(matches!(
            config.cwd(),
            Err(RuntimeError::RelativeWorkingDir { dir }) if dir == "app"
        ));
    }

    #[test]
    fn bad_documents_and_ports_are_invalid_image_configs() {
        assert!(matches!(
            ImageConfig::from_document(b"[1]"),
            Err(RuntimeError::InvalidImageConfig { .. })
        ));
        let json = br#"{"config":{"ExposedPorts":{"http/tcp":{}}}}"#;
        let config = ImageConfig::from_document(json).unwrap();
        assert!(matches!(
            config.exposed_ports(),
            Err(RuntimeError::InvalidImageConfig { detail }) if detail.contains("http/tcp")
        ));
    }
}
