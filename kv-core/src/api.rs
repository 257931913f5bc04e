//! The HTTP/JSON wire types, shared by `kv-server` and `kv-client` so they are
//! written once.
//!
//! The seed routes' documented fields are kept exactly; extra fields such as
//! `rev` are additions a client may ignore.

use serde::{Deserialize, Serialize};

/// Body of `POST /set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetRequest {
    /// The key to write.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub key: String,
    /// The value to store.
    pub val: String,
    /// Optional time to live: seconds, or a duration such as `"1500ms"`,
    /// `"30s"`, `"5m"`, `"2h"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Ttl>,
}

/// A time to live as JSON carries it: a number of seconds or a duration
/// string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Ttl {
    /// Seconds: a JSON number without a fraction (`30`, or `30.0`).
    Seconds(#[serde(deserialize_with = "whole_number")] u64),
    /// A duration such as `"1500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`.
    Text(String),
}

impl Ttl {
    /// The duration.
    ///
    /// # Errors
    ///
    /// A malformed or zero duration, as a message.
    pub fn duration(&self) -> Result<std::time::Duration, String> {
        match self {
            Ttl::Seconds(0) => Err("ttl must be more than zero".into()),
            Ttl::Seconds(s) => Ok(std::time::Duration::from_secs(*s)),
            Ttl::Text(text) => parse_ttl(text),
        }
    }
}

/// A JSON number with no fractional part, as JSON (and JSON Schema's
/// `integer`) reads it: `30` and `30.0` are the same number.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Whole(u64),
        Float(f64),
    }
    match Number::deserialize(deserializer)? {
        Number::Whole(n) => Ok(n),
        // 2^64 is the first whole float past u64::MAX.
        Number::Float(f)
            if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) =>
        {
            Ok(f as u64)
        }
        Number::Float(f) => Err(serde::de::Error::custom(format!(
            "{f} is not a whole number of seconds"
        ))),
    }
}

/// Parses a time to live: `1500ms`, `30s`, `5m`, `2h`, `1d`, or a bare
/// number of seconds.
///
/// # Errors
///
/// A malformed or zero duration, as a message.
pub fn parse_ttl(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("ttl {text:?} is not a duration such as 30s, 1500ms, 5m, 2h"))?;
    let millis = match unit {
        "ms" => Some(number),
        "" | "s" => number.checked_mul(1000),
        "m" => number.checked_mul(60_000),
        "h" => number.checked_mul(3_600_000),
        "d" => number.checked_mul(86_400_000),
        _ => {
            return Err(format!(
                "ttl {text:?} has an unknown unit; use ms, s, m, h or d"
            ))
        }
    }
    .ok_or_else(|| format!("ttl {text:?} is too long"))?;
    if millis == 0 {
        return Err("ttl must be more than zero".into());
    }
    Ok(std::time::Duration::from_millis(millis))
}

/// Answer to `POST /set` (status 201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetResponse {
    /// Always `true`: the value was stored.
    pub inserted: bool,
    /// The value it replaced, or `null` for a new key: the text itself, or
    /// base64 when `encoding` says so.
    pub ejected_val: Option<String>,
    /// `base64` when the replaced value is not UTF-8; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The revision the write was committed at.
    #[serde(default)]
    pub rev: u64,
}

/// Query of `GET /get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetQuery {
    /// The key to read.
    pub key: String,
}

/// Answer to `GET /get` (status 200, also for a missing key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetResponse {
    /// Whether the key exists.
    pub found: bool,
    /// Its value, or `null`: the text itself, or base64 when `encoding`
    /// says so.
    pub inserted_val: Option<String>,
    /// `base64` when the value is not UTF-8; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The revision of the key's last write, when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mod_rev: Option<u64>,
}

/// Body of `/rm` (DELETE or POST).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RmRequest {
    /// The key to remove.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub key: String,
}

/// Answer to `/rm` (status 200, also for a missing key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RmResponse {
    /// Whether the key existed.
    pub found: bool,
    /// Whether it was removed (the same as `found`).
    pub removed: bool,
    /// The removed value, or `null`: the text itself, or base64 when
    /// `encoding` says so.
    pub ejected_val: Option<String>,
    /// `base64` when the removed value is not UTF-8; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The revision of the removal; the store revision when nothing was removed.
    #[serde(default)]
    pub rev: u64,
}

