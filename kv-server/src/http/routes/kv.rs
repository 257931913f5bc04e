//! `GET|PUT|DELETE /v1/kv/{key}`: keys in the path, raw values in the body,
//! metadata in headers, conditions in standard HTTP.
//!
//! - The key is everything after `/v1/kv/`, percent-decoded (it may hold
//!   `/`, `%`, spaces, any UTF-8).
//! - PUT stores the body as it is (any bytes) with its `Content-Type`; GET
//!   returns the bytes with that type, or a JSON [`KvEntry`] when asked
//!   (`Accept: application/json` or `?format=json`).
//! - Every answer about a key carries `ETag: "<mod_rev>"` and the
//!   `X-Kv-*` headers; `If-Match: "<rev>"` (or `*`) and `If-None-Match: *`
//!   make PUT and DELETE conditional (412 when the condition fails).

use std::future::poll_fn;
use std::pin::Pin;

use actix_web::http::header::{self, HeaderMap};
use actix_web::web::{Bytes, BytesMut, Payload, Query};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use futures_core::Stream;
use kv_core::api::{key_from_path, parse_ttl, DeleteResponse, ErrorBody, KvEntry, PutResponse};
use kv_core::command::Condition;
use kv_core::Entry;
use serde::Deserialize;

use crate::auth::{Principal, Right};
use crate::commit::clock::deadline_after;
use crate::error::ServerError;
use crate::http::extract::{IdempotencyKey, Ready};
use crate::http::headers::{
    etag, CREATE_REVISION_HEADER, EXPIRES_AT_HEADER, REVISION_HEADER, VERSION_HEADER,
};
use crate::http::media_type::is_media_type;
use crate::http::routes::CONSISTENT;
use crate::http::schemas::{
    Binary, EntryOrJsonValue, ExpiresAt, IfMatch, IfNoneMatch, Key, TtlText,
};

/// The media type of a value stored without one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// `GET /v1/kv/{key}`.
#[utoipa::path(get, path = "/v1/kv/{key}", tag = "kv", operation_id = "kv_get",
    params(("key" = inline(Key), Path, description = "The key, percent-encoded; may contain /"),
        ("format" = Option<String>, Query,
            description = "json: answer the JSON entry, as Accept: application/json does; \
                other values are ignored"),
        ("consistent" = Option<bool>, Query, description = CONSISTENT)),
    responses((status = 200,
            description = "The value's bytes with the Content-Type it was stored with \
                (application/octet-stream when none), or the JSON entry when asked for",
            content((EntryOrJsonValue = "application/json"),
                (Binary = "application/octet-stream"), ("*/*"))),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody)))]
pub async fn get(
    principal: Principal,
    state: Ready,
    request: HttpRequest,
) -> Result<HttpResponse, ServerError> {
    let key = key_of(&request)?;
    principal.require(Right::Read, &key)?;
    if wants_consistent(&request)? {
        state.consistent().await?;
    }
    let (entry, rev) = state.entry(&key)?;
    let entry = entry.ok_or_else(|| ServerError::KeyNotFound(key.clone()))?;
    let mut response = HttpResponse::Ok();
    metadata_headers(&mut response, &entry, rev);
    if wants_json(&request) {
        return Ok(response.json(KvEntry::new(key, &entry, rev)));
    }
    Ok(response
        .insert_header((header::CONTENT_TYPE, served_content_type(&entry)))
        // A stored value is data, whatever its type: a browser that opens
        // it (the console is on the same origin) runs none of it.
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox"))
        .body(Bytes::copy_from_slice(entry.value())))
}

/// The `Content-Type` of a value's raw answer: the one it was stored with,
/// unless that is not a media type (stored before types were checked).
fn served_content_type(entry: &Entry) -> &str {
    entry
        .content_type()
        .filter(|t| is_media_type(t))
        .unwrap_or(DEFAULT_CONTENT_TYPE)
}

/// Query of `PUT /v1/kv/{key}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutParams {
    /// Time to live: `1500ms`, `30s`, `5m`, `2h`, `1d`, or seconds.
    ttl: Option<String>,
    /// Absolute expiry, in milliseconds since the Unix epoch.
    expires_at: Option<u64>,
}

impl PutParams {
    /// The expiry these ask for, if any.
    fn expires_at(&self) -> Result<Option<u64>, ServerError> {
        match (&self.ttl, self.expires_at) {
            (Some(_), Some(_)) => Err(ServerError::BadRequest(
                "give ttl or expires_at, not both".into(),
            )),
            (Some(ttl), None) => {
                let ttl = parse_ttl(ttl).map_err(ServerError::BadRequest)?;
                Ok(Some(deadline_after(ttl)))
            }
            (None, at) => Ok(at),
        }
    }
}

