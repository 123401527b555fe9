//! Side-by-side benchmarks of the workspace crates against the anchor tools.
//!
//! This crate holds no library code of its own beyond the small helpers shared by the bench
//! binaries in `benches/benches/`: running an anchor tool and reading criterion's estimates.
//! Run them with `cargo bench -p benches`; each prints our rate, the anchor's, and the ratio.

use std::path::Path;
use std::process::Command;

/// Sign and verify rates (operations per second) that `openssl speed` reports for one algorithm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpensslRates {
    /// Signatures per second.
    pub sign_per_sec: f64,
    /// Verifications per second.
    pub verify_per_sec: f64,
}

/// Runs `openssl speed -seconds N <algorithms>` and returns its output, or why it could not run.
pub fn openssl_speed(seconds: u32, algorithms: &[&str]) -> Result<String, String> {
    let output = Command::new("openssl")
        .arg("speed")
        .arg("-seconds")
        .arg(seconds.to_string())
        .args(algorithms)
        .output()
        .map_err(|e| format!("cannot run openssl (install it with ./scripts/test.sh): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "openssl speed failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Finds the row of `openssl speed` output whose label contains `label` (for example
/// `ecdsa (nistp256)` or `EdDSA (Ed25519)`) and reads its last two columns: sign/s, verify/s.
pub fn parse_speed_row(output: &str, label: &str) -> Option<OpensslRates> {
    let line = output.lines().find(|l| l.contains(label))?;
    let mut numbers = line.split_whitespace().rev();
    let verify_per_sec = numbers.next()?.parse().ok()?;
    let sign_per_sec = numbers.next()?.parse().ok()?;
    Some(OpensslRates {
        sign_per_sec,
        verify_per_sec,
    })
}

/// Reads the mean time per iteration, in nanoseconds, that criterion saved for `group/function`
/// under `criterion_dir`.
pub fn criterion_mean_ns(criterion_dir: &Path, group: &str, function: &str) -> Option<f64> {
    let path = criterion_dir
        .join(group)
        .join(function)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openssl_speed_rows() {
        let out = "                              sign    verify    sign/s verify/s\n \
                   256 bits ecdsa (nistp256)   0.0000s   0.0001s  24628.1   8351.1\n \
                   253 bits EdDSA (Ed25519)   0.0001s   0.0002s  11346.7   4711.1\n";
        let ecdsa = parse_speed_row(out, "ecdsa (nistp256)").unwrap();
        assert_eq!(ecdsa.sign_per_sec, 24628.1);
        assert_eq!(ecdsa.verify_per_sec, 8351.1);
        let ed = parse_speed_row(out, "EdDSA (Ed25519)").unwrap();
        assert_eq!(ed.verify_per_sec, 4711.1);
        assert!(parse_speed_row(out, "rsa").is_none());
    }
}
