//! The HTTP/JSON wire types, shared by `kv-server` and `kv-client` so they are
//! written once.
//!
//! The original routes' documented fields are kept exactly; extra fields such as
//! `rev` are additions a client may ignore.

use serde::{Deserialize, Serialize};

mod kv;
mod txn;
mod watch;

pub use kv::*;
pub use txn::*;
pub use watch::*;

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
    /// Replicated mode: read only once this server has applied everything
    /// committed before the request (a linearizable read). A single node's
    /// reads always are.
    #[serde(default)]
    pub consistent: bool,
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
    /// The NATS publisher's state; absent when NATS is not configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats: Option<NatsState>,
}

/// The state of the NATS publisher (with `--nats-url`): the one shape
/// `GET /`, `/metrics` and the status route report it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NatsState {
    /// Whether the connection to NATS is up.
    pub connected: bool,
    /// Revisions committed but not yet confirmed by NATS: waiting in the
    /// feed's ring to be published (or resent).
    pub queued: u64,
    /// Revisions never published: an outage outlasted the feed's ring.
    pub dropped: u64,
    /// While not connected: why the last attempt to connect or publish
    /// failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Answer to `GET /v1/status`: where this server's state stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusResponse {
    /// `single` (one node) or `replica` (replicated mode).
    pub mode: String,
    /// The store revision.
    pub rev: u64,
    /// A digest of the whole state at `rev` (keys, values, revisions,
    /// expiries), 16 hex digits: replicas at the same `rev` have the same
    /// digest.
    pub digest: String,
    /// Keys held (expired ones not yet removed included).
    pub keys: u64,
    /// Replicated mode: this server's id in the log (new at each start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Replicated mode: the JetStream stream holding the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Replicated mode: the last log message this replica applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_seq: Option<u64>,
    /// Replicated mode: the log's last message (as last learned, when the
    /// log does not answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_seq: Option<u64>,
    /// Replicated mode: messages not applied here yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
    /// Replicated mode with NATS publishing: the `node` of the replica that
    /// publishes the feed on the NATS subjects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
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
    fn original_fields_are_exact() {
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
    fn original_answers_without_extras_still_parse() {
        let rm: RmResponse =
            serde_json::from_value(json!({"found": true, "removed": true, "ejected_val": "x"}))
                .expect("parses");
        assert_eq!(rm.rev, 0);
    }
}
