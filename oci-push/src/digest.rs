//! Content digests (`sha256:<hex>`), hashing adapters that hash each byte once while it
//! is copied, and the one bounded-read check used for every download.

use std::fmt;
use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::Error;

/// A validated `sha256:<64 lowercase hex>` content digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    /// The `sha256:<hex>` form (ordering and equality follow it); boxed, so that errors
    /// carrying two digests stay small.
    text: Box<str>,
    /// The 32 bytes it names.
    sha256: [u8; 32],
}

impl Digest {
    /// Parses and validates a digest string. Only sha256 is supported (the algorithm every
    /// registry and skopeo use); other algorithms are refused rather than trusted unchecked.
    pub fn parse(text: &str) -> Result<Digest, Error> {
        let invalid = |reason: &str| Error::InvalidDigest {
            digest: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (algorithm, hex) = text
            .split_once(':')
            .ok_or_else(|| invalid("expected ALGORITHM:HEX"))?;
        if algorithm != "sha256" {
            return Err(invalid("only sha256 digests are supported"));
        }
        let mut sha256 = [0u8; 32];
        if hex.len() != 64
            || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            || hex::decode_to_slice(hex, &mut sha256).is_err()
        {
            return Err(invalid("expected 64 lowercase hexadecimal digits"));
        }
        Ok(Digest {
            text: text.into(),
            sha256,
        })
    }

    /// The digest whose sha256 is `sha256` (what a Docker Content Trust target records).
    pub fn from_sha256(sha256: [u8; 32]) -> Digest {
        Digest {
            text: format!("sha256:{}", hex::encode(sha256)).into(),
            sha256,
        }
    }

    /// The 32 bytes of the sha256.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    pub(crate) fn from_hasher(hasher: Sha256) -> Digest {
        Digest::from_sha256(hasher.finalize().into())
    }

    /// The full `sha256:<hex>` form.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The hexadecimal part (the file name under `blobs/sha256/`).
    pub fn hex(&self) -> &str {
        self.text.split_once(':').map_or("", |(_, hex)| hex)
    }

    /// Checks that `bytes` hash to this digest.
    pub fn verify(&self, what: &str, bytes: &[u8]) -> Result<(), Error> {
        let actual = Digest::of(bytes);
        if actual != *self {
            return Err(Error::DigestMismatch {
                what: what.to_owned(),
                expected: self.clone(),
                actual,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

impl std::str::FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

/// The running check of one stream against its descriptor: counts and hashes bytes as they
/// pass, refuses the first byte past the expected size, and compares at the end.
pub(crate) struct Verifier {
    what: String,
    expected_digest: Digest,
    expected_size: u64,
    hasher: Sha256,
    seen: u64,
}

impl Verifier {
    pub(crate) fn new(what: impl Into<String>, digest: &Digest, size: u64) -> Verifier {
        Verifier {
            what: what.into(),
            expected_digest: digest.clone(),
            expected_size: size,
            hasher: Sha256::new(),
            seen: 0,
        }
    }

    /// The same check from the first byte again (for a transfer that starts over).
    pub(crate) fn restart(self) -> Verifier {
        Verifier {
            hasher: Sha256::new(),
            seen: 0,
            ..self
        }
    }

    /// Feeds a chunk; fails as soon as the stream is longer than expected.
    pub(crate) fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.seen += chunk.len() as u64;
        if self.seen > self.expected_size {
            return Err(Error::SizeMismatch {
                what: self.what.clone(),
                expected: self.expected_size,
                actual: self.seen,
            });
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// Checks size and digest once the stream has ended.
    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.seen != self.expected_size {
            return Err(Error::SizeMismatch {
                what: self.what,
                expected: self.expected_size,
                actual: self.seen,
            });
        }
        let actual = Digest::from_hasher(self.hasher);
        if actual != self.expected_digest {
            return Err(Error::DigestMismatch {
                what: self.what,
                expected: self.expected_digest,
                actual,
            });
        }
        Ok(())
    }
}

/// A writer that hashes and counts what passes through it.
pub(crate) struct HashingWriter<W> {
    pub(crate) inner: W,
    pub(crate) hasher: Sha256,
    pub(crate) written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// The inner writer, the digest and the byte count.
    pub(crate) fn finish(self) -> (W, Digest, u64) {
        (self.inner, Digest::from_hasher(self.hasher), self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that refuses to yield more than `limit` bytes (it errors instead of truncating).
pub(crate) struct LimitedReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> LimitedReader<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        LimitedReader {
            inner,
            remaining: limit,
        }
    }
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.remaining {
            return Err(io::Error::other("input exceeds its size limit"));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn parses_and_refuses() {
        let d = Digest::of(b"hello");
        assert_eq!(
            d.as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        assert!(Digest::parse("sha512:00").is_err());
        assert!(Digest::parse("sha256:../../etc/passwd").is_err());
        assert!(Digest::parse(&d.as_str().to_uppercase()).is_err());
        assert_eq!(Digest::from_sha256(d.sha256()), d);
        assert_eq!(hex::encode(d.sha256()), d.hex());
    }

    #[test]
    fn verifier_catches_size_and_digest() {
        let d = Digest::of(b"abc");
        let mut v = Verifier::new("blob", &d, 3);
        v.update(b"abc").unwrap();
        v.finish().unwrap();
        let mut v = Verifier::new("blob", &d, 3);
        assert!(matches!(v.update(b"abcd"), Err(Error::SizeMismatch { .. })));
        let mut v = Verifier::new("blob", &d, 3);
        v.update(b"abd").unwrap();
        assert!(matches!(v.finish(), Err(Error::DigestMismatch { .. })));
    }
}
