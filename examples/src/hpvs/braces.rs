//! The `hpvs` CLI's brace syntax: `--quotagroup "{quotagroup = Q, mountid = new, ...}"`,
//! `--ports "{containerport = 443, protocol = tcp, hostport = 30000}"` and the forms of
//! `--env`.
//!
//! `--env` arrives in three shapes because of the shell: typed in bash,
//! `--env={A=1,B="x,y"}` is brace-expanded into `--env=A=1 --env=B=x,y` (quoted commas do not
//! split, and the quotes are removed), while a single-entry `--env={A=1}` or a quoted
//! `--env "{A=1,B=2}"` stays literal. So a value that starts with `{` is a list, and any other
//! is one `KEY=VALUE` whose value runs to the end, commas included.

use std::collections::BTreeMap;

use hpvs_api::wire::{Mount, PortMapping, Protocol, parse_size};

/// A `--env`, `--quotagroup` or `--ports` value that does not read: the option, the whole
/// text given, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {option} {text:?}: {reason}")]
pub struct SyntaxError {
    /// The option (`--env`...).
    pub option: &'static str,
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl SyntaxError {
    fn new(option: &'static str, text: &str, reason: impl Into<String>) -> Self {
        Self {
            option,
            text: text.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Splits `{k = v, k2 = "v,2", ...}` into its pairs, in order. The braces are optional;
/// spaces around keys, values, `=` and `,` are ignored; a value in double quotes may hold
/// commas, `=` and spaces (`\"` and `\\` inside quotes stand for `"` and `\`). Keys are
/// letters, digits and `_`, each given once. `{}` is an empty list.
pub fn parse_pairs(option: &'static str, text: &str) -> Result<Vec<(String, String)>, SyntaxError> {
    let fail = |reason: String| SyntaxError::new(option, text, reason);
    let trimmed = text.trim();
    let inner = match (trimmed.strip_prefix('{'), trimmed.ends_with('}')) {
        (Some(rest), true) => &rest[..rest.len() - 1],
        (Some(_), false) => return Err(fail("missing the closing }".to_owned())),
        (None, true) => return Err(fail("missing the opening {".to_owned())),
        (None, false) => trimmed,
    };
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for entry in split_outside_quotes(inner).map_err(fail)? {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(fail(
                "an empty entry (two commas in a row, or a trailing comma)".to_owned(),
            ));
        }
        let (key, value) = split_entry(entry).map_err(fail)?;
        if pairs.iter().any(|(seen, _)| *seen == key) {
            return Err(fail(format!("{key} is given twice")));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Reads every `--env` value (see the module doc) into one map; a name given twice, across
/// values or within one, is an error naming the value that repeats it.
pub fn parse_env(values: &[String]) -> Result<BTreeMap<String, String>, SyntaxError> {
    const OPTION: &str = "--env";
    let mut env = BTreeMap::new();
    for text in values {
        let pairs = if text.trim_start().starts_with('{') {
            parse_pairs(OPTION, text)?
        } else {
            vec![split_bare_entry(text).map_err(|reason| SyntaxError::new(OPTION, text, reason))?]
        };
        for (key, value) in pairs {
            let first = key.chars().next();
            if first.is_some_and(|c| c.is_ascii_digit()) {
                return Err(SyntaxError::new(
                    OPTION,
                    text,
                    format!("an env name cannot start with a digit: {key}"),
                ));
            }
            if env.contains_key(&key) {
                return Err(SyntaxError::new(
                    OPTION,
                    text,
                    format!("{key} is given twice"),
                ));
            }
            env.insert(key, value);
        }
    }
    Ok(env)
}

/// Reads a `--quotagroup` value: `{quotagroup = Q, mountid = ID, mount = /PATH, filesystem =
/// ext4|xfs|btrfs, size = 4GB[, reset_root = true|false]}`.
pub fn parse_mount(text: &str) -> Result<Mount, SyntaxError> {
    const OPTION: &str = "--quotagroup";
    const KEYS: [&str; 6] = [
        "quotagroup",
        "mountid",
        "mount",
        "filesystem",
        "size",
        "reset_root",
    ];
    let fail = |reason: String| SyntaxError::new(OPTION, text, reason);
    let mut fields = Fields::read(OPTION, text, &KEYS)?;
    let quotagroup = fields.required("quotagroup").map_err(fail)?;
    let mountid = fields.required("mountid").map_err(fail)?;
    let mount = fields.required("mount").map_err(fail)?;
    if !mount.starts_with('/') {
        return Err(fail(format!(
            "mount must be an absolute path, got {mount:?}"
        )));
    }
    let filesystem = fields
        .required("filesystem")
        .map_err(fail)?
        .parse()
        .map_err(|e: hpvs_api::wire::ParseError| fail(e.to_string()))?;
    let size =
        parse_size(&fields.required("size").map_err(fail)?).map_err(|e| fail(e.to_string()))?;
    let reset_root = match fields.optional("reset_root") {
        None => false,
        Some(value) => match value.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                return Err(fail(format!(
                    "reset_root must be true or false, got {value:?}"
                )));
            }
        },
    };
    Ok(Mount {
        quotagroup,
        mountid,
        mount,
        filesystem,
        size,
        reset_root,
    })
}

/// Reads a `--ports` value: `{containerport = 443, protocol = tcp, hostport = 30000}`
/// (`protocol` is optional; `tcp` is the only one).
pub fn parse_port(text: &str) -> Result<PortMapping, SyntaxError> {
    const OPTION: &str = "--ports";
    let fail = |reason: String| SyntaxError::new(OPTION, text, reason);
    let mut fields = Fields::read(OPTION, text, &["containerport", "protocol", "hostport"])?;
    let port = |key: &str, value: String| -> Result<u16, SyntaxError> {
        match value.parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            _ => Err(fail(format!("{key} must be a port 1-65535, got {value:?}"))),
        }
    };
    let containerport = port(
        "containerport",
        fields.required("containerport").map_err(fail)?,
    )?;
    let hostport = port("hostport", fields.required("hostport").map_err(fail)?)?;
    let protocol = match fields.optional("protocol") {
        None => Protocol::Tcp,
        Some(value) if value.eq_ignore_ascii_case("tcp") => Protocol::Tcp,
        Some(value) => return Err(fail(format!("protocol must be tcp, got {value:?}"))),
    };
    Ok(PortMapping {
        containerport,
        protocol,
        hostport,
    })
}

/// The pairs of one brace value, checked against the keys its option knows.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn read(option: &'static str, text: &str, known: &[&str]) -> Result<Self, SyntaxError> {
        let mut pairs = parse_pairs(option, text)?;
        for (key, _) in &mut pairs {
            key.make_ascii_lowercase();
            if !known.contains(&key.as_str()) {
                return Err(SyntaxError::new(
                    option,
                    text,
                    format!("unknown key {key:?}: expected {}", known.join(", ")),
                ));
            }
        }
        Ok(Self(pairs))
    }

    fn optional(&mut self, key: &str) -> Option<String> {
        let index = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.swap_remove(index).1)
    }

