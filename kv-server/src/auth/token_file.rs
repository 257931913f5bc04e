//! The token file (`--auth-file`): which bearer tokens exist and what each
//! may do, by key prefix.
//!
//! ```json
//! {
//!   "tokens": [
//!     { "name": "ops", "token": "…", "read": [""], "write": [""], "watch": [""], "backup": true },
//!     { "name": "billing", "token": "…", "read": ["billing/"], "write": ["billing/"], "watch": [] }
//!   ]
//! }
//! ```
//!
//! A prefix grants every key that starts with it; `""` grants every key.

use std::fs;
use std::path::Path;

use serde::Deserialize;

/// Tokens shorter than this are refused: they can be guessed.
pub const MIN_TOKEN_BYTES: usize = 16;

/// One token and its rights, as written in the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// A name for logs and errors; the token itself is never logged.
    pub name: String,
    /// The secret sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// Prefixes whose keys it may read (get, list, transactions' reads).
    #[serde(default)]
    pub read: Vec<String>,
    /// Prefixes whose keys it may write (set, rm, put, delete, transactions' writes).
    #[serde(default)]
    pub write: Vec<String>,
    /// Prefixes whose changes it may watch (it also needs `read` there).
    #[serde(default)]
    pub watch: Vec<String>,
    /// Whether it may take a backup of the whole store (`GET /v1/snapshot`).
    #[serde(default)]
    pub backup: bool,
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEntry")
            .field("name", &self.name)
            .field("token", &"<redacted>")
            .field("read", &self.read)
            .field("write", &self.write)
            .field("watch", &self.watch)
            .field("backup", &self.backup)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    tokens: Vec<TokenEntry>,
}

/// Reads and checks a token file.
///
/// # Errors
///
/// The file cannot be read or is not valid JSON of the documented shape, it
/// holds no token, a token is shorter than [`MIN_TOKEN_BYTES`], or two
/// entries share a name or a token. The message never contains a token.
pub fn load(path: &Path) -> Result<Vec<TokenEntry>, String> {
    let text = fs::read_to_string(path)
        .map_err(|e| format!("cannot read the auth file {}: {e}", path.display()))?;
    warn_if_readable_by_others(path);
    parse(&text).map_err(|e| format!("auth file {}: {e}", path.display()))
}

/// Parses and checks the text of a token file.
///
/// # Errors
///
/// See [`load`].
pub fn parse(text: &str) -> Result<Vec<TokenEntry>, String> {
    // serde_json's messages quote the offending value only for invalid
    // types and enum variants, never a string's content, so tokens stay out.
    let file: TokenFile = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    if file.tokens.is_empty() {
        // A file that grants nothing must not leave the server open: it
        // would run without authentication while the operator believes it
        // protected.
        return Err(
            "it holds no token; give at least one, or leave --auth-file out \
                    to run without authentication"
                .into(),
        );
    }
    for (i, entry) in file.tokens.iter().enumerate() {
        if entry.name.is_empty() {
            return Err(format!("token #{} has an empty name", i + 1));
        }
        if entry.token.len() < MIN_TOKEN_BYTES {
            return Err(format!(
                "the token of {:?} is shorter than {MIN_TOKEN_BYTES} bytes",
                entry.name
            ));
        }
        for other in &file.tokens[..i] {
            if other.name == entry.name {
                return Err(format!("two tokens are named {:?}", entry.name));
            }
            if other.token == entry.token {
                return Err(format!(
                    "{:?} and {:?} have the same token",
                    other.name, entry.name
                ));
            }
        }
    }
    Ok(file.tokens)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            log::warn!(
                "the auth file {} can be read by other users; chmod 600 it",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rights_and_refuses_weak_or_duplicate_tokens() {
        let ok = parse(
            r#"{"tokens":[{"name":"a","token":"0123456789abcdef","read":["x/"]},
                {"name":"b","token":"fedcba9876543210","write":[""],"watch":["y"]}]}"#,
        )
        .expect("valid");
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].read, ["x/"]);
        assert!(ok[0].write.is_empty());
        let short = parse(r#"{"tokens":[{"name":"a","token":"short"}]}"#).expect_err("short");
        assert!(
            short.contains("shorter") && !short.contains("\"short\""),
            "{short}"
        );
        let dup = parse(
            r#"{"tokens":[{"name":"a","token":"0123456789abcdef"},
                {"name":"b","token":"0123456789abcdef"}]}"#,
        )
        .expect_err("duplicate");
        assert!(dup.contains("same token") && !dup.contains("0123"), "{dup}");
        for empty in [r#"{"tokens":[]}"#, r#"{"tokens":[ ]}"#] {
            let err = parse(empty).expect_err("no token");
            assert!(err.contains("no token"), "{err}");
        }
        let unknown = parse(r#"{"tokens":[{"name":"a","token":"0123456789abcdef","admin":true}]}"#)
            .expect_err("unknown field");
        assert!(unknown.contains("admin"), "{unknown}");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let entries = parse(r#"{"tokens":[{"name":"a","token":"0123456789abcdef"}]}"#).unwrap();
        assert!(!format!("{entries:?}").contains("0123"));
    }
}
