//! Builds that need a container runtime (a Dockerfile with `RUN`) go to buildah (Debian
//! `buildah`: chroot isolation, vfs storage, both work on these machines), with storage,
//! registries configuration and credentials of the build's own; the result is copied out as
//! an OCI layout. Before any builder runs, the Dockerfile's `FROM` images that name no
//! registry are rewritten to the base server ([`qualify_base_images`]: nothing is pulled from
//! Docker Hub unless the Dockerfile names it), and base images on the base server are
//! resolved with Docker Content Trust and rewritten to the verified digest, never built from
//! the tag ([`pin_base_images`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::transport::ServerConfig;

use super::pipeline::{BaseTrust, BuildRequest};

/// Whether the Dockerfile has a step that runs a command in the image being built.
pub fn needs_container_runtime(dockerfile: &str) -> bool {
    logical_lines(dockerfile).any(|line| keyword(&line).eq_ignore_ascii_case("RUN"))
}

/// The Dockerfile with every `FROM` image that names no registry host resolved against
/// `base_server` (`DOCKER_BASE_SERVER`, `host[:port]` or `scheme://host[:port]`):
/// `FROM hpvs-lab/debian-python:bookworm` becomes `FROM <base host>/hpvs-lab/debian-python:bookworm`.
///
/// An image names a registry when its first path component has a `.` or a `:` or is
/// `localhost` (Docker's rule); any other name, `debian:bookworm` too, would mean Docker Hub
/// and is put on the base server as it is (no `library/` is added). Left alone: `scratch`,
/// earlier build stages (`FROM build AS ...`), and names built from build arguments (`$`),
/// which buildah's own registries configuration refuses to complete. An image that names no
/// registry while `base_server` is empty is refused, naming it.
pub fn qualify_base_images(dockerfile: &str, base_server: &str) -> Result<String, String> {
    let base_host = host_of(base_server);
    let mut stages: Vec<String> = Vec::new();
    let mut out = String::new();
    for line in dockerfile.lines() {
        let Some(from) = FromLine::parse(line) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let image = from.image();
        let keep = image.eq_ignore_ascii_case("scratch")
            || image.contains('$')
            || names_registry(image)
            || stages.iter().any(|s| s.eq_ignore_ascii_case(image));
        if let Some(alias) = from.alias() {
            stages.push(alias.to_owned());
        }
        if keep {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if base_host.is_empty() {
            return Err(format!(
                "FROM {image} names no registry and DOCKER_BASE_SERVER is not set: set \
                 docker.base_server, or name the registry in the Dockerfile"
            ));
        }
        out.push_str(&from.with_image(&format!("{base_host}/{image}")));
        out.push('\n');
    }
    Ok(out)
}

/// Whether `image`'s first path component is a registry host (`.`, `:` or `localhost`).
fn names_registry(image: &str) -> bool {
    image.split_once('/').is_some_and(|(first, _)| {
        first.contains('.') || first.contains(':') || first == "localhost"
    })
}

/// A `FROM [--flag=...] IMAGE [AS NAME]` line, split into words.
struct FromLine<'a> {
    indent: &'a str,
    words: Vec<&'a str>,
    image_at: usize,
}

impl<'a> FromLine<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        let words: Vec<&str> = line.split_whitespace().collect();
        if !words.first()?.eq_ignore_ascii_case("FROM") {
            return None;
        }
        let image_at = words
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, w)| !w.starts_with("--"))?
            .0;
        let indent = &line[..line.len() - line.trim_start().len()];
        Some(Self {
            indent,
            words,
            image_at,
        })
    }

    fn image(&self) -> &'a str {
        self.words[self.image_at]
    }

    fn alias(&self) -> Option<&'a str> {
        let rest = &self.words[self.image_at + 1..];
        match rest {
            [as_word, name, ..] if as_word.eq_ignore_ascii_case("AS") => Some(name),
            _ => None,
        }
    }

    fn with_image(&self, image: &str) -> String {
        let mut words = self.words.clone();
        words[self.image_at] = image;
        format!("{}{}", self.indent, words.join(" "))
    }
}

