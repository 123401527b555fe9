//! `.dockerignore`: which files of a build context `COPY` and `ADD` leave out, with Docker's
//! rules.
//!
//! One pattern per line; blank lines and lines starting with `#` are skipped; surrounding
//! whitespace is trimmed. Patterns are cleaned (`./a//b/` is `a/b`, a leading `/` is
//! dropped) and matched against paths relative to the context root: `*` is any run of
//! characters but `/`, `?` one such character, `[...]` a class, `\` escapes the next
//! character, and `**` any number of directories (none included). A pattern that matches a
//! directory excludes everything below it. A line starting with `!` is an exception that
//! re-includes what it matches; the last pattern that matches a path decides.
//!
//! ```
//! use oci_push::DockerIgnore;
//!
//! let ignore = DockerIgnore::parse("# build outputs\n**/*.log\ntarget\n*.md\n!README.md\n")?;
//! assert!(ignore.is_excluded("debug.log"));
//! assert!(ignore.is_excluded("logs/2024/debug.log"));
//! assert!(ignore.is_excluded("target/release/app"));
//! assert!(ignore.is_excluded("CHANGES.md"));
//! assert!(!ignore.is_excluded("README.md"));
//! assert!(!ignore.is_excluded("src/main.rs"));
//! # Ok::<(), oci_push::Error>(())
//! ```

use std::path::Path;

use regex::Regex;

use crate::Error;

/// The file name Docker reads at the root of a build context.
pub const DOCKERIGNORE: &str = ".dockerignore";

/// The patterns of a `.dockerignore` file.
#[derive(Clone, Debug, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

#[derive(Clone, Debug)]
struct Pattern {
    /// The pattern as cleaned, for messages.
    text: String,
    /// 1-based line in the file.
    line: usize,
    /// A `!` line.
    exception: bool,
    regex: Regex,
}

/// Why a path is left out: the pattern that decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Excluded {
    /// The pattern, as cleaned.
    pub pattern: String,
    /// Its 1-based line in `.dockerignore`.
    pub line: usize,
}

impl DockerIgnore {
    /// Reads `CONTEXT/.dockerignore`; no file means nothing is excluded.
    pub fn load(context: &Path) -> Result<DockerIgnore, Error> {
        let path = context.join(DOCKERIGNORE);
        match std::fs::read_to_string(&path) {
            Ok(text) => DockerIgnore::parse(&text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Ok(DockerIgnore::default())
            }
            Err(error) => Err(Error::io("read", path)(error)),
        }
    }

    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<DockerIgnore, Error> {
        let mut patterns = Vec::new();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (exception, body) = match trimmed.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, trimmed),
            };
            let text = clean(body);
            if text.is_empty() {
                if exception {
                    return Err(Error::DockerIgnore {
                        line,
                        pattern: trimmed.to_owned(),
                        reason: "an exception (`!`) needs a pattern after it".to_owned(),
                    });
                }
                continue;
            }
            let regex = Regex::new(&to_regex(&text)).map_err(|error| Error::DockerIgnore {
                line,
                pattern: text.clone(),
                reason: error.to_string(),
            })?;
            patterns.push(Pattern {
                text,
                line,
                exception,
                regex,
            });
        }
        Ok(DockerIgnore { patterns })
    }

    /// Whether no pattern was given.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `path` (relative to the context root, `/`-separated) is left out.
    pub fn is_excluded(&self, path: &str) -> bool {
        self.excluded_by(path).is_some()
    }

    /// The pattern that leaves `path` out, if any.
    pub fn excluded_by(&self, path: &str) -> Option<Excluded> {
        let path = clean(path);
        if path.is_empty() {
            // The context root itself is always sent.
            return None;
        }
        let parents: Vec<&str> = path.match_indices('/').map(|(at, _)| &path[..at]).collect();
        let mut decided: Option<&Pattern> = None;
        for pattern in &self.patterns {
            let excluded_now = decided.is_some_and(|p| !p.exception);
            // An exclusion cannot change an excluded path, nor an exception an included one.
            if pattern.exception != excluded_now {
                continue;
            }
            let matches = pattern.regex.is_match(&path)
                || parents.iter().any(|parent| pattern.regex.is_match(parent));
            if matches {
                decided = Some(pattern);
            }
        }
        decided.filter(|p| !p.exception).map(|p| Excluded {
            pattern: p.text.clone(),
            line: p.line,
        })
    }

    /// Whether there are exceptions (`!` lines): an excluded directory must then be walked
    /// rather than skipped whole, as one of its entries may be included again.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }
}

