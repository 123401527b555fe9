//! Thin programs over the workspace crates: the HPVS secure build lab and small CLIs.
//!
//! The binaries live in `src/bin/`:
//!
//! - `lab`: the HPVS secure build lab on the embedded default stack (`./scripts/lab.sh`): steps
//!   1-4 and 6 against the real notary-server and docker-registry; step 5 waits for the
//!   appliance emulator.
//! - `trust`: a Docker Content Trust client with the Go `notary` client's commands and output.
//! - `oci`: push, pull, build, digest and unpack of OCI images.
//! - `regfile`: repository registration files and HPCR contracts.
//!
//! This library part holds only what the binaries share.

use std::fmt::Display;

/// Prints a numbered lab stage heading, e.g. `[2/5] DCT keys`.
pub fn stage(number: usize, total: usize, title: impl Display) {
    println!("\n[{number}/{total}] {title}");
}

/// Prints an indented detail line under a stage.
pub fn detail(text: impl Display) {
    println!("      {text}");
}
