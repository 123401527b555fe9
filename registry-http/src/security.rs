//! HTTPS, or plain HTTP when asked for by name.

/// How a client reaches its server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Security {
    /// HTTPS with certificate verification (the default).
    #[default]
    Https,
    /// Plain HTTP, for loopback or test servers only: nothing is encrypted or authenticated
    /// on the wire (signed metadata and digests are still verified).
    InsecureHttp,
}

impl Security {
    /// What `url`'s scheme asks for: an explicit `http://` is the user's request for plain
    /// HTTP (as with notary and docker), `https://` for HTTPS; `None` for anything else.
    pub fn of_url(url: &str) -> Option<Self> {
        let (scheme, _) = url.split_once("://")?;
        if scheme.eq_ignore_ascii_case("https") {
            Some(Self::Https)
        } else if scheme.eq_ignore_ascii_case("http") {
            Some(Self::InsecureHttp)
        } else {
            None
        }
    }

    /// The URL scheme: `https` or `http`.
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Https => "https",
            Self::InsecureHttp => "http",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_the_url_scheme() {
        assert_eq!(Security::of_url("HTTPS://n:4443"), Some(Security::Https));
        assert_eq!(
            Security::of_url("http://127.0.0.1:1"),
            Some(Security::InsecureHttp)
        );
        assert_eq!(Security::of_url("ftp://x"), None);
        assert_eq!(Security::of_url("notary.example.com"), None);
        assert_eq!(Security::InsecureHttp.scheme(), "http");
    }
}
