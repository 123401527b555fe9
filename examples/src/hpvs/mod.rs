//! The library part of the `hpvs` CLI (`src/bin/hpvs.rs`): what it parses and prints, kept
//! out of the binary so that it is tested without an appliance.
//!
//! - [`braces`]: the `{k = v, ...}` syntax of `--quotagroup` and `--ports`, and `--env` in
//!   every shape the shell leaves it in.
//! - [`table`] and [`views`]: the `+---+` tables of each answer.
//! - [`input`]: the appliance's settings, a password from stdin, a registration file.
//! - [`output`]: tables or `--json` on stdout, progress on stderr.
//! - [`failure`]: the `ERROR: <CODE> <message>` line.
//! - [`sb`] and [`sb_config`]: `hpvs sb`, the Secure Build Server's commands, and the lab's
//!   `sb_config.yaml` mapped onto its init parameters; [`sb_regfile`] the registration file
//!   of a build.

pub mod braces;
pub mod failure;
pub mod input;
pub mod output;
pub mod sb;
pub mod sb_config;
pub mod sb_regfile;
pub mod table;
pub mod views;