    fn required(&mut self, key: &str) -> Result<String, String> {
        match self.optional(key) {
            Some(value) if !value.is_empty() => Ok(value),
            Some(_) => Err(format!("{key} is empty")),
            None => Err(format!("{key} is missing")),
        }
    }
}

/// Splits at the commas outside double quotes.
fn split_outside_quotes(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (index, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err("an unterminated double quote".to_owned());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// `KEY=VALUE` (spaces around `=` ignored), the value unquoted.
fn split_entry(entry: &str) -> Result<(String, String), String> {
    let Some((key, value)) = entry.split_once('=') else {
        return Err(format!("expected KEY=VALUE, got {entry:?}"));
    };
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "invalid key {key:?}: expected letters, digits and _"
        ));
    }
    Ok((key.to_owned(), unquote(value.trim())?))
}

/// A bare `KEY=VALUE`: the value runs to the end, commas, braces and quotes included (the
/// shell has removed the quotes the user typed), unless it is wholly in double quotes.
fn split_bare_entry(entry: &str) -> Result<(String, String), String> {
    let Some((key, value)) = entry.trim().split_once('=') else {
        return Err(format!("expected KEY=VALUE, got {entry:?}"));
    };
    let (key, _) = split_entry(&format!("{key}="))?;
    let value = value.trim();
    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        return Ok((key, unquote(value)?));
    }
    Ok((key, value.to_owned()))
}

/// The value inside double quotes (with `\"` and `\\` unescaped), or the value as it is.
fn unquote(value: &str) -> Result<String, String> {
    let Some(inner) = value.strip_prefix('"') else {
        if value.contains('"') {
            return Err(format!(
                "a double quote inside an unquoted value: {value:?}"
            ));
        }
        return Ok(value.to_owned());
    };
    let mut text = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ ('"' | '\\')) => text.push(next),
                Some(other) => {
                    text.push('\\');
                    text.push(other);
                }
                None => return Err(format!("an unterminated double quote: {value:?}")),
            },
            '"' if chars.as_str().is_empty() => return Ok(text),
            '"' => return Err(format!("text after the closing quote: {value:?}")),
            _ => text.push(c),
        }
    }
    Err(format!("an unterminated double quote: {value:?}"))
}

#[cfg(test)]
#[path = "braces_tests.rs"]
mod tests;