/// Answer to `GET /`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    /// `true` while the server serves requests.
    pub up: bool,
    /// `false` after a disk failure: reads work, writes answer 503 until a
    /// restart.
    #[serde(default)]
    pub writable: bool,
    /// The fsync policy (`always`, `everysec`, `no`), or `memory` when
    /// nothing is persisted.
    #[serde(default)]
    pub storage: String,
    /// The storage failure that stopped writes, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Answer to `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProbeResponse {
    /// `alive`, `ready`, `recovering`, `stopping` or `writes_refused`.
    pub status: String,
    /// Why the server is not ready, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One committed change, as the watch stream (`GET /v1/watch`) and NATS
/// carry it. On NATS, `key` and `val` keep the seed's payload fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchEvent {
    /// The revision of the change.
    pub rev: u64,
    /// `set`, `rm` or `expire`.
    pub op: String,
    /// The key.
    pub key: String,
    /// The new value, for `set`: the text itself, or base64 when
    /// `encoding` says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val: Option<String>,
    /// `base64` when `val` is not UTF-8; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The value before the change, when asked for (`prev=true`) and the
    /// key existed: the text itself, or base64 when `prev_encoding` says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    /// `base64` when `prev` is not UTF-8; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_encoding: Option<String>,
}

impl WatchEvent {
    /// The new value's bytes, for `set`.
    ///
    /// # Errors
    ///
    /// An unknown encoding or invalid base64.
    pub fn val_bytes(&self) -> Result<Option<Vec<u8>>, String> {
        self.val
            .as_deref()
            .map(|v| crate::value_text::from_text(v, self.encoding.as_deref()))
            .transpose()
    }
}

/// The `progress` event of the watch stream: everything up to `rev` that
/// matches the watch has been sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchProgress {
    /// The revision the watcher is up to date with.
    pub rev: u64,
}

/// The last event of a watch stream that was cut off because its reader
/// fell too far behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchCut {
    /// Resume with `from_rev` set to this (nothing before it was skipped).
    pub resume_from_rev: u64,
    /// Why the stream was cut.
    pub reason: String,
}

/// The path prefix of the key routes: `/v1/kv/{key}`.
pub const KV_PATH: &str = "/v1/kv/";

/// Characters left as they are in a key in a URL path: the unreserved ones
/// and `/` (keys may be hierarchical). Everything else is percent-encoded.
const KEY_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// The URL path of `key` under `/v1/kv/`.
pub fn key_path(key: &str) -> String {
    format!(
        "{KV_PATH}{}",
        percent_encoding::utf8_percent_encode(key, KEY_PATH)
    )
}

/// The key in a raw (still percent-encoded) URL path under `/v1/kv/`, or
/// `None` when it does not decode to UTF-8.
pub fn key_from_path(raw_path: &str) -> Option<String> {
    let encoded = raw_path.strip_prefix(KV_PATH)?;
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()
        .map(|k| k.into_owned())
}

/// A key's entry as `GET /v1/kv/{key}` answers it in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KvEntry {
    /// The key.
    pub key: String,
    /// The value: the text itself when it is UTF-8, else base64.
    pub value: String,
    /// `utf8` or `base64`: how `value` is written.
    pub encoding: String,
    /// The media type it was stored with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The revision that created the key.
    pub create_rev: u64,
    /// The revision of its last write (also its `ETag`).
    pub mod_rev: u64,
    /// Writes since creation.
    pub version: u64,
    /// When the key expires, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// The store revision when it was read.
    pub rev: u64,
}

impl KvEntry {
    /// The wire form of `entry` under `key`, read at store revision `rev`.
    pub fn new(key: String, entry: &crate::Entry, rev: u64) -> Self {
        let meta = entry.meta();
        let (value, encoding) = Self::encode_value(entry.value());
        KvEntry {
            key,
            value,
            encoding,
            content_type: meta.content_type.map(str::to_owned),
            create_rev: meta.create_rev,
            mod_rev: meta.mod_rev,
            version: meta.version,
            expires_at: meta.expires_at,
            rev,
        }
    }

