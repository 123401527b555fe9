//! Canonical JSON as docker/go's `canonical/json` writes it, and Go's time format.
//!
//! Notary signs the canonical bytes of a metadata file's `signed` object: object keys sorted
//! bytewise, no whitespace, strings escaping only `\` and `"` (non-ASCII written raw),
//! integers only. [`encode`] reproduces that byte for byte; it is idempotent on its own output,
//! which is how verification re-canonicalises what it parsed.
//!
//! Go's encoder writes control characters (U+0000 to U+001F) raw too, which makes invalid
//! JSON: the Go client's own publish of such a target name fails, and notary-server could not
//! parse it. No escaping can be byte-identical to Go there, so [`encode`] refuses them.

use serde_json::Value;
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// Encodes `value` as canonical JSON.
///
/// ```
/// let value = serde_json::json!({"b": 1, "a": [true, null, "x\"y"]});
/// assert_eq!(notary_client::canonical::encode(&value).unwrap(), br#"{"a":[true,null,"x\"y"],"b":1}"#);
/// ```
pub fn encode(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

/// Serializes `value` with serde, then encodes it canonically.
pub fn encode_serialize<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    let value = serde_json::to_value(value).map_err(|e| Error::Canonical {
        reason: e.to_string(),
    })?;
    encode(&value)
}

fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(Error::Canonical {
                    reason: format!("number {n} is not an integer"),
                });
            }
        }
        Value::String(s) => write_string(out, s)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // serde_json's map without `preserve_order` is a BTreeMap: already bytewise sorted
            // for UTF-8 keys. Sort explicitly anyway so a feature flag elsewhere cannot break it.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key)?;
                out.push(b':');
                write_value(out, item)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(out: &mut Vec<u8>, s: &str) -> Result<()> {
    out.push(b'"');
    for &b in s.as_bytes() {
        if b < 0x20 {
            return Err(Error::Canonical {
                reason: format!(
                    "string {s:?} contains the control character U+{b:04X}, which canonical JSON writes raw (invalid JSON)"
                ),
            });
        }
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
    Ok(())
}

/// Formats a time as Go's `time.Time` JSON does in UTC: RFC 3339 with nanoseconds, trailing
/// zeros of the fraction dropped, no fraction for a whole second.
pub fn format_go_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Parses an RFC 3339 time as found in `expires`.
pub fn parse_go_time(text: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|e| {
        Error::Canonical {
            reason: format!("expires {text:?} is not RFC 3339: {e}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_escape_only_quote_and_backslash() {
        let v = json!({"k": "a\"b\\c\u{7f}é<>&"});
        assert_eq!(
            encode(&v).unwrap(),
            "{\"k\":\"a\\\"b\\\\c\u{7f}é<>&\"}".as_bytes()
        );
    }

    #[test]
    fn control_characters_are_refused_not_written_raw() {
        for text in ["a\nb", "t\tx", "\u{1}", "\u{0}"] {
            assert!(encode(&json!({ "k": text })).is_err(), "{text:?}");
            assert!(encode(&json!({ text: 1 })).is_err(), "{text:?} as a key");
        }
    }

    #[test]
    fn keys_sort_bytewise_and_floats_are_refused() {
        let v = json!({"b": {"z": 1, "_type": 2, "B": 3}, "a": -4});
        assert_eq!(
            encode(&v).unwrap(),
            br#"{"a":-4,"b":{"B":3,"_type":2,"z":1}}"#
        );
        assert!(encode(&json!({"x": 1.5})).is_err());
    }

    #[test]
    fn go_time_trims_fraction() {
        let t = parse_go_time("2029-11-28T03:19:41.644656820Z").unwrap();
        assert_eq!(format_go_time(t), "2029-11-28T03:19:41.64465682Z");
        let whole = parse_go_time("2029-11-28T03:19:41Z").unwrap();
        assert_eq!(format_go_time(whole), "2029-11-28T03:19:41Z");
        let offset = parse_go_time("2029-11-28T05:19:41.5+02:00").unwrap();
        assert_eq!(format_go_time(offset), "2029-11-28T03:19:41.5Z");
    }
}
