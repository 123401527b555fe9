//! The words of a Dockerfile instruction: variable expansion, quoting, `KEY=VALUE` pairs,
//! JSON arrays and paths against the working directory.

use std::collections::BTreeMap;

/// `dir` made absolute against the working directory.
pub(super) fn absolute(dir: &str, workdir: Option<&str>) -> String {
    if dir.starts_with('/') {
        dir.to_owned()
    } else {
        format!("{}/{dir}", workdir.unwrap_or("").trim_end_matches('/'))
    }
}

/// The absolute `path` with `.` and `..` resolved, `..` stopping at `/` (as Docker treats
/// `WORKDIR ../../w`).
pub(super) fn clamped(path: &str) -> String {
    if !path.split('/').any(|part| part == ".." || part == ".") {
        return path.to_owned();
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Expands `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}`; `\$` is a
/// literal dollar.
pub(super) fn expand(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'$') => {
                out.push('$');
                chars.next();
            }
            '$' if chars.peek() == Some(&'{') => {
                chars.next();
                let inner: String = std::iter::from_fn(|| chars.next_if(|c| *c != '}')).collect();
                if chars.next() != Some('}') {
                    return Err(format!("unterminated ${{ in {text:?}"));
                }
                let value = if let Some((name, default)) = inner.split_once(":-") {
                    vars.get(name)
                        .filter(|v| !v.is_empty())
                        .cloned()
                        .unwrap_or_else(|| default.to_owned())
                } else if let Some((name, alternative)) = inner.split_once(":+") {
                    if vars.get(name).is_some_and(|v| !v.is_empty()) {
                        alternative.to_owned()
                    } else {
                        String::new()
                    }
                } else {
                    vars.get(&inner).cloned().unwrap_or_default()
                };
                out.push_str(&value);
            }
            '$' if chars
                .peek()
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') =>
            {
                let name: String = std::iter::from_fn(|| {
                    chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_')
                })
                .collect();
                out.push_str(vars.get(&name).map_or("", String::as_str));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Shell-like words: whitespace-separated, with '...' and "..." quoting and `\` escapes.
pub(super) fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => word.extend(chars.next()),
                        Some(other) => word.push(other),
                        None => return Err(format!("unterminated quote in {text:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

pub(super) fn unquote(text: &str) -> String {
    split_words(text)
        .ok()
        .and_then(|w| w.into_iter().next())
        .unwrap_or_default()
}

/// `K=V K2="V 2"` pairs, or the legacy `K V...` form (ENV only), unquoted; variables are
/// expanded when the instruction is built.
pub(super) fn key_values(args: &str, legacy: bool) -> Result<Vec<(String, String)>, String> {
    let words = split_words(args)?;
    if legacy
        && let Some(first) = words.first()
        && !first.contains('=')
    {
        let value = args.trim_start()[first.len()..].trim();
        if value.is_empty() {
            return Err(format!(
                "ENV {first} has no value: write ENV {first}=VALUE (or ENV {first}= for an empty one)"
            ));
        }
        return Ok(vec![(first.clone(), value.to_owned())]);
    }
    words
        .iter()
        .map(|w| {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| format!("{w:?} is not KEY=VALUE"))?;
            if k.is_empty() {
                return Err(format!("{w:?} has an empty key"));
            }
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

pub(super) fn json_array(text: &str) -> Result<Vec<String>, String> {
    serde_json::from_str::<Vec<String>>(text)
        .map_err(|e| format!("invalid JSON array {text:?}: {e}"))
}
