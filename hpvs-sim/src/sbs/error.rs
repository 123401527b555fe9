//! The Secure Build Server's one error type, and which HTTP status each variant answers with.

use std::path::PathBuf;

/// Everything the Secure Build Server can fail with. [`SbsError::status`] is the HTTP status
/// an answer carries: 4xx when the caller is at fault, 5xx when the server is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SbsError {
    /// An identity variable of the server's env is not set.
    #[error("env {name} is not set: expected base64 of PEM text")]
    EnvMissing {
        /// `SERVER_CRT`, `SERVER_KEY`, `CLIENT_CA` or `CLIENT_CRT`.
        name: &'static str,
    },
    /// An identity variable that is not standard base64.
    #[error("env {name} is not base64: {reason}")]
    EnvNotBase64 {
        /// The variable.
        name: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// An identity variable whose decoded text is not the PEM it should be.
    #[error("env {name} does not hold a PEM {expected}: {reason}")]
    EnvNotPem {
        /// The variable.
        name: &'static str,
        /// `certificate` or `private key`.
        expected: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `SERVER_KEY` is not the private key of `SERVER_CRT`'s public key.
    #[error("env SERVER_KEY is not the key of SERVER_CRT: {reason}")]
    KeyMismatch {
        /// The public keys compared, or why they could not be.
        reason: String,
    },
    /// The TLS configuration could not be made from the identity.
    #[error("tls configuration: {reason}")]
    Tls {
        /// Why.
        reason: String,
    },

    /// A request body that is not what the endpoint takes.
    #[error("bad request body: {reason}")]
    BadBody {
        /// What is wrong.
        reason: String,
    },
    /// The init parameters are not a JSON object.
    #[error("the init parameters must be a JSON object, got {got}")]
    ParamsNotObject {
        /// The JSON type given.
        got: &'static str,
    },
    /// A parameter this server does not know.
    #[error("unknown parameter {key}")]
    UnknownParameter {
        /// The key.
        key: String,
    },
    /// A required parameter is absent.
    #[error("missing parameter {key}")]
    MissingParameter {
        /// The key.
        key: &'static str,
    },
    /// A parameter of the wrong JSON type or form.
    #[error("parameter {key}: expected {expected}")]
    ParameterType {
        /// The key (`ARG.<name>` for a build argument).
        key: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// `update` tried to change the repository.
    #[error("DOCKER_REPO may not change: got {requested:?}, the server builds {current:?}")]
    RepoChanged {
        /// The repository of the server.
        current: String,
        /// The one asked for.
        requested: String,
    },
    /// `update` tried to change the registration id.
    #[error("REPO_ID may not change: got {requested:?}, the server has {current:?}")]
    RepoIdChanged {
        /// The registration id of the server.
        current: String,
        /// The one asked for.
        requested: String,
    },
    /// `update` sent a `SECRET` other than the server's (use `NEW_SECRET` to change it).
    #[error(
        "SECRET differs from the server's: send the current SECRET, and NEW_SECRET to change it"
    )]
    SecretMismatch,

    /// The server has no init parameters yet (`POST /image` first).
    #[error("the server is not initialised: POST /image with the init parameters first")]
    NotInitialised,
    /// A build is running, and the request would disturb it.
    #[error("a build is running (status {status:?}): wait for it to finish, then {action}")]
    BuildRunning {
        /// The running build's status.
        status: String,
        /// What was asked for (`build`, `clean`...).
        action: &'static str,
    },
    /// No successful build yet (or since the last clean).
    #[error("no build has succeeded yet: PUT /image first, and wait for status success")]
    NoBuild,
    /// No build of that name.
    #[error("no build named {name:?}")]
    UnknownBuild {
        /// The name asked for.
        name: String,
    },
    /// No log of that name.
    #[error("no log named {name:?}: expected one of {known:?}")]
    UnknownLog {
        /// The name asked for.
        name: String,
        /// The logs the server keeps.
        known: &'static [&'static str],
    },
    /// No endpoint at this method and path.
    #[error("no endpoint {method} {path}")]
    NoSuchEndpoint {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// A status step reported out of the spec's order.
    #[error(
        "status {step:?} reported after {previous:?}: the order is github cloned, image built, image pushed"
    )]
    StepOutOfOrder {
        /// The last status.
        previous: &'static str,
        /// The one reported.
        step: &'static str,
    },

    /// A state image that is not base64 or not in this server's format.
    #[error("the state image is malformed: {reason}")]
    StateMalformed {
        /// What is wrong.
        reason: String,
    },
    /// A state image of a format version this server does not read.
    #[error("the state image has format version {found}, this server reads version {supported}")]
    StateVersion {
        /// The image's version.
        found: u32,
        /// The one this server reads.
        supported: u32,
    },
    /// The secret given is not the one the state image was exported under.
    #[error("the secret does not open this state image: it was exported under another SECRET")]
    StateSecretWrong,
    /// The state image was exported by a build server of another appliance: its second
    /// secret, which never leaves the appliance, is not this appliance's.
    #[error(
        "the state image was exported on another appliance: it opens only on the appliance \
         that exported it, with the same SECRET"
    )]
    StateOtherAppliance,
    /// The state image opened with the secret, but its contents fail authentication.
    #[error("the state image was altered after export: {part} fails authentication")]
    StateTampered {
        /// `data key` or `payload`.
        part: &'static str,
    },

    /// A file of the state directory could not be read or written.
    #[error("{action} {path}: {source}")]
    StateFile {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file of the state directory that does not hold what it should.
    #[error("{path} is corrupt: {reason}")]
    StateCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The pipeline's outcome breaks a rule of the spec (a build name that is no file name, a
    /// manifest name other than `manifest.<build_name>`...).
    #[error("the build pipeline returned an unusable outcome: {reason}")]
    BadOutcome {
        /// What is wrong.
        reason: String,
    },
    /// A cryptographic primitive failed (no randomness).
    #[error("crypto: {what} failed")]
    Crypto {
        /// What was being done.
        what: &'static str,
    },
    /// The HTTPS server failed.
    #[error("serve: {reason}")]
    Serve {
        /// Why.
        reason: String,
    },
}

