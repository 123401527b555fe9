//! Moving a pre-0.4 notary key layout to the current one, as the Go client does each time it
//! opens a trust dir (notary's `migrateTo0Dot4`).
//!
//! Each `private/root_keys/<id>[_<role>].key` and `private/tuf_keys/<gun>/<id>[_<role>].key`
//! becomes `private/<id>.key`: the same PEM body, with a `role` header from the name suffix
//! (`root` for a root_keys file without one) and a `gun` header from the directory, which win
//! over headers already in the file. Then `root_keys/` and `tuf_keys/` are removed, and so is
//! `private/trusted_certificates/` (where Go looks for the unused certificates; the trust dir's
//! own `trusted_certificates/` stays, as with Go, and is never read). Unlike Go, a file that
//! cannot be moved (unreadable, or a different key file already at the new name) keeps the old
//! directories in place, so no key is ever lost; the reader still finds keys there.

use std::fs;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::{KeyStore, LEGACY_NON_ROOT_DIR, LEGACY_ROOT_DIR, Located, read_bounded};
use crate::error::{Error, Result};
use crate::fsutil::{Existing, write_atomic};

/// Certificates of the pre-0.4 client; nothing reads them any more.
const LEGACY_CERTS_DIR: &str = "trusted_certificates";

impl KeyStore {
    /// Moves keys of the pre-0.4 layout to `private/<id>.key` and removes the old directories
    /// (see the module documentation). Returns how many keys were moved. Called by
    /// [`KeyStore::open`].
    pub fn migrate_legacy_layout(&self) -> Result<usize> {
        let legacy: Vec<Located> = self
            .scan()?
            .into_iter()
            .filter(|l| l.legacy_layout)
            .collect();
        let mut moved = 0;
        let mut complete = true;
        for located in &legacy {
            match self.move_to_current_layout(located) {
                Ok(true) => moved += 1,
                Ok(false) => {}
                Err(error) => {
                    complete = false;
                    tracing::warn!(path = %located.path.display(), %error, "legacy key file not migrated; the old key directories are kept");
                }
            }
        }
        if !complete {
            return Ok(moved);
        }
        for dir in [
            self.private_dir.join(LEGACY_ROOT_DIR),
            self.private_dir.join(LEGACY_NON_ROOT_DIR),
            self.private_dir.join(LEGACY_CERTS_DIR),
        ] {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {
                    tracing::info!(dir = %dir.display(), "removed the pre-0.4 directory after migrating its keys")
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", &dir)(e)),
            }
        }
        Ok(moved)
    }

    /// Writes the current-layout file of one legacy key; `false` if an identical one exists.
    fn move_to_current_layout(&self, located: &Located) -> Result<bool> {
        let bytes = read_bounded(&located.path)?;
        let role = located
            .role_from_name
            .clone()
            .or_else(|| located.in_root_keys.then(|| "root".to_owned()));
        let pem = with_headers(&bytes, role.as_deref(), located.gun_from_path.as_deref())
            .ok_or_else(|| Error::CorruptPrivateKey {
                key_id: Some(located.key_id.to_string()),
                path: Some(located.path.clone()),
                reason: "not a single PEM block".into(),
            })?;
        let target = self.key_path(&located.key_id);
        if let Ok(existing) = read_bounded(&target) {
            if existing == pem.as_bytes() {
                return Ok(false);
            }
            return Err(Error::LegacyKeyConflict {
                key_id: located.key_id.to_string(),
                path: target,
                legacy_path: located.path.clone(),
            });
        }
        write_atomic(&target, pem.as_bytes(), 0o600, Existing::Refuse)?;
        Ok(true)
    }
}

/// Re-encodes a one-block PEM file as Go's `pem.Encode` writes it, with `role` and `gun`
/// headers set: `Proc-Type` first, the other headers sorted, 64-character base64 lines.
fn with_headers(pem_text: &[u8], role: Option<&str>, gun: Option<&str>) -> Option<String> {
    let text = std::str::from_utf8(pem_text).ok()?;
    let mut lines = text.lines().map(str::trim_end);
    let begin = lines.find(|l| !l.is_empty())?;
    let label = begin.strip_prefix("-----BEGIN ")?.strip_suffix("-----")?;
    let end = format!("-----END {label}-----");
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut body = String::new();
    let mut in_headers = true;
    let mut ended = false;
    for line in lines.by_ref() {
        if line == end {
            ended = true;
            break;
        }
        if in_headers {
            if line.is_empty() {
                in_headers = false;
                continue;
            }
            if let Some((key, value)) = line.split_once(':') {
                headers.push((key.trim().to_owned(), value.trim().to_owned()));
                continue;
            }
            in_headers = false;
        }
        body.push_str(line.trim());
    }
    if !ended || lines.any(|l| !l.trim().is_empty()) {
        return None;
    }
    let der = B64.decode(body).ok()?;
    for (key, value) in [("role", role), ("gun", gun)] {
        if let Some(value) = value {
            headers.retain(|(k, _)| k != key);
            headers.push((key.to_owned(), value.to_owned()));
        }
    }
    headers.sort_by(|a, b| (a.0 != "Proc-Type", &a.0).cmp(&(b.0 != "Proc-Type", &b.0)));
    let mut out = format!("-----BEGIN {label}-----\n");
    for (key, value) in &headers {
        out.push_str(&format!("{key}: {value}\n"));
    }
    if !headers.is_empty() {
        out.push('\n');
    }
    let encoded = B64.encode(der);
    for chunk in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).ok()?);
        out.push('\n');
    }
    out.push_str(&end);
    out.push('\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn headers_are_set_and_ordered_as_go_writes_them() {
        let body = B64.encode([7u8; 100]);
        // Lines of 40 characters in, Go's 64 out.
        let input = format!(
            "-----BEGIN EC PRIVATE KEY-----\nRole: x\nDEK-Info: AES-256-CBC,00\nProc-Type: 4,ENCRYPTED\nrole: old\n\n{}\n{}\n{}\n{}\n-----END EC PRIVATE KEY-----\n",
            &body[..40],
            &body[40..80],
            &body[80..120],
            &body[120..]
        );
        let out = with_headers(input.as_bytes(), Some("targets"), Some("example.com/app")).unwrap();
        assert_eq!(
            out,
            format!(
                "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\nRole: x\ngun: example.com/app\nrole: targets\n\n{}\n{}\n{}\n-----END EC PRIVATE KEY-----\n",
                &body[..64],
                &body[64..128],
                &body[128..]
            )
        );
        assert!(with_headers(b"not pem", None, None).is_none());
        let two = format!("{input}{input}");
        assert!(with_headers(two.as_bytes(), None, None).is_none());
    }
}