/// The Dockerfile with every `FROM` of an image on `request.base_server` pinned to the
/// digest its tag is signed to (DCT, on `request.content_trust_base_server`), when
/// `request.base_trust` is [`BaseTrust::ContentTrust`]. An unsigned base or one that does not verify fails.
pub async fn pin_base_images(
    request: &BuildRequest,
    dockerfile: &str,
    trust_dir: &Path,
    ca_pem: Option<&[u8]>,
) -> Result<String, String> {
    if request.base_trust != BaseTrust::ContentTrust {
        return Ok(dockerfile.to_owned());
    }
    let base_host = host_of(&request.base_server);
    let mut out = String::new();
    for line in dockerfile.lines() {
        let from = FromLine::parse(line).filter(|f| {
            f.image().starts_with(&format!("{base_host}/")) && !f.image().contains('@')
        });
        let Some(from) = from else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let (repository, tag) = split_tag(from.image());
        let digest = resolve(request, repository, tag, trust_dir, ca_pem).await?;
        out.push_str(&from.with_image(&format!("{repository}@{digest}")));
        out.push('\n');
    }
    Ok(out)
}

async fn resolve(
    request: &BuildRequest,
    repository: &str,
    tag: &str,
    trust_dir: &Path,
    ca_pem: Option<&[u8]>,
) -> Result<String, String> {
    let mut config = ServerConfig::from_url(&request.content_trust_base_server)
        .map_err(|e| format!("DOCKER_CONTENT_TRUST_BASE_SERVER: {e}"))?;
    config.ca_pem = ca_pem.map(<[u8]>::to_vec);
    config.credentials = super::pipeline::base_credentials(request).notary();
    let client = notary_client::repository::Client::new(
        trust_dir,
        &config,
        Fixed(Passphrase::new("unused: base lookups sign nothing")),
    )
    .map_err(|e| e.to_string())?;
    let repo = client.repository(repository).map_err(|e| e.to_string())?;
    let state = repo
        .update()
        .await
        .map_err(|e| format!("base image {repository}:{tag} does not verify with DCT: {e}"))?;
    let target = notary_client::repository::lookup_target(&state, repository, tag)
        .map_err(|e| format!("base image {repository}:{tag} is not signed: {e}"))?;
    let digest = oci_push::Digest::try_from(&target).map_err(|e| e.to_string())?;
    Ok(digest.to_string())
}

/// Builds `dockerfile` in `context` with buildah into the OCI layout `layout_dir`, tagged
/// `tag`, trusting `ca_pem` (the appliance's outbound CA) for registries over HTTPS. Storage, the signature policy, the registries configuration (no unqualified
/// search registry, short names refused) and the credentials file (the base server's
/// `DOCKER_BASE_USER`/`DOCKER_BASE_PASSWORD`, 0600, removed after the build) are the build's
/// own (under `work`), so nothing of the host's container setup is used or changed.
pub fn build(
    request: &BuildRequest,
    context: &Path,
    dockerfile: &str,
    work: &Path,
    layout_dir: &Path,
    tag: &str,
    ca_pem: Option<&[u8]>,
) -> Result<(), String> {
    let buildah = ["/usr/bin/buildah", "buildah"]
        .iter()
        .find(|p| Path::new(p).is_file() || which(p))
        .ok_or("buildah is missing: run scripts/install-peers.sh (Debian package buildah)")?;
    std::fs::create_dir_all(work).map_err(|e| format!("create {}: {e}", work.display()))?;
    let files = BuildFiles::write(work, request, dockerfile, ca_pem);
    let built = files
        .and_then(|files| build_with(buildah, request, context, work, &files, layout_dir, tag));
    // The credentials never outlive the build, whatever happened.
    let _ = std::fs::remove_file(work.join(AUTH_FILE));
    built
}

/// The credentials file of a build, under its work directory.
const AUTH_FILE: &str = "auth.json";

/// The files of one buildah run, all under the build's work directory.
struct BuildFiles {
    /// The Dockerfile, its bases qualified and pinned.
    dockerfile: PathBuf,
    /// The signature policy (accept anything: DCT checked the bases already).
    policy: PathBuf,
    /// [`REGISTRIES_CONF`].
    registries: PathBuf,
    /// [`auth_file`] (0600).
    auth: PathBuf,
    /// A directory with the appliance's CA as `ca.crt`, for registries over HTTPS.
    certs: Option<PathBuf>,
}