    /// `(text, encoding)` for `value`: `utf8` when it is UTF-8, else
    /// base64 and `base64`.
    pub fn encode_value(value: &[u8]) -> (String, String) {
        let (text, encoding) = crate::value_text::to_text(value);
        (
            text,
            encoding.unwrap_or_else(|| crate::value_text::UTF8.to_owned()),
        )
    }

    /// The value's bytes, decoding base64 when needed; `None` if the
    /// encoding is unknown or the base64 is invalid.
    pub fn value_bytes(&self) -> Option<Vec<u8>> {
        crate::value_text::from_text(&self.value, Some(&self.encoding)).ok()
    }
}

/// Answer to `PUT /v1/kv/{key}`: 201 when created, 200 when replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PutResponse {
    /// The revision the write was committed at (also the new `ETag`).
    pub rev: u64,
    /// Whether the key was created by this write.
    pub created: bool,
}

/// Default number of items in a listing page.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// Largest number of items in a listing page.
pub const MAX_LIST_LIMIT: usize = 1000;

/// One key of a listing (`GET /v1/kv?prefix=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListEntry {
    /// The key.
    pub key: String,
    /// The value (absent with `keys_only=true`), written as `encoding` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `utf8` or `base64`, with the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The media type it was stored with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The revision that created the key.
    pub create_rev: u64,
    /// The revision of its last write.
    pub mod_rev: u64,
    /// Writes since creation.
    pub version: u64,
    /// When the key expires, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// One line of `client export` / `client import` (NDJSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExportRecord {
    /// The key.
    pub key: String,
    /// The value, written as `encoding` says.
    pub value: String,
    /// `utf8` (the default) or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The media type it was stored with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// When it expires, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl ListEntry {
    /// The wire form of `entry` under `key`; without the value when
    /// `keys_only`.
    pub fn new(key: String, entry: &crate::Entry, keys_only: bool) -> Self {
        let meta = entry.meta();
        let (value, encoding) = if keys_only {
            (None, None)
        } else {
            let (value, encoding) = KvEntry::encode_value(entry.value());
            (Some(value), Some(encoding))
        };
        ListEntry {
            key,
            value,
            encoding,
            content_type: meta.content_type.map(str::to_owned),
            create_rev: meta.create_rev,
            mod_rev: meta.mod_rev,
            version: meta.version,
            expires_at: meta.expires_at,
        }
    }
}

/// Answer to `GET /v1/kv?prefix=P&start_after=K&limit=N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListResponse {
    /// The keys, sorted.
    pub entries: Vec<ListEntry>,
    /// With `delimiter`: the common prefixes standing for the keys under
    /// them, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// Pass as `start_after` to get the next page; `null` on the last one.
    pub next: Option<String>,
    /// The store revision when the page was read.
    pub rev: u64,
}

/// Answer to `DELETE /v1/kv?prefix=P`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeletePrefixResponse {
    /// How many keys were removed.
    pub deleted: u64,
    /// The revision of the removals (all share it); the store revision when
    /// nothing matched.
    pub rev: u64,
}

/// Default most comparisons plus operations in one transaction.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

/// What one operation of a transaction did, as `POST /v1/txn` answers it:
/// exactly one of the fields is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxnOpResult {
    /// For a put: `{"created": bool}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub put: Option<TxnPutResult>,
    /// For a delete: `{"deleted": bool}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<TxnDeleteResult>,
    /// For a get: whether the key exists, and its entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get: Option<TxnGetResult>,
}

/// The result of a get in a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxnGetResult {
    /// Whether the key exists.
    pub found: bool,
    /// Its entry, when it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<KvEntry>,
}

/// The result of a put in a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxnPutResult {
    /// The key did not exist before.
    pub created: bool,
}

/// The result of a delete in a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxnDeleteResult {
    /// The key existed and was removed.
    pub deleted: bool,
}

