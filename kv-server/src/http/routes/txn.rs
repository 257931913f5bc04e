//! `POST /v1/txn`: comparisons, then the `success` or the `failure`
//! operations, committed atomically at one revision.
//!
//! ```json
//! {"compare": [{"key": "k", "target": "mod_rev", "op": "==", "value": 5}],
//!  "success": [{"put": {"key": "k", "value": "v"}}, {"get": {"key": "k"}}],
//!  "failure": [{"get": {"key": "k"}}]}
//! ```
//!
//! Targets: `mod_rev`, `create_rev`, `version` (numbers; a missing key
//! has 0), `value` (a string; `encoding: "base64"` for bytes), `exists`
//! (a boolean). Ops: `==`, `!=`, `<`, `>`, `<=`, `>=`. Operations: `put`
//! (`key`, `value`, optional `encoding`, `content_type`, and `ttl` or
//! `expires_at` in ms since the epoch), `delete`
//! (`key`), `get` (`key`). A malformed entry is 400 naming where it is
//! (`success[2]: …`).

use actix_web::web::Json;
use base64::Engine as _;
use kv_core::api::{
    ErrorBody, KvEntry, Ttl, TxnDeleteResult, TxnGetResult, TxnOpResult, TxnPutResult, TxnResponse,
};
use kv_core::txn::{Compare, CompareOp, CompareTarget, Txn, TxnOp, TxnResult};
use serde_json::{Map, Value};

use crate::auth::{Principal, Right};
use crate::commit::clock::deadline_after;
use crate::error::ServerError;
use crate::http::extract::{IdempotencyKey, Ready};
use crate::http::media_type::is_media_type;
use crate::http::schemas::txn::TxnRequest;

/// `POST /v1/txn`.
#[utoipa::path(post, path = "/v1/txn", tag = "kv",
    request_body = TxnRequest,
    responses((status = 200, description = "Committed", body = TxnResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 413, description = "A value over --max-value-bytes, or the body over twice that",
            body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn txn(
    principal: Principal,
    state: Ready,
    idempotency: IdempotencyKey,
    body: Json<Value>,
) -> Result<Json<TxnResponse>, ServerError> {
    let txn = parse_txn(&body, state.max_txn_ops())?;
    authorize(&principal, &txn)?;
    let (rev, succeeded, results) = state.txn(txn, idempotency.0).await?;
    let results = results
        .into_iter()
        .map(|result| match result {
            TxnResult::Put { created } => TxnOpResult {
                put: Some(TxnPutResult { created }),
                ..TxnOpResult::default()
            },
            TxnResult::Delete { deleted } => TxnOpResult {
                delete: Some(TxnDeleteResult { deleted }),
                ..TxnOpResult::default()
            },
            TxnResult::Get { key, entry } => TxnOpResult {
                get: Some(TxnGetResult {
                    found: entry.is_some(),
                    entry: entry.map(|entry| KvEntry::new(key, &entry, rev)),
                }),
                ..TxnOpResult::default()
            },
        })
        .collect();
    Ok(Json(TxnResponse {
        succeeded,
        rev,
        results,
    }))
}

/// Every key a transaction compares or reads needs `read`; every key it
/// may write, in either branch, needs `write`.
fn authorize(principal: &Principal, txn: &Txn) -> Result<(), ServerError> {
    for compare in &txn.compare {
        principal.require(Right::Read, &compare.key)?;
    }
    for op in txn.success.iter().chain(&txn.failure) {
        let right = if op.mutates() {
            Right::Write
        } else {
            Right::Read
        };
        principal.require(right, op.key())?;
    }
    Ok(())
}

fn bad(at: &str, what: impl std::fmt::Display) -> ServerError {
    ServerError::BadRequest(format!("{at}: {what}"))
}

fn parse_txn(body: &Value, max_ops: usize) -> Result<Txn, ServerError> {
    let object = body
        .as_object()
        .ok_or_else(|| bad("body", "a transaction is a JSON object"))?;
    if let Some(unknown) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "compare" | "success" | "failure"))
    {
        return Err(bad("body", format!("unknown field {unknown:?}")));
    }
    let list = |name: &str| -> Result<&[Value], ServerError> {
        match object.get(name) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(bad(name, "must be an array")),
        }
    };
    let (compare, success, failure) = (list("compare")?, list("success")?, list("failure")?);
    let count = compare.len() + success.len() + failure.len();
    if count > max_ops {
        return Err(bad(
            "body",
            format!("{count} comparisons and operations, over the limit of {max_ops}"),
        ));
    }
    Ok(Txn {
        compare: compare
            .iter()
            .enumerate()
            .map(|(i, c)| parse_compare(c).map_err(|e| bad(&format!("compare[{i}]"), e)))
            .collect::<Result<_, _>>()?,
        success: parse_ops("success", success)?,
        failure: parse_ops("failure", failure)?,
    })
}

