//! The wire types of the `/v1/kv` routes: keys in paths, entries,
//! listings, exports.

use serde::{Deserialize, Serialize};

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

/// The media type of `GET /v1/export`'s answer and `POST /v1/import`'s
/// body: one [`ExportRecord`] per line.
pub const NDJSON: &str = "application/x-ndjson";

/// Records per transaction of `POST /v1/import`: each chunk of this many
/// (or fewer) consecutive records is committed whole or not at all.
pub const IMPORT_CHUNK_RECORDS: usize = 1024;

/// Answer to `POST /v1/import`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportResponse {
    /// Records stored.
    pub imported: u64,
    /// Records skipped because their `expires_at` had passed.
    pub expired: u64,
    /// The revision of the last chunk committed (the store's revision when
    /// nothing was).
    pub rev: u64,
}

impl ExportRecord {
    /// The export line of `entry` under `key`.
    pub fn new(key: String, entry: &crate::Entry) -> Self {
        let (value, encoding) = crate::value_text::to_text(entry.value());
        Self {
            key,
            value,
            encoding,
            content_type: entry.content_type().map(str::to_owned),
            expires_at: entry.expires_at(),
        }
    }
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

/// Answer to `DELETE /v1/kv/{key}` (200; a missing key is 404).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteResponse {
    /// The revision of the removal.
    pub rev: u64,
}
