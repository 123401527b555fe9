//! Thin programs over the workspace crates: the HPVS secure build lab and small CLIs.
//!
//! The binaries live in `src/bin/`:
//!
//! - `lab`: the HPVS secure build lab on the embedded default stack (`./scripts/lab.sh`): all six
//!   steps through the appliance emulator, ending with the wallet reached over HTTPS; its steps
//!   are the library module [`lab`].
//! - `trust`: a Docker Content Trust client with the Go `notary` client's commands and output.
//! - `oci`: push, pull, build, digest and unpack of OCI images.
//! - `regfile`: repository registration files and HPCR contracts.
//! - `hpvs`: the appliance's `hpvs` CLI (registries, repositories, quotagroups, virtual
//!   servers, images) over `hpvs_api::Client`; its parsing and tables are in [`hpvs`].
//!
//! This library part holds what the binaries share, the `hpvs` CLI's testable parts and the
//! lab's steps.

use std::fmt::Display;

pub mod hpvs;
pub mod lab;

/// Writes one line to standard output; when stdout is closed (the reader, such as `head`, has
/// stopped reading) the program ends quietly with exit code 0 instead of panicking as
/// `println!` does. Any other write error ends it with exit code 1 and a message on stderr.
pub fn write_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(error) = writeln!(out, "{line}") {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {error}");
        std::process::exit(1);
    }
}

/// `println!` for the CLIs: a closed stdout ends the program quietly (see [`write_line`]).
///
/// ```
/// examples::outln!("{} tags", 3);
/// ```
#[macro_export]
macro_rules! outln {
    () => { $crate::write_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::write_line(format_args!($($arg)*)) };
}

/// Prints a numbered lab stage heading, e.g. `[2/5] DCT keys`.
pub fn stage(number: usize, total: usize, title: impl Display) {
    outln!("\n[{number}/{total}] {title}");
}

/// Prints an indented detail line under a stage.
pub fn detail(text: impl Display) {
    outln!("      {text}");
}
