//! Side-by-side benchmarks of the workspace crates against the anchor tools.
//!
//! This crate holds no library code of its own beyond the helpers shared by the bench
//! binaries in `benches/benches/`:
//!
//! - [`rounds`]: running ours and theirs in alternating order, round after round;
//! - [`stats`]: median, spread (min-max) and ratio of the rounds;
//! - [`table`]: the rows of results and their printing, `median (min-max)` and the ratio;
//! - [`process`]: peak RSS and CPU time from `/proc`, `sync`, free ports, waiting for HTTP;
//! - [`noise`]: incompressible bytes for bench images;
//! - here: settings from the environment, running an anchor tool (`openssl speed`) and
//!   reading criterion's estimates.
//!
//! Run the benches with `cargo bench -p benches`; each prints our figures, the anchor's, and
//! the ratio. A bench in a nutshell:
//!
//! ```
//! use benches::rounds::{in_turn_blocking, ours_first};
//! use benches::table::{Ratio, Row, Table};
//!
//! const TABLE: Table = Table {
//!     label_width: 12,
//!     cell_width: 18,
//!     ratio_width: 6,
//!     decimals: 1,
//!     ratio_decimals: 2,
//!     ratio: Ratio::OursOverTheirs,
//!     ratio_suffix: "",
//! };
//! let rounds = benches::env_number("EXAMPLE_BENCH_ROUNDS", 3);
//! let mut row = Row::default();
//! for round in 0..rounds {
//!     // Stand-ins for two timed runs, in ms.
//!     let (ours, theirs) = in_turn_blocking(ours_first(round), || 10.0, || 20.0);
//!     row.push(ours, theirs);
//! }
//! println!("{}", TABLE.header("row", "ours", "theirs", "ratio"));
//! TABLE.print("one thing", &row);
//! assert_eq!(row.ratio(Ratio::OursOverTheirs), Some(0.5));
//! ```

pub mod noise;
pub mod process;
pub mod rounds;
pub mod stats;
pub mod table;

use std::path::Path;
use std::process::Command;

/// The value of the environment variable `name` parsed as a `T`, or `default` when it is
/// unset or does not parse.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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
    fn env_numbers_fall_back_to_the_default() {
        assert_eq!(env_number("BENCHES_TEST_SURELY_UNSET_VARIABLE", 7u32), 7);
        // PATH is set, and not a number.
        assert_eq!(env_number("PATH", 3usize), 3);
    }

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
