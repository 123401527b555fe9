//! Docker-style token authentication: the token request, and a cache with expiry and
//! single-flight.
//!
//! Tokens are cached by (realm, service, scope) until shortly before they expire
//! (`expires_in`, from `issued_at` when the service says when it issued them; 60 s when it
//! says nothing, as Docker's distribution spec prescribes). Concurrent requests that need
//! the same token make one token request between them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{Credentials, Error, Secret};

/// The largest token response read (a token is a JWT of a few KiB).
pub const TOKEN_RESPONSE_LIMIT: u64 = 64 * 1024;
/// A token's lifetime when the service does not say.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// How long before its expiry a token is replaced.
const REFRESH_EARLY: Duration = Duration::from_secs(10);

/// What a token is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenKey {
    /// The token service's URL.
    pub realm: String,
    /// The service the token is for.
    pub service: Option<String>,
    /// The scopes, space-separated.
    pub scope: String,
}

/// A bearer token and when to stop using it.
#[derive(Clone, Debug)]
pub struct Token {
    value: Secret,
    refresh_at: Instant,
}

impl Token {
    /// A token usable for `lifetime` from now (less a small margin, so that it is replaced
    /// before the server starts refusing it).
    pub fn new(value: Secret, lifetime: Duration) -> Self {
        Self {
            value,
            refresh_at: Instant::now() + lifetime.saturating_sub(REFRESH_EARLY),
        }
    }

    /// Parses a token service's answer (`token` or `access_token`, `expires_in`,
    /// `issued_at`).
    pub fn from_response(body: &[u8], realm: &str) -> Result<Self, Error> {
        #[derive(serde::Deserialize)]
        struct Answer {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
            issued_at: Option<String>,
        }
        let fail = |reason: String| Error::TokenService {
            realm: realm.to_owned(),
            status: None,
            reason,
        };
        let answer: Answer = serde_json::from_slice(body)
            .map_err(|e| fail(format!("unreadable token response: {e}")))?;
        let value = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| fail("the token response holds no token".to_owned()))?;
        let lifetime = answer
            .expires_in
            .filter(|s| *s > 0)
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        let lifetime = answer
            .issued_at
            .as_deref()
            .and_then(|issued_at| remaining(issued_at, lifetime))
            .unwrap_or(lifetime);
        Ok(Self::new(Secret::new(value), lifetime))
    }

    /// The token.
    pub fn value(&self) -> &Secret {
        &self.value
    }

    fn is_fresh(&self) -> bool {
        Instant::now() < self.refresh_at
    }
}

/// What is left of `lifetime` for a token issued at `issued_at` (RFC 3339); `None` if the
/// time does not parse. A token "issued in the future" (clock skew) has all of it left.
fn remaining(issued_at: &str, lifetime: Duration) -> Option<Duration> {
    let format = &time::format_description::well_known::Rfc3339;
    let issued = time::OffsetDateTime::parse(issued_at, format).ok()?;
    let age = time::OffsetDateTime::now_utc() - issued;
    let age = Duration::try_from(age).unwrap_or(Duration::ZERO);
    Some(lifetime.saturating_sub(age))
}

/// Bearer tokens by [`TokenKey`], plus the key last used for each caller-chosen hint (a
/// registry and scope, a repository path), so that a request can carry a token before the
/// server has challenged it.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<TokenKey, Token>>,
    hints: Mutex<HashMap<String, TokenKey>>,
    /// One lock per key, held while its token is fetched.
    flights: Mutex<HashMap<TokenKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fresh token last obtained for `hint`, if any.
    pub fn cached(&self, hint: &str) -> Option<Secret> {
        let key = self.hints.lock().ok()?.get(hint)?.clone();
        let tokens = self.tokens.lock().ok()?;
        tokens
            .get(&key)
            .filter(|t| t.is_fresh())
            .map(|t| t.value.clone())
    }

    /// The token for `key`: the cached one unless it is stale or is `rejected` (the one the
    /// server just refused), else one from `fetch`. Callers that ask for the same key at the
    /// same time wait for one `fetch`. Remembers `key` for `hint`.
    pub async fn get_or_fetch<E, Fut>(
        &self,
        hint: &str,
        key: TokenKey,
        rejected: Option<&Secret>,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<Secret, E>
    where
        Fut: Future<Output = Result<Token, E>>,
    {
        if let Ok(mut hints) = self.hints.lock() {
            hints.insert(hint.to_owned(), key.clone());
        }
        let flight = match self.flights.lock() {
            Ok(mut flights) => Arc::clone(flights.entry(key.clone()).or_default()),
            Err(_) => Arc::default(),
        };
        let _one_fetch_at_a_time = flight.lock().await;
        if let Some(token) = self.fresh(&key)
            && Some(&token) != rejected
        {
            return Ok(token);
        }
        let token = fetch().await?;
        let value = token.value.clone();
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(key, token);
        }
        Ok(value)
    }

    fn fresh(&self, key: &TokenKey) -> Option<Secret> {
        let tokens = self.tokens.lock().ok()?;
        tokens
            .get(key)
            .filter(|t| t.is_fresh())
            .map(|t| t.value.clone())
    }
}

