//! A string that never prints: passphrases, `docker_password`, secret values.
//!
//! It is `registry-http`'s [`Secret`] (the one the registry and notary clients use too, with
//! no network code behind it): `Debug` prints `[redacted]` and the memory is wiped on drop.
//! It serializes as the plain string because the registration JSON carries it that way
//! (inside the encryption).

pub use registry_http::Secret;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn redacted_but_serialized_in_the_clear() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"hunter2\"");
        let back: Secret = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(back, secret);
    }
}
