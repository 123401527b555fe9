//! Incompressible bytes for bench images: layers that gzip cannot shrink, so that a bench
//! moves as many bytes as it claims.
//!
//! ```
//! use std::io::Read as _;
//!
//! let mut bytes = Vec::new();
//! benches::noise::Noise::new(1, 1000).read_to_end(&mut bytes).unwrap();
//! assert_eq!(bytes.len(), 1000);
//! ```

/// The state every [`Noise`] starts from, xor its salt (the first digits of pi).
const BASE: u64 = 0x243f_6a88_85a3_08d3;

/// A reader of a fixed number of pseudo-random bytes (xorshift64), the same for the same
/// salt.
#[derive(Debug, Clone)]
pub struct Noise {
    state: u64,
    left: u64,
}

impl Noise {
    /// `len` bytes from a generator seeded with `0x243f_6a88_85a3_08d3 ^ salt` (a salt equal
    /// to that constant would give zeros).
    pub fn new(salt: u64, len: u64) -> Noise {
        Noise {
            state: BASE ^ salt,
            left: len,
        }
    }
}

impl std::io::Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for word in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            word.copy_from_slice(&self.state.to_le_bytes()[..word.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn bytes(salt: u64, len: u64) -> Vec<u8> {
        let mut out = Vec::new();
        Noise::new(salt, len).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn same_salt_same_bytes_other_salt_other_bytes() {
        let a = bytes(1, 4099);
        assert_eq!(a.len(), 4099);
        assert_eq!(a, bytes(1, 4099));
        assert_ne!(a, bytes(2, 4099));
        assert!(bytes(3, 0).is_empty());
    }

    #[test]
    fn bytes_are_spread_out() {
        let data = bytes(7, 1 << 16);
        let mut seen = [0u32; 256];
        for b in &data {
            seen[usize::from(*b)] += 1;
        }
        // Every byte value turns up: nothing for gzip to shrink.
        assert!(seen.iter().all(|&n| n > 0));
    }
}
