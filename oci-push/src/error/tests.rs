//! Every variant formatted and blamed, and the typed values the checks carry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

/// Every variant, its blame and what its message must name.
fn catalogue() -> Vec<(Error, Blame, &'static str)> {
    let s = |text: &str| text.to_owned();
    let good = Digest::of(b"good");
    let bad = Digest::of(b"bad");
    vec![
        (
            Error::DigestMismatch {
                what: s("blob b"),
                expected: good.clone(),
                actual: bad.clone(),
            },
            Blame::Peer,
            "blob b",
        ),
        (
            Error::SizeMismatch {
                what: s("blob s"),
                expected: 1,
                actual: 2,
            },
            Blame::Peer,
            "got 2 bytes, expected 1",
        ),
        (
            Error::TooLarge {
                what: s("manifest m"),
                size: 9,
                limit: 8,
            },
            Blame::Peer,
            "9 bytes, over the limit of 8",
        ),
        (
            Error::UnverifiedUpload {
                digest: good.clone(),
                hashed: 1,
                size: 2,
            },
            Blame::Environment,
            "1 of 2 bytes",
        ),
        (
            Error::AmbiguousImage {
                path: "/l".into(),
                count: 2,
                available: vec![s("a"), s("b")],
            },
            Blame::Caller,
            "holds 2 images",
        ),
        (
            Error::UnpackNotUndone {
                root: "/r".into(),
                cause: Box::new(Error::InvalidDigest {
                    digest: s("d"),
                    reason: s("short"),
                }),
                failures: s("/r/x kept"),
            },
            Blame::Environment,
            "/r/x kept",
        ),
        (
            Error::InvalidDigest {
                digest: s("md5:x"),
                reason: s("not sha256"),
            },
            Blame::Input,
            "\"md5:x\"",
        ),
        (
            Error::InvalidReference {
                reference: s("UP"),
                reason: s("upper case"),
            },
            Blame::Input,
            "\"UP\"",
        ),
        (
            Error::UnknownCompression {
                name: s("xz"),
                choices: &["gzip", "none"],
            },
            Blame::Input,
            "\"xz\": expected one of gzip, none",
        ),
        (
            Error::TargetWithoutSha256 {
                target: s("v1"),
                role: s("targets/releases"),
            },
            Blame::Peer,
            "\"v1\" of targets/releases",
        ),
        (
            Error::InvalidOption {
                option: s("parallelism"),
                reason: s("must be at least 1"),
            },
            Blame::Caller,
            "parallelism",
        ),
        (
            Error::InvalidLayout {
                path: "/l".into(),
                reason: s("no oci-layout"),
            },
            Blame::Input,
            "no oci-layout",
        ),
        (
            Error::TagNotFound {
                path: "/l".into(),
                tag: s("v9"),
                available: vec![s("v1")],
            },
            Blame::Caller,
            "\"v9\"",
        ),
        (
            Error::InvalidDocument {
                what: s("manifest m"),
                reason: s("eof"),
            },
            Blame::Peer,
            "manifest m",
        ),
        (
            Error::UnsupportedMediaType {
                what: s("manifest"),
                media_type: s("text/plain"),
            },
            Blame::Peer,
            "text/plain",
        ),
        (
            Error::PlatformNotFound {
                reference: s("r"),
                platform: s("linux/s390x"),
                available: vec![s("linux/amd64")],
            },
            Blame::Caller,
            "linux/s390x",
        ),
        (
            Error::Unauthorized {
                registry: s("reg"),
                status: 401,
            },
            Blame::Caller,
            "(401)",
        ),
        (
            Error::RegistryStatus {
                method: s("PUT"),
                url: s("u"),
                status: 500,
                body: s("oops"),
            },
            Blame::Peer,
            "500 to PUT u",
        ),
        (
            Error::RegistryProtocol {
                request: s("POST"),
                reason: s("no Location header"),
            },
            Blame::Peer,
            "no Location header",
        ),
        (
            Error::AuthChallenge {
                registry: s("reg"),
                reason: s("no realm"),
            },
            Blame::Peer,
            "no realm",
        ),
        (
            Error::CredentialHelper {
                helper: s("pass"),
                registry: s("reg"),
                reason: s("exit 1"),
            },
            Blame::Environment,
            "docker-credential-pass",
        ),
        (
            Error::Http {
                method: s("GET"),
                url: s("u"),
                attempts: 3,
                source: Box::new(std::io::Error::other("connection reset")),
            },
            Blame::Environment,
            "3 attempt(s): connection reset",
        ),
        (
            Error::Tls {
                what: s("CA file"),
                reason: s("no certificate"),
            },
            Blame::Input,
            "CA file",
        ),
        (
            Error::UnsafeEntry {
                path: s("../x"),
                reason: s("leaves the root"),
            },
            Blame::Peer,
            "\"../x\"",
        ),
        (
            Error::DockerfileSyntax {
                line: 7,
                reason: s("bad"),
            },
            Blame::Input,
            "line 7",
        ),
        (
            Error::DockerfileUnsupported {
                line: 3,
                instruction: s("RUN"),
                reason: s("runtime"),
            },
            Blame::Input,
            "line 3: RUN",
        ),
        (
            Error::DockerIgnore {
                line: 2,
                pattern: s("[x"),
                reason: s("unclosed"),
            },
            Blame::Input,
            "line 2",
        ),
        (
            Error::BuildSource {
                source_path: s("../etc"),
                reason: s("outside"),
            },
            Blame::Input,
            "\"../etc\"",
        ),
        (
            Error::BuildDestination {
                destination: s("../../o"),
                reason: s("leaves the image root"),
            },
            Blame::Input,
            "\"../../o\"",
        ),
        (
            Error::Io {
                action: "read",
                path: "/p".into(),
                source: std::io::Error::other("boom"),
            },
            Blame::Environment,
            "cannot read /p: boom",
        ),
    ]
}

#[test]
fn every_variant_names_its_values_and_its_blame() {
    for (error, blame, named) in catalogue() {
        assert_eq!(error.blame(), blame, "{error:?}");
        let text = error.to_string();
        assert!(text.contains(named), "{text:?} does not name {named:?}");
    }
}

#[test]
fn a_digest_mismatch_carries_both_digests() {
    let (good, bad) = (Digest::of(b"good"), Digest::of(b"bad"));
    let error = good.verify("blob", b"bad").unwrap_err();
    match &error {
        Error::DigestMismatch {
            expected, actual, ..
        } => assert_eq!((expected, actual), (&good, &bad)),
        other => panic!("{other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains(&format!("got {bad}, expected {good}")),
        "{text}"
    );
}

#[test]
fn a_failed_request_keeps_its_cause() {
    let error = Error::Http {
        method: "GET".to_owned(),
        url: "u".to_owned(),
        attempts: 1,
        source: Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        )),
    };
    let cause = std::error::Error::source(&error).unwrap();
    let io = cause.downcast_ref::<std::io::Error>().unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(error.is_transient());
}
