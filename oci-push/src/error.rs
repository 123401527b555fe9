//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
///
/// Variants are named after the check that failed and carry the values compared. Blame is
/// in the name: `Registry*` and `*Mismatch` come from the peer or the data it served,
/// `Unsafe*`/`Dockerfile*` from untrusted input, `InvalidOption`/`InvalidReference` from the
/// caller, `Io`/`Http`/`Tls` from the environment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Content did not hash to the digest that names it.
    #[error(
        "digest mismatch for {what}: got {actual}, expected {expected}; the content is corrupt or was tampered with and was not used"
    )]
    DigestMismatch {
        /// What was hashed (a blob, a manifest, a layout file).
        what: String,
        /// The digest it should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// Content was longer or shorter than its descriptor says.
    #[error(
        "size mismatch for {what}: got {actual} bytes, expected {expected}; the content is corrupt or truncated and was not used"
    )]
    SizeMismatch {
        /// What was measured.
        what: String,
        /// The size the descriptor gives.
        expected: u64,
        /// The size seen (at least this many bytes when it was too long).
        actual: u64,
    },
    /// A blob's upload reached its end without every byte having been hashed on the way
    /// out, so what the registry received was never checked against the digest.
    #[error(
        "upload of blob {digest} was not verified: {hashed} of {size} bytes were hashed on the way out; push again"
    )]
    UnverifiedUpload {
        /// The blob's digest.
        digest: String,
        /// Bytes hashed.
        hashed: u64,
        /// The blob's size.
        size: u64,
    },
    /// A layout holds several images and none was named.
    #[error(
        "the layout {} holds {count} images: name one with LAYOUT:TAG (tags: {available:?})", .path.display()
    )]
    AmbiguousImage {
        /// The layout directory.
        path: PathBuf,
        /// How many manifests `index.json` lists.
        count: usize,
        /// The tags found.
        available: Vec<String>,
    },
    /// An unpack failed and undoing its changes failed too: the root is not as it was.
    #[error(
        "unpacking into {} failed ({cause}) and could not be undone ({failures}): recreate the root filesystem", .root.display()
    )]
    UnpackNotUndone {
        /// The root filesystem.
        root: PathBuf,
        /// Why the unpack failed.
        cause: Box<Error>,
        /// What could not be undone.
        failures: String,
    },
    /// A document or entry is larger than the limit allowed for it.
    #[error(
        "{what} is {size} bytes, over the limit of {limit}: raise the limit if this is expected"
    )]
    TooLarge {
        /// What was too large.
        what: String,
        /// Its size (or the size reached when reading stopped).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A digest string is malformed or uses an algorithm other than sha256.
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest {
        /// The digest as given.
        digest: String,
        /// Why it was refused.
        reason: String,
    },
    /// An image reference could not be parsed.
    #[error(
        "invalid image reference {reference:?}: {reason}; expected REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]"
    )]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// Why it was refused.
        reason: String,
    },
    /// A layer compression name is not one this build knows.
    #[error("unknown compression {name:?}: expected one of {}", .choices.join(", "))]
    UnknownCompression {
        /// The name as given.
        name: String,
        /// The names known ([`Compression::NAMES`](crate::Compression::NAMES)).
        choices: &'static [&'static str],
    },
    /// A caller-supplied option is invalid.
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// The option's name.
        option: String,
        /// Why it was refused.
        reason: String,
    },
    /// A directory is not a usable OCI image layout.
    #[error("{} is not a usable OCI image layout: {reason}", .path.display())]
    InvalidLayout {
        /// The layout directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tag was not found in a layout's `index.json`.
    #[error("no image tagged {tag:?} in the layout {}: found {available:?}", .path.display())]
    TagNotFound {
        /// The layout directory.
        path: PathBuf,
        /// The tag asked for.
        tag: String,
        /// The tags present.
        available: Vec<String>,
    },
    /// A manifest, index or config could not be parsed.
    #[error("cannot parse {what}: {reason}")]
    InvalidDocument {
        /// What was being parsed.
        what: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A media type this crate does not handle.
    #[error("unsupported media type {media_type:?} for {what}")]
    UnsupportedMediaType {
        /// What carried it.
        what: String,
        /// The media type.
        media_type: String,
    },
    /// No manifest in an index matches the platform asked for.
    #[error("no manifest for platform {platform} in {reference}: found {available:?}")]
    PlatformNotFound {
        /// The reference or layout.
        reference: String,
        /// The platform asked for.
        platform: String,
        /// The platforms offered.
        available: Vec<String>,
    },
    /// The registry refused the credentials (or the anonymous request).
    #[error("the registry {registry} refused access ({status}): check the credentials for it")]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// The HTTP status (401 or 403).
        status: u16,
    },
    /// The registry answered with an unexpected status.
    #[error("the registry answered {status} to {method} {url}: {body}")]
    RegistryStatus {
        /// The request method.
        method: String,
        /// The request URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body (registry error JSON).
        body: String,
    },
    /// The registry's answer lacks something the protocol requires.
    #[error("the registry's answer to {request} is invalid: {reason}")]
    RegistryProtocol {
        /// The request.
        request: String,
        /// What was wrong.
        reason: String,
    },
    /// An authentication challenge could not be parsed or answered.
    #[error("cannot authenticate to {registry}: {reason}")]
    AuthChallenge {
        /// The registry host.
        registry: String,
        /// What went wrong.
        reason: String,
    },
    /// A docker credential helper failed.
    #[error("credential helper docker-credential-{helper} failed for {registry}: {reason}")]
    CredentialHelper {
        /// The helper's suffix (`pass`, `secretservice`...).
        helper: String,
        /// The registry asked about.
        registry: String,
        /// What went wrong.
        reason: String,
    },
    /// The network request failed (after retries).
    #[error(
        "request {method} {url} failed after {attempts} attempt(s): {reason}; check that the registry is reachable"
    )]
    Http {
        /// The request method.
        method: String,
        /// The request URL.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// TLS material could not be loaded.
    #[error("invalid TLS material ({what}): {reason}")]
    Tls {
        /// Which material.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// A tar entry would write outside the root or create something unsafe.
    #[error("unsafe layer entry {path:?}: {reason}")]
    UnsafeEntry {
        /// The entry's path as found in the archive.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// A Dockerfile instruction is malformed.
    #[error("Dockerfile line {line}: {reason}")]
    DockerfileSyntax {
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A Dockerfile instruction is not supported by a daemonless build.
    #[error("Dockerfile line {line}: {instruction} is not supported: {reason}")]
    DockerfileUnsupported {
        /// The 1-based line number.
        line: usize,
        /// The instruction keyword.
        instruction: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A `.dockerignore` pattern cannot be used.
    #[error(".dockerignore line {line}: the pattern {pattern:?} is invalid: {reason}")]
    DockerIgnore {
        /// The 1-based line number.
        line: usize,
        /// The pattern, as cleaned.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
    /// A build source lies outside the build context or does not exist.
    #[error("build source {source_path:?}: {reason}")]
    BuildSource {
        /// The source as written.
        source_path: String,
        /// What is wrong.
        reason: String,
    },
    /// A build destination (the last word of `COPY`/`ADD`) cannot be used.
    #[error("build destination {destination:?}: {reason}")]
    BuildDestination {
        /// The destination as written.
        destination: String,
        /// What is wrong.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A closure turning an I/O error on `path` into [`Error::Io`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }

    /// Whether retrying the same request may succeed.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Error::Http { .. } => true,
            Error::RegistryStatus { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn every_variant_formats() {
        let s = || "x".to_owned();
        let all = vec![
            Error::DigestMismatch {
                what: s(),
                expected: s(),
                actual: s(),
            },
            Error::SizeMismatch {
                what: s(),
                expected: 1,
                actual: 2,
            },
            Error::TooLarge {
                what: s(),
                size: 2,
                limit: 1,
            },
            Error::UnverifiedUpload {
                digest: s(),
                hashed: 1,
                size: 2,
            },
            Error::AmbiguousImage {
                path: "/l".into(),
                count: 2,
                available: vec![],
            },
            Error::UnpackNotUndone {
                root: "/r".into(),
                cause: Box::new(Error::InvalidDigest {
                    digest: s(),
                    reason: s(),
                }),
                failures: s(),
            },
            Error::InvalidDigest {
                digest: s(),
                reason: s(),
            },
            Error::InvalidReference {
                reference: s(),
                reason: s(),
            },
            Error::UnknownCompression {
                name: s(),
                choices: &["gzip"],
            },
            Error::InvalidOption {
                option: s(),
                reason: s(),
            },
            Error::InvalidLayout {
                path: "/l".into(),
                reason: s(),
            },
            Error::TagNotFound {
                path: "/l".into(),
                tag: s(),
                available: vec![s()],
            },
            Error::InvalidDocument {
                what: s(),
                reason: s(),
            },
            Error::UnsupportedMediaType {
                what: s(),
                media_type: s(),
            },
            Error::PlatformNotFound {
                reference: s(),
                platform: s(),
                available: vec![],
            },
            Error::Unauthorized {
                registry: s(),
                status: 401,
            },
            Error::RegistryStatus {
                method: s(),
                url: s(),
                status: 500,
                body: s(),
            },
            Error::RegistryProtocol {
                request: s(),
                reason: s(),
            },
            Error::AuthChallenge {
                registry: s(),
                reason: s(),
            },
            Error::CredentialHelper {
                helper: s(),
                registry: s(),
                reason: s(),
            },
            Error::Http {
                method: s(),
                url: s(),
                attempts: 3,
                reason: s(),
            },
            Error::Tls {
                what: s(),
                reason: s(),
            },
            Error::UnsafeEntry {
                path: s(),
                reason: s(),
            },
            Error::DockerfileSyntax {
                line: 1,
                reason: s(),
            },
            Error::DockerfileUnsupported {
                line: 1,
                instruction: s(),
                reason: s(),
            },
            Error::DockerIgnore {
                line: 1,
                pattern: s(),
                reason: s(),
            },
            Error::BuildSource {
                source_path: s(),
                reason: s(),
            },
            Error::BuildDestination {
                destination: s(),
                reason: s(),
            },
            Error::Io {
                action: "read",
                path: "/p".into(),
                source: std::io::Error::other("boom"),
            },
        ];
        for error in all {
            let text = error.to_string();
            assert!(!text.is_empty());
            let first = text.chars().next().unwrap();
            assert!(
                !first.is_uppercase() || text.starts_with("Dockerfile"),
                "{text}"
            );
        }
    }
}