/// `PUT /v1/kv/{key}`: 201 when created, 200 when replaced.
#[utoipa::path(put, path = "/v1/kv/{key}", tag = "kv", operation_id = "kv_put",
    params(("key" = inline(Key), Path, description = "The key, percent-encoded; may contain /"),
        ("ttl" = inline(Option<TtlText>), Query),
        ("expires_at" = inline(Option<ExpiresAt>), Query),
        ("If-Match" = inline(Option<IfMatch>), Header, nullable = false),
        ("If-None-Match" = inline(Option<IfNoneMatch>), Header, nullable = false)),
    request_body(content = ref("#/components/schemas/Binary"), content_type = "*/*",
        description = "The value: any bytes, none for an empty value. Its Content-Type, a \
            media type such as text/plain (400 otherwise), is kept and served back"),
    responses((status = 201, description = "Created", body = PutResponse),
        (status = 200, description = "Replaced", body = PutResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 412, description = "The If-Match or If-None-Match condition does not hold",
            body = ErrorBody),
        (status = 413, description = "Value over --max-value-bytes", body = ErrorBody)))]
pub async fn put(
    principal: Principal,
    state: Ready,
    idempotency: IdempotencyKey,
    request: HttpRequest,
    params: Query<PutParams>,
    payload: Payload,
) -> Result<HttpResponse, ServerError> {
    let key = key_of(&request)?;
    principal.require(Right::Write, &key)?;
    let expires_at = params.expires_at()?;
    let condition = condition(request.headers())?;
    let content_type =
        match request.headers().get(header::CONTENT_TYPE) {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| {
                ServerError::BadRequest("Content-Type must be visible ASCII".into())
            })?),
        }
        // An empty Content-Type is no content type (the log stores it so).
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let Some(text) = content_type.filter(|t| !is_media_type(t)) {
        return Err(ServerError::BadRequest(format!(
            "Content-Type must be a media type such as text/plain, got {text:?}"
        )));
    }
    let limit = state.limits().max_value_bytes;
    let value = read_body(&request, payload, limit).await?;
    let answer = state
        .put(
            key,
            value.to_vec(),
            content_type.map(Into::into),
            expires_at,
            condition,
            idempotency.0,
        )
        .await?;
    let mut response = if answer.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response
        .insert_header((header::ETAG, etag(answer.rev)))
        .insert_header((REVISION_HEADER, answer.rev))
        .json(answer))
}

/// `DELETE /v1/kv/{key}`: 404 when the key does not exist.
#[utoipa::path(delete, path = "/v1/kv/{key}", tag = "kv", operation_id = "kv_delete",
    params(("key" = inline(Key), Path, description = "The key, percent-encoded; may contain /"),
        ("If-Match" = inline(Option<IfMatch>), Header, nullable = false)),
    responses((status = 200, description = "Deleted", body = DeleteResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
        (status = 412, description = "The If-Match condition does not hold", body = ErrorBody)))]
pub async fn delete(
    principal: Principal,
    state: Ready,
    idempotency: IdempotencyKey,
    request: HttpRequest,
) -> Result<HttpResponse, ServerError> {
    let key = key_of(&request)?;
    principal.require(Right::Write, &key)?;
    let condition = condition(request.headers())?;
    let answer = state.delete(key, condition, idempotency.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header((REVISION_HEADER, answer.rev))
        .json(answer))
}

fn key_of(request: &HttpRequest) -> Result<String, ServerError> {
    key_from_path(request.uri().path())
        .ok_or_else(|| ServerError::BadRequest("the key in the path is not valid UTF-8".into()))
}

/// `consistent=true|false` in the query string (400 for another value).
fn wants_consistent(request: &HttpRequest) -> Result<bool, ServerError> {
    let mut wanted = false;
    for pair in request.query_string().split('&') {
        if let Some(value) = pair.strip_prefix("consistent=") {
            wanted = match value {
                "true" => true,
                "false" => false,
                other => {
                    return Err(ServerError::BadRequest(format!(
                        "consistent must be true or false, got {other:?}"
                    )))
                }
            };
        }
    }
    Ok(wanted)
}

fn wants_json(request: &HttpRequest) -> bool {
    let query_json = request
        .query_string()
        .split('&')
        .any(|pair| pair == "format=json");
    let accept_json = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    query_json || accept_json
}

