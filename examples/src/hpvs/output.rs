//! How `hpvs` prints: tables or JSON on stdout (ending quietly when stdout is closed, see
//! [`crate::write_line`]), and the progress of a virtual server being created on stderr.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use hpvs_api::Client;
use hpvs_api::wire::VirtualServer;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::failure::CliError;
use super::table::Table;
use super::views;

/// How answers are printed: `--json`, or tables.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// Print JSON instead of tables.
    pub json: bool,
}

impl Output {
    /// `value` as JSON, or as the table `view` makes of it.
    pub fn show<T: Serialize + ?Sized>(self, value: &T, view: impl FnOnce(&T) -> Table) {
        if self.json {
            print_json(value);
        } else {
            crate::outln!("{}", view(value));
        }
    }

    /// What a delete removed: `Deleted <kind> <name>`, or
    /// `{"deleted": {"kind": ..., "name": ...}}`.
    pub fn deleted(self, kind: &str, name: &str) {
        if self.json {
            print_json(&serde_json::json!({"deleted": {"kind": kind, "name": name}}));
        } else {
            crate::outln!("Deleted {kind} {name}");
        }
    }
}

/// `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => crate::outln!("{text}"),
        // The wire types always serialise; say so rather than print nothing.
        Err(error) => crate::outln!("{{\"error\": {:?}}}", error.to_string()),
    }
}

/// Waits for `name` to settle (see [`Client::wait_until_settled`]), showing its current
/// step on stderr: a spinner on a terminal, one line per new step otherwise (the logs of
/// scripted runs).
pub async fn wait_with_progress(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> Result<VirtualServer, CliError> {
    let spinner = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut last_step = String::new();
    let settled = client
        .wait_until_settled(name, timeout, |server| {
            let step = views::status(server);
            match &spinner {
                Some(bar) => bar.set_message(format!("{name}: {step}")),
                None if step != last_step => {
                    // A closed stderr only loses the progress, not the result.
                    let _ = writeln!(std::io::stderr(), "{name}: {step}");
                }
                None => {}
            }
            last_step = step;
        })
        .await;
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    Ok(settled?)
}