fn parse_ops(branch: &str, ops: &[Value]) -> Result<Vec<TxnOp>, ServerError> {
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_op(op).map_err(|e| bad(&format!("{branch}[{i}]"), e)))
        .collect()
}

fn fields<'a>(value: &'a Value, allowed: &[&str]) -> Result<&'a Map<String, Value>, String> {
    let object = value.as_object().ok_or("expected an object")?;
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(format!("unknown field {unknown:?}")),
        None => Ok(object),
    }
}

fn string<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    object
        .get(name)
        .ok_or_else(|| format!("missing {name}"))?
        .as_str()
        .ok_or_else(|| format!("{name} must be a string"))
}

/// A value given as text, or as base64 with `"encoding": "base64"`.
fn bytes(object: &Map<String, Value>) -> Result<Vec<u8>, String> {
    let text = string(object, "value")?;
    match object.get("encoding").map(|e| e.as_str()) {
        None | Some(Some("utf8")) => Ok(text.as_bytes().to_vec()),
        Some(Some("base64")) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("value is not valid base64: {e}")),
        Some(other) => Err(format!("encoding must be utf8 or base64, got {other:?}")),
    }
}

/// A non-negative JSON number with no fractional part, as JSON (and JSON
/// Schema's `integer`) reads it: `5` and `5.0` are the same number.
fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            // 2^64 is the first whole float past u64::MAX.
            .filter(|f| f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(f))
            .map(|f| f as u64)
    })
}

fn parse_compare(value: &Value) -> Result<Compare, String> {
    let object = fields(value, &["key", "target", "op", "value", "encoding"])?;
    let key = string(object, "key")?.to_owned();
    let op_text = object
        .get("op")
        .map_or(Some("=="), Value::as_str)
        .ok_or("op must be a string")?;
    let op = CompareOp::parse(op_text).ok_or_else(|| format!("unknown op {op_text:?}"))?;
    let number = || {
        object
            .get("value")
            .and_then(whole_number)
            .ok_or_else(|| "value must be a non-negative integer for this target".to_owned())
    };
    let target = match string(object, "target")? {
        "mod_rev" => CompareTarget::ModRev(number()?),
        "create_rev" => CompareTarget::CreateRev(number()?),
        "version" => CompareTarget::Version(number()?),
        "value" => CompareTarget::Value(bytes(object)?),
        "exists" => CompareTarget::Exists(
            object
                .get("value")
                .and_then(Value::as_bool)
                .ok_or("value must be true or false for target exists")?,
        ),
        other => {
            return Err(format!(
                "unknown target {other:?}; use mod_rev, create_rev, version, value or exists"
            ))
        }
    };
    Ok(Compare { key, target, op })
}