impl BuildFiles {
    fn write(
        work: &Path,
        request: &BuildRequest,
        dockerfile: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, String> {
        let write = |name: &str, bytes: &[u8]| {
            let path = work.join(name);
            std::fs::write(&path, bytes)
                .map(|()| path.clone())
                .map_err(|e| format!("write {}: {e}", path.display()))
        };
        let dockerfile = write("Dockerfile.pinned", dockerfile.as_bytes())?;
        // Signatures are DCT's business here (checked above); buildah only fetches by digest.
        let policy = write(
            "policy.json",
            br#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )?;
        let registries = write("registries.conf", REGISTRIES_CONF.as_bytes())?;
        let auth = work.join(AUTH_FILE);
        let credentials = super::pipeline::base_credentials(request);
        crate::state_files::write_secret(
            &auth,
            auth_file(host_of(&request.base_server), &credentials).as_bytes(),
        )
        .map_err(|e| e.to_string())?;
        let certs = match ca_pem {
            Some(pem) => {
                let dir = work.join("certs");
                std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(dir.join("ca.crt"), pem))
                    .map_err(|e| format!("write {}: {e}", dir.display()))?;
                Some(dir)
            }
            None => None,
        };
        Ok(Self {
            dockerfile,
            policy,
            registries,
            auth,
            certs,
        })
    }
}

/// buildah's registries configuration for builds: no registry is searched for a short
/// name (every base is qualified by [`qualify_base_images`] first).
const REGISTRIES_CONF: &str =
    "unqualified-search-registries = []\nshort-name-mode = \"enforcing\"\n";

/// The containers-auth.json text giving `host` the base credentials (`{"auths": {}}` when
/// anonymous).
fn auth_file(host: &str, credentials: &super::pipeline::BaseCredentials) -> String {
    let auths = match credentials.user_password() {
        Some((user, password)) if !host.is_empty() => {
            use base64::Engine as _;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            serde_json::json!({ host: { "auth": token } })
        }
        _ => serde_json::json!({}),
    };
    serde_json::json!({ "auths": auths }).to_string()
}

fn build_with(
    buildah: &str,
    request: &BuildRequest,
    context: &Path,
    work: &Path,
    files: &BuildFiles,
    layout_dir: &Path,
    tag: &str,
) -> Result<(), String> {
    let storage = |command: &mut Command| {
        command
            .arg("--root")
            .arg(work.join("storage"))
            .arg("--runroot")
            .arg(work.join("run"))
            .args(["--storage-driver", "vfs"]);
    };
    let name = format!("localhost/sbs-build:{tag}");
    let insecure = request.base_server.starts_with("http://");
    let mut bud = Command::new(buildah);
    storage(&mut bud);
    bud.args(["bud", "--isolation", "chroot", "--layers=false"])
        .arg("--signature-policy")
        .arg(&files.policy)
        .arg("--authfile")
        .arg(&files.auth)
        .arg(format!("--tls-verify={}", !insecure));
    if let Some(certs) = &files.certs {
        bud.arg("--cert-dir").arg(certs);
    }
    bud.arg("-f")
        .arg(&files.dockerfile)
        .args(["-t", &name])
        .arg(context)
        .env("BUILDAH_ISOLATION", "chroot")
        .env("CONTAINERS_REGISTRIES_CONF", &files.registries)
        .env("REGISTRY_AUTH_FILE", &files.auth);
    run(&mut bud)?;
    let mut push = Command::new(buildah);
    storage(&mut push);
    push.arg("push")
        .arg("--signature-policy")
        .arg(&files.policy)
        .arg(&name)
        .arg(format!("oci:{}:{tag}", layout_dir.display()));
    run(&mut push)?;
    let _ = std::fs::remove_dir_all(work.join("storage"));
    Ok(())
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
    Err(format!(
        "{:?} exited with {}: {}",
        command.get_program(),
        output.status,
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    ))
}

fn which(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

/// Dockerfile lines with `\` continuations joined and comments dropped.
fn logical_lines(dockerfile: &str) -> impl Iterator<Item = String> + '_ {
    let mut pending = String::new();
    dockerfile.lines().filter_map(move |line| {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            return None;
        }
        if let Some(start) = trimmed.strip_suffix('\\') {
            pending.push_str(start);
            pending.push(' ');
            return None;
        }
        pending.push_str(trimmed);
        Some(std::mem::take(&mut pending))
    })
}

