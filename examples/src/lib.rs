//! Thin programs over the workspace crates: the HPVS secure build lab and small CLIs.
//!
//! The binaries live in `src/bin/`:
//!
//! - `lab`: the HPVS secure build lab on the embedded default stack (`./scripts/lab.sh`). Today
//!   it runs the key set-up path end to end against the real notary-server and Go `notary`
//!   client; the later lab steps arrive with the crates that implement them.
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
