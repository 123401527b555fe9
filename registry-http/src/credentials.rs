//! What a client presents: nothing, a user and password, or an identity token.

use base64::Engine as _;

use crate::{Error, Secret};

/// Credentials for one server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials; bearer challenges are answered with anonymous tokens.
    #[default]
    Anonymous,
    /// A user name and password (or personal access token), sent with HTTP basic auth or to
    /// the token service.
    Basic {
        /// The user name.
        username: String,
        /// The password or token.
        password: Secret,
    },
    /// An identity (refresh) token, as docker's `identitytoken`, exchanged for access tokens.
    IdentityToken(Secret),
}

impl Credentials {
    /// Basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Decodes base64 of `user:password`, the form of docker's `auths.*.auth` and notary's
    /// `NOTARY_AUTH`; `what` names the value's origin in the error.
    pub fn from_basic_base64(encoded: &str, what: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidBasicAuth {
            what: what.to_owned(),
            reason: reason.to_owned(),
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| invalid("not base64 of user:password"))?;
        let text = String::from_utf8(decoded).map_err(|_| invalid("not UTF-8"))?;
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| invalid("no ':' between user and password"))?;
        Ok(Self::basic(user, password))
    }

    /// The `Authorization` header value of basic credentials (`Basic <base64>`).
    pub fn basic_header(&self) -> Option<Secret> {
        match self {
            Self::Basic { username, password } => Some(Secret::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose()))
            ))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn basic_base64_round_trip() {
        let c = Credentials::from_basic_base64(" YWxpY2U6czNjOnJldA== ", "NOTARY_AUTH").unwrap();
        assert_eq!(c, Credentials::basic("alice", "s3c:ret"));
        assert_eq!(
            c.basic_header().unwrap().expose(),
            "Basic YWxpY2U6czNjOnJldA=="
        );
        assert!(!format!("{c:?}").contains("s3c"));
        assert_eq!(Credentials::Anonymous.basic_header(), None);
    }

    #[test]
    fn basic_base64_errors_name_the_origin() {
        for bad in [
            "%%%",
            "bm9jb2xvbg==", /* "nocolon" */
            "/w==",         /* 0xff */
        ] {
            match Credentials::from_basic_base64(bad, "NOTARY_AUTH") {
                Err(Error::InvalidBasicAuth { what, .. }) => assert_eq!(what, "NOTARY_AUTH"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