/// Docker's cleaning of a pattern or path: `.` and empty segments go, `..` pops, no leading
/// or trailing `/`.
fn clean(text: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// The anchored regular expression of a cleaned pattern.
fn to_regex(pattern: &str) -> String {
    let mut out = String::from("^");
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        if in_class {
            match c {
                ']' => {
                    in_class = false;
                    out.push(']');
                }
                '^' if out.ends_with('[') => out.push('^'),
                '-' => out.push('-'),
                '\\' => match chars.next() {
                    Some(next) => out.push_str(&regex::escape(&next.to_string())),
                    None => out.push_str(r"\\"),
                },
                other => out.push_str(&regex::escape(&other.to_string())),
            }
            continue;
        }
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                // `**/` is `**`: zero or more whole directories.
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    out.push_str(".*");
                } else {
                    out.push_str("(.*/)?");
                }
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => {
                in_class = true;
                out.push('[');
            }
            '\\' => match chars.next() {
                Some(next) => out.push_str(&regex::escape(&next.to_string())),
                None => out.push_str(r"\\"),
            },
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn ignore(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).unwrap()
    }

    #[test]
    fn the_examples_of_dockers_reference() {
        // From the `.dockerignore` section of Docker's build context documentation.
        let i = ignore("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
        assert!(i.is_excluded("somedir/temporary.txt"));
        assert!(i.is_excluded("somedir/temp"));
        assert!(i.is_excluded("somedir/subdir/temporary.txt"));
        assert!(i.is_excluded("tempa"));
        assert!(i.is_excluded("tempb"));
        assert!(!i.is_excluded("temporary.txt"));
        assert!(!i.is_excluded("a/b/c/temp.txt"));
        assert!(!i.is_excluded("# comment"));

        let i = ignore("**/*.go\n");
        assert!(i.is_excluded("main.go"));
        assert!(i.is_excluded("a/b/c/main.go"));
        assert!(!i.is_excluded("main.gox"));

        let i = ignore("*.md\n!README*.md\nREADME-secret.md\n");
        assert!(i.is_excluded("CHANGES.md"));
        assert!(!i.is_excluded("README.md"));
        assert!(!i.is_excluded("README-public.md"));
        assert!(i.is_excluded("README-secret.md"));

        let i = ignore("*.md\nREADME-secret.md\n!README*.md\n");
        assert!(!i.is_excluded("README-secret.md"));
    }

    #[test]
    fn a_matched_directory_excludes_its_tree_and_exceptions_reach_inside() {
        let i = ignore(".git\nnode_modules/\nbuild\n!build/keep.txt\n");
        assert!(i.is_excluded(".git"));
        assert!(i.is_excluded(".git/objects/ab/cdef"));
        assert!(i.is_excluded("node_modules/left-pad/index.js"));
        assert!(!i.is_excluded("src/.gitkeep"));
        assert!(i.is_excluded("build/out.o"));
        assert!(!i.is_excluded("build/keep.txt"));
        assert!(i.has_exceptions());
        assert_eq!(
            i.excluded_by("node_modules/x"),
            Some(Excluded {
                pattern: "node_modules".to_owned(),
                line: 2
            })
        );
    }

    #[test]
    fn patterns_and_paths_are_cleaned_and_anchored_at_the_root() {
        let i = ignore("\u{feff}  /secrets//key.pem  \n./cache/\n\n  \n");
        assert!(i.is_excluded("secrets/key.pem"));
        assert!(i.is_excluded("./secrets/key.pem"));
        assert!(i.is_excluded("cache/a"));
        assert!(!i.is_excluded("app/secrets/key.pem"));
        assert!(!i.is_excluded(""));
        assert!(!i.has_exceptions());
    }

    #[test]
    fn wildcards_stay_within_a_segment_and_escapes_are_literal() {
        let i = ignore("a/*/c\nx?z\n\\*.txt\nfile[0-9].log\nweird.(name)+\n");
        assert!(i.is_excluded("a/b/c"));
        assert!(!i.is_excluded("a/b/b/c"));
        assert!(i.is_excluded("xyz"));
        assert!(!i.is_excluded("x/z"));
        assert!(i.is_excluded("*.txt"));
        assert!(!i.is_excluded("notes.txt"));
        assert!(i.is_excluded("file7.log"));
        assert!(!i.is_excluded("fileA.log"));
        assert!(i.is_excluded("weird.(name)+"));
        assert!(!i.is_excluded("weirdX(name)"));
    }

    #[test]
    fn double_star_in_the_middle_matches_zero_or_more_directories() {
        let i = ignore("docs/**/draft.md\n**\n!src/**\n");
        assert!(i.is_excluded("anything/at/all"));
        assert!(!i.is_excluded("src/lib.rs"));
        assert!(!i.is_excluded("src/deep/er/mod.rs"));
        let i = ignore("docs/**/draft.md\n");
        assert!(i.is_excluded("docs/draft.md"));
        assert!(i.is_excluded("docs/a/b/draft.md"));
        assert!(!i.is_excluded("other/docs/draft.md"));
    }

    #[test]
    fn a_bare_exception_is_refused() {
        let error = DockerIgnore::parse("a\n!  \n").unwrap_err();
        assert!(
            matches!(&error, Error::DockerIgnore { line: 2, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_bad_class_names_its_line() {
        let error = DockerIgnore::parse("ok\nbad[z-a]\n").unwrap_err();
        assert!(
            matches!(&error, Error::DockerIgnore { line: 2, pattern, .. } if pattern == "bad[z-a]"),
            "{error}"
        );
    }
}