fn keyword(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or_default()
}

/// `host[:port]` of a server given as `host[:port]` or `scheme://host[:port]`.
fn host_of(server: &str) -> &str {
    server
        .split_once("://")
        .map_or(server, |(_, rest)| rest)
        .trim_end_matches('/')
}

/// `repository` and `tag` of `image` (`latest` when none; a port's colon is not a tag).
fn split_tag(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_steps_are_found_across_continuations_and_not_in_comments() {
        assert!(needs_container_runtime("FROM x\nrun apt-get update\n"));
        assert!(needs_container_runtime(
            "FROM x\nCOPY a b\nRUN \\\n  echo hi\n"
        ));
        assert!(!needs_container_runtime(
            "FROM x\n# RUN nothing\nCOPY a b\n"
        ));
        assert!(!needs_container_runtime("FROM x\nCMD [\"run\"]\n"));
    }

    #[test]
    fn image_names_split_at_the_tag_not_the_port() {
        assert_eq!(
            split_tag("127.0.0.1:5000/base:1.0"),
            ("127.0.0.1:5000/base", "1.0")
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/base"),
            ("127.0.0.1:5000/base", "latest")
        );
        assert_eq!(host_of("http://127.0.0.1:5000/"), "127.0.0.1:5000");
    }

    #[test]
    fn from_images_without_a_registry_go_to_the_base_server() {
        let dockerfile = "# base\n\
            FROM hpvs-lab/debian-python:bookworm AS build\n\
            RUN make\n\
            from --platform=linux/s390x debian:bookworm\n\
            FROM build\n\
            FROM scratch\n\
            FROM 127.0.0.1:5000/base/busybox:1.0\n\
            FROM registry.example/x/y\n\
            FROM localhost/x/y\n\
            FROM ${BASE}\n";
        let qualified = qualify_base_images(dockerfile, "http://127.0.0.1:5000/").unwrap();
        assert_eq!(
            qualified,
            "# base\n\
            FROM 127.0.0.1:5000/hpvs-lab/debian-python:bookworm AS build\n\
            RUN make\n\
            from --platform=linux/s390x 127.0.0.1:5000/debian:bookworm\n\
            FROM build\n\
            FROM scratch\n\
            FROM 127.0.0.1:5000/base/busybox:1.0\n\
            FROM registry.example/x/y\n\
            FROM localhost/x/y\n\
            FROM ${BASE}\n"
        );
        assert_eq!(
            qualify_base_images("FROM hpvs-lab/x\n", "registry.example:443").unwrap(),
            "FROM registry.example:443/hpvs-lab/x\n"
        );
        let refused = qualify_base_images("FROM hpvs-lab/x\n", "").unwrap_err();
        assert!(
            refused.contains("FROM hpvs-lab/x names no registry"),
            "{refused}"
        );
        assert!(refused.contains("DOCKER_BASE_SERVER"), "{refused}");
        // Nothing to qualify: no base server needed.
        assert_eq!(
            qualify_base_images("FROM scratch\nCOPY a b\n", "").unwrap(),
            "FROM scratch\nCOPY a b\n"
        );
    }

    #[test]
    fn the_base_credentials_reach_buildahs_auth_file_for_the_base_host_only() {
        use super::super::pipeline::BaseCredentials;
        let credentials = BaseCredentials::new("puller", registry_http::Secret::new("pw:1"));
        let text = auth_file("127.0.0.1:5000", &credentials);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        let auths = parsed["auths"].as_object().unwrap();
        assert_eq!(auths.len(), 1);
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auths["127.0.0.1:5000"]["auth"].as_str().unwrap())
            .unwrap();
        assert_eq!(decoded, b"puller:pw:1");
        let anonymous = BaseCredentials::new("", registry_http::Secret::default());
        assert_eq!(auth_file("127.0.0.1:5000", &anonymous), r#"{"auths":{}}"#);
        assert!(REGISTRIES_CONF.contains("unqualified-search-registries = []"));
    }
}