impl SbsError {
    /// The HTTP status an answer with this error carries.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadBody { .. }
            | Self::ParamsNotObject { .. }
            | Self::UnknownParameter { .. }
            | Self::MissingParameter { .. }
            | Self::ParameterType { .. }
            | Self::StateMalformed { .. }
            | Self::StateVersion { .. } => 400,
            Self::SecretMismatch | Self::StateSecretWrong | Self::StateOtherAppliance => 403,
            Self::NoBuild
            | Self::UnknownBuild { .. }
            | Self::UnknownLog { .. }
            | Self::NoSuchEndpoint { .. } => 404,
            Self::RepoChanged { .. }
            | Self::RepoIdChanged { .. }
            | Self::NotInitialised
            | Self::BuildRunning { .. } => 409,
            Self::StateTampered { .. } => 422,
            Self::EnvMissing { .. }
            | Self::EnvNotBase64 { .. }
            | Self::EnvNotPem { .. }
            | Self::KeyMismatch { .. }
            | Self::Tls { .. }
            | Self::StepOutOfOrder { .. }
            | Self::StateFile { .. }
            | Self::StateCorrupt { .. }
            | Self::BadOutcome { .. }
            | Self::Crypto { .. }
            | Self::Serve { .. } => 500,
        }
    }
}

pub(crate) fn file_error(
    action: &'static str,
    path: &std::path::Path,
    source: std::io::Error,
) -> SbsError {
    SbsError::StateFile {
        action,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_formats_and_maps_to_its_blame() {
        let all = [
            SbsError::EnvMissing { name: "CLIENT_CA" },
            SbsError::EnvNotBase64 {
                name: "SERVER_CRT",
                reason: "invalid byte".into(),
            },
            SbsError::EnvNotPem {
                name: "SERVER_KEY",
                expected: "private key",
                reason: "none".into(),
            },
            SbsError::KeyMismatch {
                reason: "different keys".into(),
            },
            SbsError::Tls { reason: "x".into() },
            SbsError::BadBody { reason: "x".into() },
            SbsError::ParamsNotObject { got: "array" },
            SbsError::UnknownParameter { key: "FOO".into() },
            SbsError::MissingParameter { key: "SECRET" },
            SbsError::ParameterType {
                key: "ARG".into(),
                expected: "an object",
            },
            SbsError::RepoChanged {
                current: "a/b".into(),
                requested: "c/d".into(),
            },
            SbsError::RepoIdChanged {
                current: "1".into(),
                requested: "2".into(),
            },
            SbsError::SecretMismatch,
            SbsError::NotInitialised,
            SbsError::BuildRunning {
                status: "image built".into(),
                action: "build",
            },
            SbsError::NoBuild,
            SbsError::UnknownBuild { name: "b".into() },
            SbsError::UnknownLog {
                name: "x".into(),
                known: &["build"],
            },
            SbsError::NoSuchEndpoint {
                method: "GET".into(),
                path: "/x".into(),
            },
            SbsError::StepOutOfOrder {
                previous: "image built",
                step: "github cloned",
            },
            SbsError::StateMalformed { reason: "x".into() },
            SbsError::StateVersion {
                found: 9,
                supported: 1,
            },
            SbsError::StateSecretWrong,
            SbsError::StateTampered { part: "payload" },
            SbsError::StateOtherAppliance,
            file_error(
                "read",
                std::path::Path::new("/s/params.json"),
                std::io::Error::other("gone"),
            ),
            SbsError::StateCorrupt {
                path: "/s/status.json".into(),
                reason: "x".into(),
            },
            SbsError::BadOutcome { reason: "x".into() },
            SbsError::Crypto { what: "randomness" },
            SbsError::Serve { reason: "x".into() },
        ];
        for error in &all {
            let text = error.to_string();
            assert!(!text.is_empty() && !text.ends_with('.'), "{text}");
            let status = error.status();
            assert!((400..600).contains(&status), "{text}: {status}");
        }
        assert_eq!(
            all[1].to_string(),
            "env SERVER_CRT is not base64: invalid byte"
        );
        assert_eq!(
            all[10].to_string(),
            "DOCKER_REPO may not change: got \"c/d\", the server builds \"a/b\""
        );
        assert_eq!(all[10].status(), 409);
        assert_eq!(all[18].status(), 404);
        assert_eq!(all[22].status(), 403);
        assert_eq!(all[23].status(), 422);
        assert_eq!(all[24].status(), 403);
        assert_eq!(all[25].status(), 500);
    }
}
