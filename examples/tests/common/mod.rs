//! What the CLI tests share: judging a finished command and listing the files it left.

use std::path::Path;
use std::process::Output;

/// Asserts that the command succeeded and returns its stdout (both streams shown if not).
pub fn succeeded(output: Output) -> String {
    assert!(
        output.status.success(),
        "expected success; stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Asserts that the command failed and returns its stderr (stdout shown if it did not).
pub fn failed(output: Output) -> String {
    assert!(
        !output.status.success(),
        "expected a failure; stdout:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr).unwrap()
}

/// The sorted names of the entries of `dir`; none when it does not exist.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