/// Answer to `POST /v1/txn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxnResponse {
    /// Whether every comparison held (the `success` branch ran).
    pub succeeded: bool,
    /// The revision of its changes, or the store revision when it changed
    /// nothing.
    pub rev: u64,
    /// One result per operation of the branch that ran.
    pub results: Vec<TxnOpResult>,
}

/// Answer to `DELETE /v1/kv/{key}` (200; a missing key is 404).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteResponse {
    /// The revision of the removal.
    pub rev: u64,
}

/// The body of every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A machine-readable code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, machine-readable code such as `bad_request` or `payload_too_large`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// For 410 Gone on a watch: the oldest revision still available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_rev: Option<u64>,
    /// For 412 Precondition Failed: the key's current `mod_rev` (absent when
    /// the key does not exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mod_rev: Option<u64>,
    /// For 412 Precondition Failed: the store's revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seed_fields_are_exact() {
        let set = SetResponse {
            inserted: true,
            ejected_val: None,
            encoding: None,
            rev: 7,
        };
        assert_eq!(
            serde_json::to_value(&set).expect("serializes"),
            json!({"inserted": true, "ejected_val": null, "rev": 7})
        );
        let get = GetResponse {
            found: false,
            inserted_val: None,
            encoding: None,
            mod_rev: None,
        };
        assert_eq!(
            serde_json::to_value(&get).expect("serializes"),
            json!({"found": false, "inserted_val": null})
        );
    }

    #[test]
    fn key_paths_round_trip_any_utf8() {
        for key in ["a/b/c", "100%", "a b", "ключ", "🔑?x=1#y", "a+b&c", "/lead"] {
            let path = key_path(key);
            assert!(!path.contains(['?', '#', ' ']), "{path}");
            assert_eq!(key_from_path(&path).as_deref(), Some(key), "{path}");
        }
        assert_eq!(key_path("a/b c"), "/v1/kv/a/b%20c");
        assert_eq!(key_from_path("/v1/kv/%FF"), None);
    }

    #[test]
    fn ttls_parse_with_units() {
        use std::time::Duration;
        assert_eq!(parse_ttl("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_ttl("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_ttl("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_ttl("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_ttl("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["", "0s", "ms", "10x", "-5s", "99999999999999999999d"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?}");
        }
        let body: SetRequest =
            serde_json::from_str(r#"{"key":"k","val":"v","ttl":"2s"}"#).expect("parses");
        assert_eq!(
            body.ttl.map(|t| t.duration()),
            Some(Ok(Duration::from_secs(2)))
        );
        let body: SetRequest =
            serde_json::from_str(r#"{"key":"k","val":"v","ttl":3}"#).expect("parses");
        assert_eq!(body.ttl, Some(Ttl::Seconds(3)));
        let body: SetRequest =
            serde_json::from_str(r#"{"key":"k","val":"v","ttl":3.0}"#).expect("parses");
        assert_eq!(body.ttl, Some(Ttl::Seconds(3)));
        for fraction in ["3.5", "-1.0", "1e30"] {
            let body = format!(r#"{{"key":"k","val":"v","ttl":{fraction}}}"#);
            assert!(
                serde_json::from_str::<SetRequest>(&body).is_err(),
                "{fraction}"
            );
        }
    }

    #[test]
    fn values_that_are_not_utf8_travel_as_base64() {
        let (text, encoding) = KvEntry::encode_value(b"plain");
        assert_eq!((text.as_str(), encoding.as_str()), ("plain", "utf8"));
        let (text, encoding) = KvEntry::encode_value(&[0xff, 0, 1]);
        assert_eq!(encoding, "base64");
        let entry = KvEntry {
            key: "k".into(),
            value: text,
            encoding,
            content_type: None,
            create_rev: 1,
            mod_rev: 1,
            version: 1,
            expires_at: None,
            rev: 1,
        };
        assert_eq!(entry.value_bytes(), Some(vec![0xff, 0, 1]));
    }

    #[test]
    fn seed_answers_without_extras_still_parse() {
        let rm: RmResponse =
            serde_json::from_value(json!({"found": true, "removed": true, "ejected_val": "x"}))
                .expect("parses");
        assert_eq!(rm.rev, 0);
    }
}
