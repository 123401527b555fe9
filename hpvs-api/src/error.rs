//! The crate's one error type.
//!
//! Blame is split by variant: the caller or its environment ([`Error::MissingEnv`],
//! [`Error::InvalidConfig`], [`Error::InvalidName`]), the network ([`Error::Transport`]), the
//! appliance refusing a request on purpose ([`Error::Api`]), the Secure Build Server
//! unreachable or refusing ([`Error::SbsUnreachable`], [`Error::SbsRefused`]), the appliance (or whatever
//! answered in its place) misbehaving ([`Error::UnexpectedAnswer`], [`Error::AnswerTooLarge`],
//! [`Error::Decode`]), a bug ([`Error::Encode`]), and a wait running out ([`Error::Timeout`],
//! [`Error::BuildTimeout`]).

use std::time::Duration;

use crate::wire::ErrorCode;

/// What went wrong talking to the appliance, with the offending values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required environment variable is unset or empty.
    #[error("the environment variable {variable} is not set")]
    MissingEnv {
        /// Its name (`HPVS_URL`, `HPVS_TOKEN`).
        variable: &'static str,
    },
    /// A setting is unusable: a URL that does not parse, plain HTTP to a host that is not
    /// loopback, a CA file that cannot be read or holds no certificate.
    #[error("invalid {setting}: {reason}")]
    InvalidConfig {
        /// The setting (`HPVS_CACERT`, `appliance URL`, `CA certificate`...).
        setting: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A name that cannot be a path segment of the API (empty, `.` or `..`); refused before
    /// any request is sent.
    #[error("invalid {what} {name:?}: expected a non-empty name other than \".\" and \"..\"")]
    InvalidName {
        /// What the name names (`registry`, `virtual server`...).
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// The request could not be sent or its answer not received (connection refused, TLS
    /// verification failed, request timed out).
    #[error("{call}: the appliance could not be reached")]
    Transport {
        /// The call, e.g. `GET /api/v1/registries`.
        call: String,
        /// The cause, kept opaque so that the HTTP stack is not part of this API.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The appliance refused the request with a JSON error answer `{"code", "message"}`.
    #[error("{status} {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable error code.
        code: ErrorCode,
        /// The appliance's explanation, naming the value it refused.
        message: String,
    },
    /// An error status whose body is not the API's JSON error (a proxy's HTML page, a crash).
    #[error("unexpected answer with status {status}: {body_start:?}")]
    UnexpectedAnswer {
        /// The HTTP status.
        status: u16,
        /// The first 512 bytes of the body, lossily decoded.
        body_start: String,
    },
    /// An answer body larger than the client accepts; reading stopped at the limit.
    #[error("{call}: the answer is larger than the {limit}-byte limit (at least {seen} bytes)")]
    AnswerTooLarge {
        /// The call.
        call: String,
        /// The limit in bytes.
        limit: u64,
        /// Bytes announced or read when reading stopped.
        seen: u64,
    },
    /// A request body could not be encoded as JSON (a bug: the wire types always encode).
    #[error("{call}: the request could not be encoded: {reason}")]
    Encode {
        /// The call.
        call: String,
        /// What the encoder found wrong.
        reason: String,
    },
    /// A success answer whose body is not what the call returns.
    #[error("{call}: the answer is not the expected body: {reason}")]
    Decode {
        /// The call.
        call: String,
        /// What the decoder found wrong.
        reason: String,
    },
    /// The Secure Build Server could not be reached, or its answer not received (connection
    /// refused, the mutual-TLS handshake refused by either side, a timeout).
    #[error("{call}: the secure build server could not be reached")]
    SbsUnreachable {
        /// The call, e.g. `SBS GET /image`.
        call: String,
        /// The cause, kept opaque (its chain names the TLS failure).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The Secure Build Server refused the request with `{"error": "<message>"}`: 400
    /// malformed, 403 wrong secret, 404 nothing there, 409 refused in its state (not
    /// initialised, a build running, a repository change), 422 a tampered state image, 500
    /// its own fault.
    #[error("{call}: {status}: {message}")]
    SbsRefused {
        /// The call, e.g. `SBS PUT /image`.
        call: String,
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// A build was still under way when the wait ended.
    #[error("the build was still running after {waited:?} (status {last_status:?})")]
    BuildTimeout {
        /// How long the client waited.
        waited: Duration,
        /// The last status read.
        last_status: String,
    },
    /// A virtual server was still `creating` when the wait ended.
    #[error("virtual server {name:?} was still creating after {waited:?}")]
    Timeout {
        /// The server.
        name: String,
        /// How long the client waited.
        waited: Duration,
    },
    /// A build manifest was refused by [`ManifestAnswer::verify`](crate::sbs_wire::ManifestAnswer::verify):
    /// the check that failed, in the words of [`crate::manifest::ManifestError`].
    #[error("the build manifest {manifest_name} does not verify")]
    ManifestRefused {
        /// The manifest's name (`manifest.<build_name>`).
        manifest_name: String,
        /// The check that failed.
        #[source]
        source: crate::manifest::ManifestError,
    },
}

impl Error {
    /// The appliance's error code, for an [`Error::Api`] answer.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_formats_with_its_values_in_lower_case() {
        let errors = [
            (
                Error::MissingEnv {
                    variable: "HPVS_TOKEN",
                },
                "the environment variable HPVS_TOKEN is not set",
            ),
            (
                Error::InvalidConfig {
                    setting: "HPVS_URL".into(),
                    reason: "no scheme".into(),
                },
                "invalid HPVS_URL: no scheme",
            ),
            (
                Error::InvalidName {
                    what: "registry",
                    name: "..".into(),
                },
                "invalid registry \"..\": expected a non-empty name other than \".\" and \"..\"",
            ),
            (
                Error::Transport {
                    call: "GET /api/v1/images".into(),
                    source: Box::new(std::io::Error::other("refused")),
                },
                "GET /api/v1/images: the appliance could not be reached",
            ),
            (
                Error::Api {
                    status: 409,
                    code: ErrorCode::Conflict,
                    message: "registry r is used by repository w".into(),
                },
                "409 CONFLICT: registry r is used by repository w",
            ),
            (
                Error::UnexpectedAnswer {
                    status: 502,
                    body_start: "<html>".into(),
                },
                "unexpected answer with status 502: \"<html>\"",
            ),
            (
                Error::AnswerTooLarge {
                    call: "GET /api/v1/images".into(),
                    limit: 10,
                    seen: 11,
                },
                "GET /api/v1/images: the answer is larger than the 10-byte limit (at least 11 bytes)",
            ),
            (
                Error::Encode {
                    call: "POST /api/v1/registries".into(),
                    reason: "key must be a string".into(),
                },
                "POST /api/v1/registries: the request could not be encoded: key must be a string",
            ),
            (
                Error::Decode {
                    call: "GET /api/v1/images".into(),
                    reason: "expected value at line 1 column 1".into(),
                },
                "GET /api/v1/images: the answer is not the expected body: expected value at line 1 column 1",
            ),
            (
                Error::SbsRefused {
                    call: "SBS PUT /image".into(),
                    status: 409,
                    message: "a build is running".into(),
                },
                "SBS PUT /image: 409: a build is running",
            ),
            (
                Error::SbsUnreachable {
                    call: "SBS GET /image".into(),
                    source: Box::new(std::io::Error::other("refused")),
                },
                "SBS GET /image: the secure build server could not be reached",
            ),
            (
                Error::BuildTimeout {
                    waited: Duration::from_secs(2),
                    last_status: "image built".into(),
                },
                "the build was still running after 2s (status \"image built\")",
            ),
            (
                Error::Timeout {
                    name: "wallet".into(),
                    waited: Duration::from_secs(3),
                },
                "virtual server \"wallet\" was still creating after 3s",
            ),
        ];
        for (error, expected) in errors {
            assert_eq!(error.to_string(), expected);
            let is_api = matches!(error, Error::Api { .. });
            assert_eq!(error.code().is_some(), is_api);
        }
    }
}
