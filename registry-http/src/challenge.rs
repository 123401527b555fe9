//! `WWW-Authenticate` challenges (RFC 7235 §4.1) and the two schemes the clients answer.
//!
//! A header holds one or more comma-separated challenges; each is a scheme, then either a
//! token68 or `name=value` parameters whose values are tokens or quoted strings with
//! backslash escapes. Scheme and parameter names are case-insensitive. A header that does
//! not follow the grammar (an unterminated quote, a control character, a parameter given
//! twice) is refused as a whole rather than half-understood.

use std::collections::BTreeMap;

/// One parsed challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, in lower case (`bearer`, `basic`, ...).
    pub scheme: String,
    /// The token68 form's value (`Negotiate abc==`), if the challenge has one.
    pub token68: Option<String>,
    /// Parameters by lower-case name, values unquoted.
    pub params: BTreeMap<String, String>,
}

/// Parses every challenge of a `WWW-Authenticate` header; `None` when it is malformed.
pub fn parse_challenges(header: &str) -> Option<Vec<Challenge>> {
    let mut parser = Parser {
        rest: header.as_bytes(),
    };
    let mut challenges = Vec::new();
    loop {
        parser.skip_list_separators();
        if parser.rest.is_empty() {
            return Some(challenges);
        }
        challenges.push(parser.challenge()?);
    }
}

/// A challenge this crate's clients can answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthChallenge {
    /// `Basic`: send the user name and password.
    Basic {
        /// The protection space, if named.
        realm: Option<String>,
    },
    /// `Bearer`: fetch a token from `realm`.
    Bearer(BearerChallenge),
}

/// A `Bearer realm="…",service="…",scope="…"` challenge (Docker's token authentication).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BearerChallenge {
    /// The token service's URL.
    pub realm: String,
    /// The service the token is for.
    pub service: Option<String>,
    /// The scope the server wants (`repository:<name>:pull,push`).
    pub scope: Option<String>,
}

impl AuthChallenge {
    /// The challenge to answer in `header`: a `Bearer` one with a realm if there is one (it
    /// scopes access), else a `Basic` one; `None` when the header is malformed or offers
    /// neither.
    pub fn from_header(header: &str) -> Option<Self> {
        let challenges = parse_challenges(header)?;
        let bearer = challenges.iter().find_map(|c| {
            (c.scheme == "bearer").then_some(())?;
            Some(BearerChallenge {
                realm: c.params.get("realm")?.clone(),
                service: c.params.get("service").cloned(),
                scope: c.params.get("scope").cloned(),
            })
        });
        if let Some(bearer) = bearer {
            return Some(Self::Bearer(bearer));
        }
        challenges
            .iter()
            .find(|c| c.scheme == "basic")
            .map(|c| Self::Basic {
                realm: c.params.get("realm").cloned(),
            })
    }
}

struct Parser<'a> {
    rest: &'a [u8],
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn bump(&mut self) {
        self.rest = &self.rest[1.min(self.rest.len())..];
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
    }

    /// `#rule` lists allow empty elements: `, ,a`.
    fn skip_list_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.bump();
        }
    }

    fn take_while(&mut self, accept: impl Fn(u8) -> bool) -> &str {
        let end = self
            .rest
            .iter()
            .position(|b| !accept(*b))
            .unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        // Every accepted byte is ASCII.
        std::str::from_utf8(taken).unwrap_or_default()
    }

    fn token(&mut self) -> Option<String> {
        let token = self.take_while(is_tchar);
        (!token.is_empty()).then(|| token.to_owned())
    }

    fn challenge(&mut self) -> Option<Challenge> {
        let scheme = self.token()?.to_ascii_lowercase();
        let mut challenge = Challenge {
            scheme,
            token68: None,
            params: BTreeMap::new(),
        };
        if !matches!(self.peek(), None | Some(b' ' | b'\t' | b',')) {
            return None;
        }
        self.skip_spaces();
        if matches!(self.peek(), None | Some(b',')) {
            return Some(challenge);
        }
        if !self.at_param() {
            let value = self.take_while(is_token68_char).to_owned();
            if value.is_empty() {
                return None;
            }
            let padding = self.take_while(|b| b == b'=');
            challenge.token68 = Some(value + padding);
            self.skip_spaces();
            return matches!(self.peek(), None | Some(b',')).then_some(challenge);
        }
        loop {
            let (name, value) = self.param()?;
            if challenge.params.insert(name, value).is_some() {
                return None;
            }
            self.skip_spaces();
            match self.peek() {
                None => return Some(challenge),
                Some(b',') => {
                    self.skip_list_separators();
                    if !self.at_param() {
                        return Some(challenge);
                    }
                }
                Some(_) => return None,
            }
        }
    }

    /// Whether the input continues with `token BWS "=" BWS (token / quoted-string)`, i.e. a
    /// parameter rather than a token68 or the next challenge's scheme.
    fn at_param(&self) -> bool {
        let mut probe = Parser { rest: self.rest };
        if probe.token().is_none() {
            return false;
        }
        probe.skip_spaces();
        if probe.peek() != Some(b'=') {
            return false;
        }
        probe.bump();
        probe.skip_spaces();
        probe.peek().is_some_and(|b| b == b'"' || is_tchar(b))
    }

    fn param(&mut self) -> Option<(String, String)> {
        let name = self.token()?.to_ascii_lowercase();
        self.skip_spaces();
        if self.peek() != Some(b'=') {
            return None;
        }
        self.bump();
        self.skip_spaces();
        let value = if self.peek() == Some(b'"') {
            self.bump();
            self.quoted_string()?
        } else {
            self.token()?
        };
        Some((name, value))
    }

    /// The rest of a quoted string after its opening quote.
    fn quoted_string(&mut self) -> Option<String> {
        let mut value = String::new();
        loop {
            let byte = self.peek()?;
            self.bump();
            match byte {
                b'"' => return Some(value),
                b'\\' => {
                    let escaped = self.peek().filter(|b| is_quoted_text(*b))?;
                    self.bump();
                    value.push(char::from(escaped));
                }
                b if is_quoted_text(b) => value.push(char::from(b)),
                _ => return None,
            }
        }
    }
}

/// RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 7235 `token68` characters before the `=` padding.
fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

/// HTAB, SP and visible ASCII: what a quoted string may hold (obs-text is refused).
fn is_quoted_text(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn bearer(realm: &str, service: Option<&str>, scope: Option<&str>) -> AuthChallenge {
        AuthChallenge::Bearer(BearerChallenge {
            realm: realm.to_owned(),
            service: service.map(str::to_owned),
            scope: scope.map(str::to_owned),
        })
    }

    #[test]
    fn docker_bearer_challenge() {
        assert_eq!(
            AuthChallenge::from_header(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
            ),
            Some(bearer(
                "https://auth.example/token",
                Some("registry.example"),
                Some("repository:a/b:pull,push")
            ))
        );
    }

    #[test]
    fn names_are_case_insensitive_and_tokens_unquoted() {
        assert_eq!(
            AuthChallenge::from_header("bEaReR REALM=\"https://t.example/x\" , Service = svc"),
            Some(bearer("https://t.example/x", Some("svc"), None))
        );
        assert_eq!(
            AuthChallenge::from_header(r#"BASIC realm="registry""#),
            Some(AuthChallenge::Basic {
                realm: Some("registry".to_owned())
            })
        );
        assert_eq!(
            AuthChallenge::from_header("Basic"),
            Some(AuthChallenge::Basic { realm: None })
        );
    }

    #[test]
    fn quoted_strings_keep_commas_and_unescape() {
        let header = r#"Bearer realm="https://t/x?a=1,b=2", scope="say \"hi\", \\ ok""#;
        assert_eq!(
            AuthChallenge::from_header(header),
            Some(bearer(
                "https://t/x?a=1,b=2",
                None,
                Some(r#"say "hi", \ ok"#)
            ))
        );
    }

    #[test]
    fn several_challenges_in_one_header() {
        let all = parse_challenges(
            r#"Negotiate abc+/==, Basic realm="b", Bearer realm="https://t/", error="insufficient_scope""#,
        )
        .unwrap();
        let schemes: Vec<&str> = all.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["negotiate", "basic", "bearer"]);
        assert_eq!(all[0].token68.as_deref(), Some("abc+/=="));
        assert_eq!(all[2].params["error"], "insufficient_scope");
        // Bearer wins over Basic wherever it stands.
        assert_eq!(
            AuthChallenge::from_header(r#"Basic realm="b", Bearer realm="https://t/""#),
            Some(bearer("https://t/", None, None))
        );
    }

    #[test]
    fn hostile_headers_are_refused() {
        for header in [
            r#"Bearer realm="unterminated"#,
            "Bearer realm=\"a\r\nSet-Cookie: x\"",
            "Bearer realm=\"a\0b\"",
            r#"Bearer realm="a", realm="https://evil/""#,
            r#"Bearer realm="a" trailing"#,
            r#"Bearer realm="a\"#,
            "Bearer realm=\"caf\u{e9}\"",
            "Bearer =x",
            "Bearer ==",
            "Bear\"er realm=x",
        ] {
            assert_eq!(parse_challenges(header), None, "{header:?}");
            assert_eq!(AuthChallenge::from_header(header), None, "{header:?}");
        }
    }

    #[test]
    fn unanswerable_challenges_are_none() {
        assert_eq!(AuthChallenge::from_header("Bearer service=x"), None);
        assert_eq!(AuthChallenge::from_header("Negotiate"), None);
        // A token68 that looks like a parameter without a value.
        assert_eq!(AuthChallenge::from_header("Bearer realm="), None);
        assert_eq!(AuthChallenge::from_header(""), None);
        assert_eq!(parse_challenges(" , ,"), Some(Vec::new()));
    }

    #[test]
    fn long_inputs_parse_in_linear_time() {
        let header = format!("Bearer realm=\"{}\"", "\\a".repeat(200_000));
        let Some(AuthChallenge::Bearer(c)) = AuthChallenge::from_header(&header) else {
            panic!("not parsed");
        };
        assert_eq!(c.realm.len(), 200_000);
        assert_eq!(parse_challenges(&",".repeat(100_000)), Some(Vec::new()));
    }
}
