//! Builds that need a container runtime (a Dockerfile with `RUN`) go to buildah (Debian
//! `buildah`: chroot isolation, vfs storage, both work on these machines), with storage of
//! the build's own; the result is copied out as an OCI layout. Base images named on the
//! trusted base server are first resolved with Docker Content Trust and the Dockerfile is
//! rewritten to build from the verified digest, never from the tag.

use std::path::Path;
use std::process::Command;

use keymgmt::passphrase::{Fixed, Passphrase};
use notary_client::transport::ServerConfig;

use super::pipeline::{BaseTrust, BuildRequest};

/// Whether the Dockerfile has a step that runs a command in the image being built.
pub fn needs_container_runtime(dockerfile: &str) -> bool {
    logical_lines(dockerfile).any(|line| keyword(&line).eq_ignore_ascii_case("RUN"))
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
        let words: Vec<&str> = line.split_whitespace().collect();
        let is_from = words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("FROM"));
        let image = words
            .iter()
            .skip(1)
            .find(|w| !w.starts_with("--"))
            .copied()
            .unwrap_or_default();
        if !is_from || !image.starts_with(&format!("{base_host}/")) || image.contains('@') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let (repository, tag) = split_tag(image);
        let digest = resolve(request, repository, tag, trust_dir, ca_pem).await?;
        out.push_str(&line.replacen(image, &format!("{repository}@{digest}"), 1));
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
/// `tag`. Storage and the signature policy are the build's own (under `work`), so nothing
/// of the host's container setup is used or changed.
pub fn build(
    request: &BuildRequest,
    context: &Path,
    dockerfile: &str,
    work: &Path,
    layout_dir: &Path,
    tag: &str,
) -> Result<(), String> {
    let buildah = ["/usr/bin/buildah", "buildah"]
        .iter()
        .find(|p| Path::new(p).is_file() || which(p))
        .ok_or("buildah is missing: run scripts/install-peers.sh (Debian package buildah)")?;
    std::fs::create_dir_all(work).map_err(|e| format!("create {}: {e}", work.display()))?;
    let dockerfile_path = work.join("Dockerfile.pinned");
    std::fs::write(&dockerfile_path, dockerfile).map_err(|e| e.to_string())?;
    let policy = work.join("policy.json");
    // Signatures are DCT's business here (checked above); buildah only fetches by digest.
    std::fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .map_err(|e| e.to_string())?;
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
        .arg(&policy)
        .arg(format!("--tls-verify={}", !insecure))
        .arg("-f")
        .arg(&dockerfile_path)
        .args(["-t", &name])
        .arg(context)
        .env("BUILDAH_ISOLATION", "chroot");
    run(&mut bud)?;
    let mut push = Command::new(buildah);
    storage(&mut push);
    push.arg("push")
        .arg("--signature-policy")
        .arg(&policy)
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
}