/// A request for a token.
#[derive(Clone, Copy, Debug)]
pub struct TokenRequest<'a> {
    /// The token service's URL (from the challenge).
    pub realm: &'a str,
    /// The service (from the challenge).
    pub service: Option<&'a str>,
    /// The scopes wanted.
    pub scopes: &'a [String],
    /// What to present: basic credentials go in an `Authorization` header of a `GET`, an
    /// identity token is exchanged with an OAuth2 `refresh_token` `POST`.
    pub credentials: &'a Credentials,
    /// The OAuth2 `client_id` of refresh-token requests.
    pub client_id: &'a str,
}

impl TokenRequest<'_> {
    /// Asks the token service, reading at most [`TOKEN_RESPONSE_LIMIT`] bytes.
    pub async fn send(&self, http: &reqwest::Client) -> Result<Token, Error> {
        let realm = self.realm;
        let url = reqwest::Url::parse(realm)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .ok_or_else(|| Error::TokenService {
                realm: realm.to_owned(),
                status: None,
                reason: "the challenge's realm is not an http(s) URL".to_owned(),
            })?;
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = self.service {
            query.push(("service", service));
        }
        for scope in self.scopes {
            query.push(("scope", scope));
        }
        let request = match self.credentials {
            Credentials::IdentityToken(token) => {
                query.extend([
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.expose()),
                    ("client_id", self.client_id),
                ]);
                http.post(url).form(&query)
            }
            credentials => {
                let request = http.get(url).query(&query);
                match credentials.basic_header() {
                    Some(basic) => request.header(reqwest::header::AUTHORIZATION, basic.expose()),
                    None => request,
                }
            }
        };
        let response = request.send().await.map_err(|source| Error::Request {
            url: realm.to_owned(),
            source,
        })?;
        let status = response.status();
        if matches!(status.as_u16(), 401 | 403) {
            return Err(Error::TokenDenied {
                realm: realm.to_owned(),
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            return Err(Error::TokenService {
                realm: realm.to_owned(),
                status: Some(status.as_u16()),
                reason: crate::error_body(response).await,
            });
        }
        let body = crate::read_limited(response, TOKEN_RESPONSE_LIMIT).await?;
        Token::from_response(&body, realm)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[test]
    fn response_fields() {
        let token =
            Token::from_response(br#"{"access_token":"abc","expires_in":300}"#, "r").unwrap();
        assert_eq!(token.value().expose(), "abc");
        let left = token.refresh_at - Instant::now();
        assert!(
            left > Duration::from_secs(280) && left <= Duration::from_secs(290),
            "{left:?}"
        );
        let default = Token::from_response(br#"{"token":"t"}"#, "r").unwrap();
        assert!(default.refresh_at - Instant::now() <= DEFAULT_TOKEN_LIFETIME - REFRESH_EARLY);
        let old = Token::from_response(
            br#"{"token":"t","expires_in":300,"issued_at":"2001-01-01T00:00:00Z"}"#,
            "r",
        )
        .unwrap();
        assert!(!old.is_fresh());
        for bad in [&b"{}"[..], br#"{"token":""}"#, b"<html>"] {
            assert!(matches!(
                Token::from_response(bad, "https://t/"),
                Err(Error::TokenService { status: None, .. })
            ));
        }
    }

    fn key(scope: &str) -> TokenKey {
        TokenKey {
            realm: "https://auth.example/token".to_owned(),
            service: Some("registry".to_owned()),
            scope: scope.to_owned(),
        }
    }

    #[tokio::test]
    async fn stale_and_rejected_tokens_are_fetched_again() {
        let cache = TokenCache::new();
        assert_eq!(cache.cached("repo"), None);
        let first = cache
            .get_or_fetch::<Error, _>("repo", key("pull"), None, || async {
                Ok(Token::new(Secret::new("one"), Duration::from_secs(300)))
            })
            .await
            .unwrap();
        assert_eq!(cache.cached("repo").as_ref(), Some(&first));
        let reused = cache
            .get_or_fetch::<Error, _>("repo", key("pull"), None, || async {
                panic!("fetched although cached")
            })
            .await
            .unwrap();
        assert_eq!(reused, first);
        let replaced = cache
            .get_or_fetch::<Error, _>("repo", key("pull"), Some(&first), || async {
                Ok(Token::new(Secret::new("two"), Duration::ZERO))
            })
            .await
            .unwrap();
        assert_eq!(replaced.expose(), "two");
        // Expired at once: never served from the cache.
        assert_eq!(cache.cached("repo"), None);
    }
}