fn parse_op(value: &Value) -> Result<TxnOp, String> {
    let object = value.as_object().ok_or("expected an object")?;
    let (kind, body) = match object.iter().next() {
        Some((kind, body)) if object.len() == 1 => (kind.as_str(), body),
        _ => return Err("expected exactly one of put, delete, get".into()),
    };
    match kind {
        "put" => {
            let body = fields(
                body,
                &[
                    "key",
                    "value",
                    "encoding",
                    "content_type",
                    "ttl",
                    "expires_at",
                ],
            )?;
            let expires_at = match (body.get("ttl"), body.get("expires_at")) {
                (Some(_), Some(_)) => return Err("give ttl or expires_at, not both".into()),
                (Some(ttl), None) => {
                    let ttl: Ttl = serde_json::from_value(ttl.clone())
                        .map_err(|_| "ttl must be seconds or a duration such as \"30s\"")?;
                    Some(deadline_after(ttl.duration()?))
                }
                (None, Some(at)) => Some(
                    whole_number(at).ok_or("expires_at must be milliseconds since the epoch")?,
                ),
                (None, None) => None,
            };
            let content_type = match body.get("content_type") {
                None | Some(Value::Null) => None,
                Some(Value::String(t)) if is_media_type(t) => Some(t.as_str().into()),
                Some(_) => {
                    return Err("content_type must be a media type such as text/plain".into())
                }
            };
            Ok(TxnOp::Put {
                key: string(body, "key")?.to_owned(),
                value: bytes(body)?,
                content_type,
                expires_at,
            })
        }
        "delete" => Ok(TxnOp::Delete {
            key: string(fields(body, &["key"])?, "key")?.to_owned(),
        }),
        "get" => Ok(TxnOp::Get {
            key: string(fields(body, &["key"])?, "key")?.to_owned(),
        }),
        other => Err(format!(
            "unknown operation {other:?}; use put, delete or get"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(body: Value) -> String {
        parse_txn(&body, 8).expect_err("refused").to_string()
    }

    #[test]
    fn a_full_transaction_parses() {
        let txn = parse_txn(
            &json!({
                "compare": [{"key": "k", "target": "mod_rev", "op": "<", "value": 3},
                            {"key": "b", "target": "value", "value": "/w==", "encoding": "base64"}],
                "success": [{"put": {"key": "k", "value": "v", "content_type": "text/plain"}},
                            {"delete": {"key": "x"}}],
                "failure": [{"get": {"key": "k"}}]
            }),
            8,
        )
        .expect("parses");
        assert_eq!(txn.compare[0].op, CompareOp::Lt);
        assert_eq!(txn.compare[1].target, CompareTarget::Value(vec![0xff]));
        assert_eq!(txn.success.len(), 2);
        assert_eq!(txn.failure, vec![TxnOp::Get { key: "k".into() }]);
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_fraction_of_zero() {
        let txn = parse_txn(
            &json!({
                "compare": [{"key": "k", "target": "version", "value": 2.0}],
                "success": [{"put": {"key": "k", "value": "v", "expires_at": 1.0e3}}]
            }),
            8,
        )
        .expect("parses");
        assert_eq!(txn.compare[0].target, CompareTarget::Version(2));
        assert!(matches!(
            txn.success[0],
            TxnOp::Put {
                expires_at: Some(1000),
                ..
            }
        ));
        assert!(
            error(json!({"compare": [{"key": "k", "target": "version", "value": 2.5}]}))
                .contains("non-negative integer")
        );
    }

    #[test]
    fn malformed_parts_are_named() {
        assert!(error(json!({"success": [{"put": {"key": "k"}}]}))
            .contains("success[0]: missing value"));
        assert!(error(json!({"failure": [{}, {"jump": {}}]})).contains("failure[0]"));
        assert!(
            error(json!({"compare": [{"key": "k", "target": "mod_rev", "value": "x"}]}))
                .contains("compare[0]")
        );
        assert!(
            error(json!({"compare": [{"key": "k", "target": "size", "value": 1}]}))
                .contains("unknown target")
        );
        assert!(error(json!({"success": [], "extra": 1})).contains("unknown field"));
        assert!(error(json!([])).contains("object"));
        let many: Vec<Value> = (0..9)
            .map(|i| json!({"get": {"key": format!("k{i}")}}))
            .collect();
        assert!(error(json!({ "success": many })).contains("over the limit of 8"));
    }
}
