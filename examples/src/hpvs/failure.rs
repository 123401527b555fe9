//! Why an `hpvs` command failed, and the `ERROR: <CODE> <message>` line it prints.

use hpvs_api::Error;

use super::braces::SyntaxError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The appliance refused the call, or could not be reached or configured.
    #[error(transparent)]
    Appliance(#[from] Error),
    /// A `--env`, `--quotagroup` or `--ports` value does not read.
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// A flag's value is unusable (a size, a filesystem, an empty password).
    #[error("invalid {option}: {reason}")]
    InvalidArgument {
        /// The flag or input (`--size`, `password`).
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A local file or standard input could not be read.
    #[error("cannot read {what}")]
    Read {
        /// What was read (`standard input`, the file's path).
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The async runtime could not start (the environment: threads, file descriptors).
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The virtual server was created but failed to start.
    #[error("virtual server {name} failed: {reason}")]
    ServerFailed {
        /// The server.
        name: String,
        /// The appliance's reason.
        reason: String,
    },
}

impl CliError {
    /// The upper-case tag of the `ERROR:` line: the appliance's code for a refused call,
    /// else what kind of failure it is (`CONNECTION`, `CONFIG`, `TIMEOUT`...).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Appliance(error) => match error {
                Error::Api { code, .. } => code.as_str(),
                Error::MissingEnv { .. } | Error::InvalidConfig { .. } => "CONFIG",
                Error::InvalidName { .. } => "INVALID_ARGUMENT",
                Error::Transport { .. } => "CONNECTION",
                Error::Timeout { .. } => "TIMEOUT",
                _ => "BAD_ANSWER",
            },
            Self::Syntax(_) | Self::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Self::Read { .. } | Self::Runtime(_) => "IO",
            Self::ServerFailed { .. } => "SERVER_FAILED",
        }
    }

    /// `ERROR: <CODE> <message>`: for a refused call the appliance's own message (its code
    /// is the tag already), else the error with its causes.
    pub fn line(&self) -> String {
        let message = match self {
            Self::Appliance(Error::Api { message, .. }) => message.clone(),
            other => with_causes(other),
        };
        format!("ERROR: {} {message}", self.code())
    }
}

/// `error: cause: cause...` (the transport's causes say which connection or certificate
/// check failed).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // `#[error(transparent)]` wrappers repeat their source's message: say it once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hpvs_api::wire::ErrorCode;

    use super::*;

    #[test]
    fn api_errors_print_their_code_and_message() {
        let error = CliError::from(Error::Api {
            status: 409,
            code: ErrorCode::Conflict,
            message: "quotagroup q is used by server w".into(),
        });
        assert_eq!(
            error.line(),
            "ERROR: CONFLICT quotagroup q is used by server w"
        );
    }

    #[test]
    fn other_errors_print_a_tag_and_their_causes() {
        let error = CliError::from(Error::Transport {
            call: "GET /api/v1/images".into(),
            source: Box::new(std::io::Error::other("connection refused")),
        });
        assert_eq!(
            error.line(),
            "ERROR: CONNECTION GET /api/v1/images: the appliance could not be reached: connection refused"
        );
        let error = CliError::from(Error::MissingEnv {
            variable: "HPVS_TOKEN",
        });
        assert_eq!(
            error.line(),
            "ERROR: CONFIG the environment variable HPVS_TOKEN is not set"
        );
        let error = CliError::from(Error::Timeout {
            name: "w".into(),
            waited: Duration::from_secs(5),
        });
        assert_eq!(
            error.line(),
            "ERROR: TIMEOUT virtual server \"w\" was still creating after 5s"
        );
        let error = CliError::ServerFailed {
            name: "w".into(),
            reason: "pinned root mismatch".into(),
        };
        assert_eq!(
            error.line(),
            "ERROR: SERVER_FAILED virtual server w failed: pinned root mismatch"
        );
        let error = CliError::from(Error::UnexpectedAnswer {
            status: 502,
            body_start: "<html>".into(),
        });
        assert_eq!(
            error.line(),
            "ERROR: BAD_ANSWER unexpected answer with status 502: \"<html>\""
        );
        let error = CliError::from(crate::hpvs::braces::parse_port("{hostport = 1}").unwrap_err());
        assert_eq!(
            error.line(),
            "ERROR: INVALID_ARGUMENT invalid --ports \"{hostport = 1}\": containerport is missing"
        );
    }
}
