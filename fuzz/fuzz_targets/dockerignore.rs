//! `.dockerignore` files from a build context: parsing never panics, and matching the paths
//! the file itself mentions (and a few fixed ones) never panics and is consistent
//! (`is_excluded` agrees with `excluded_by`, whose line exists).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_push::DockerIgnore;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ignore) = DockerIgnore::parse(text) else {
        return;
    };
    let _ = ignore.has_exceptions();
    let lines = text.lines().count();
    let mentioned = text.lines().flat_map(|l| {
        let l = l.trim().trim_start_matches('!');
        [l.to_owned(), format!("{l}/x"), format!("a/{l}")]
    });
    let fixed = [
        "",
        ".",
        "a",
        "a/b",
        ".git/config",
        "Dockerfile",
        ".dockerignore",
    ]
    .into_iter()
    .map(str::to_owned);
    for path in mentioned.chain(fixed).take(256) {
        let by = ignore.excluded_by(&path);
        assert_eq!(ignore.is_excluded(&path), by.is_some());
        if let Some(by) = by {
            assert!(
                by.line >= 1 && by.line <= lines,
                "line {} of {lines}",
                by.line
            );
        }
    }
});