fn metadata_headers(response: &mut HttpResponseBuilder, entry: &Entry, rev: u64) {
    let meta = entry.meta();
    response
        .insert_header((header::ETAG, etag(meta.mod_rev)))
        .insert_header((REVISION_HEADER, rev))
        .insert_header((CREATE_REVISION_HEADER, meta.create_rev))
        .insert_header((VERSION_HEADER, meta.version));
    if let Some(at) = meta.expires_at {
        response.insert_header((EXPIRES_AT_HEADER, at));
    }
}

/// The condition in `If-Match` / `If-None-Match`.
pub(crate) fn condition(headers: &HeaderMap) -> Result<Condition, ServerError> {
    let text = |name: header::HeaderName| {
        headers
            .get(&name)
            .map(|v| {
                v.to_str()
                    .map(str::trim)
                    .map_err(|_| ServerError::BadRequest(format!("{name} must be visible ASCII")))
            })
            .transpose()
    };
    match (text(header::IF_MATCH)?, text(header::IF_NONE_MATCH)?) {
        (None, None) => Ok(Condition::Always),
        (Some(_), Some(_)) => Err(ServerError::BadRequest(
            "send If-Match or If-None-Match, not both".into(),
        )),
        (None, Some("*")) => Ok(Condition::Absent),
        (None, Some(other)) => Err(ServerError::BadRequest(format!(
            "If-None-Match supports only \"*\" (create only), got {other:?}"
        ))),
        (Some("*"), None) => Ok(Condition::Exists),
        (Some(tag), None) => {
            let rev = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
            rev.parse().map(Condition::ModRev).map_err(|_| {
                ServerError::BadRequest(format!(
                    "If-Match must be \"*\" or a revision such as \"42\", got {tag:?}"
                ))
            })
        }
    }
}

/// Reads the whole body, refusing more than `limit` bytes (413) from the
/// `Content-Length` alone when there is one, else while reading.
async fn read_body(
    request: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> Result<Bytes, ServerError> {
    let too_large = |len: String| {
        ServerError::PayloadTooLarge(format!(
            "value is {len} bytes, over the limit of {limit} bytes"
        ))
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(len) = declared.filter(|len| *len > limit) {
        return Err(too_large(len.to_string()));
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await {
        let chunk =
            chunk.map_err(|e| ServerError::BadRequest(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(format!("more than {limit}")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::schemas::patterns::IF_MATCH;
    use actix_web::http::header::HeaderValue;
    use proptest::prelude::*;

    fn if_match_accepted(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_MATCH,
            HeaderValue::from_str(value).expect("a header value"),
        );
        condition(&headers).is_ok()
    }

    fn documented(value: &str) -> bool {
        regex::Regex::new(IF_MATCH)
            .expect("a valid pattern")
            .is_match(value)
    }

    proptest! {
        // Up to 19 characters no revision can overflow, so the document's
        // pattern and the parser must agree exactly.
        #[test]
        fn if_match_is_what_the_document_says(text in r#"[0-9"W/*+ \tx-]{0,19}"#) {
            prop_assert_eq!(documented(&text), if_match_accepted(&text), "{:?}", text);
        }

        #[test]
        fn tag_like_text_is_taken_by_both_or_neither(
            text in r#"[ \t]?(W/|w/)?"{0,2}\+?[0-9]{1,18}"{0,2}[ x]?"#
        ) {
            prop_assert_eq!(documented(&text), if_match_accepted(&text), "{:?}", text);
        }
    }

    #[test]
    fn a_stored_type_that_is_not_a_media_type_is_served_as_bytes() {
        let entry = |content_type| {
            let meta = kv_core::entry::Meta {
                create_rev: 1,
                mod_rev: 1,
                version: 1,
                content_type,
                expires_at: None,
            };
            Entry::new("k", b"v", meta)
        };
        assert_eq!(
            served_content_type(&entry(Some("text/plain"))),
            "text/plain"
        );
        assert_eq!(served_content_type(&entry(None)), DEFAULT_CONTENT_TYPE);
        assert_eq!(
            served_content_type(&entry(Some("plain\u{b}"))),
            DEFAULT_CONTENT_TYPE
        );
    }

    #[test]
    fn the_longest_revisions_the_pattern_takes_fit() {
        for tag in ["W/\"9999999999999999999\"", "\"\"0007\"", "*", "+5", " 7\t"] {
            assert!(documented(tag), "{tag:?}");
            assert!(if_match_accepted(tag), "{tag:?}");
        }
    }
}
