//! `GET /v1/kv?prefix=…` (list keys in order, a page at a time) and
//! `DELETE /v1/kv?prefix=…` (remove every key under a prefix).

use actix_web::web::{Json, Query};
use kv_core::api::{
    DeletePrefixResponse, ErrorBody, ListEntry, ListResponse, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT,
};
use kv_core::store::listing::{ListItem, ListQuery};
use serde::Deserialize;

use crate::auth::{Principal, Right};
use crate::error::ServerError;
use crate::http::extract::{IdempotencyKey, Ready};
use crate::http::routes::CONSISTENT;
use crate::http::schemas::{Delimiter, ListLimit};

/// Query of `GET /v1/kv`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only keys starting with this (all keys when absent).
    #[serde(default)]
    prefix: String,
    /// Only keys after this one: the previous page's `next`.
    start_after: Option<String>,
    /// Items per page: 1 to 1000, default 100.
    limit: Option<usize>,
    /// Leave the values out.
    #[serde(default)]
    keys_only: bool,
    /// List one level: roll keys up at the first occurrence of this
    /// (one character, such as `/`) after the prefix.
    delimiter: Option<String>,
    /// Replicated mode: list only once every write committed before the
    /// request is applied here.
    #[serde(default)]
    consistent: bool,
}

/// Query of `DELETE /v1/kv`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletePrefixParams {
    /// Remove every key starting with this.
    prefix: Option<String>,
    /// Needed to remove everything (an empty or missing prefix).
    #[serde(default)]
    all: bool,
}

/// `GET /v1/kv`.
#[utoipa::path(get, path = "/v1/kv", tag = "kv",
    params(("prefix" = Option<String>, Query, description = "Only keys starting with this"),
        ("start_after" = Option<String>, Query, description = "The previous page's next"),
        ("limit" = inline(Option<ListLimit>), Query),
        ("keys_only" = Option<bool>, Query, description = "Leave values out"),
        ("delimiter" = inline(Option<Delimiter>), Query),
        ("consistent" = Option<bool>, Query, description = CONSISTENT)),
    responses((status = 200, description = "A page of keys", body = ListResponse),
        (status = 400, description = "Bad input", body = ErrorBody)))]
pub async fn list(
    principal: Principal,
    state: Ready,
    params: Query<ListParams>,
) -> Result<Json<ListResponse>, ServerError> {
    let params = params.into_inner();
    principal.require(Right::Read, &params.prefix)?;
    let limit = params.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if !(1..=MAX_LIST_LIMIT).contains(&limit) {
        return Err(ServerError::BadRequest(format!(
            "limit must be from 1 to {MAX_LIST_LIMIT}, got {limit}"
        )));
    }
    let delimiter = match params.delimiter.as_deref() {
        None | Some("") => None,
        Some(d) => {
            let mut chars = d.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some(c),
                _ => {
                    return Err(ServerError::BadRequest(format!(
                        "delimiter must be one character, got {d:?}"
                    )))
                }
            }
        }
    };
    if params.consistent {
        state.consistent().await?;
    }
    let page = state.list(ListQuery {
        prefix: params.prefix,
        start_after: params.start_after,
        limit,
        max_bytes: 0,
        delimiter,
    });
    let mut entries = Vec::new();
    let mut prefixes = Vec::new();
    for item in page.items {
        match item {
            ListItem::Prefix(prefix) => prefixes.push(prefix),
            ListItem::Entry(entry) => {
                entries.push(ListEntry::new(
                    entry.key().to_owned(),
                    &entry,
                    params.keys_only,
                ));
            }
        }
    }
    Ok(Json(ListResponse {
        entries,
        prefixes,
        next: page.next,
        rev: page.rev,
    }))
}

/// `DELETE /v1/kv?prefix=P` (or `?all=true`).
#[utoipa::path(delete, path = "/v1/kv", tag = "kv",
    params(("prefix" = Option<String>, Query,
            description = "Remove every key starting with this; empty or left out: every \
                key, which needs all=true (400 otherwise)"),
        ("all" = Option<bool>, Query, description = "true: remove every key")),
    responses((status = 200, description = "Removed", body = DeletePrefixResponse),
        (status = 400, description = "Bad input", body = ErrorBody)))]
pub async fn delete_prefix(
    principal: Principal,
    state: Ready,
    idempotency: IdempotencyKey,
    params: Query<DeletePrefixParams>,
) -> Result<Json<DeletePrefixResponse>, ServerError> {
    let params = params.into_inner();
    let prefix = params.prefix.unwrap_or_default();
    principal.require(Right::Write, &prefix)?;
    if prefix.is_empty() && !params.all {
        return Err(ServerError::BadRequest(
            "refusing to delete every key: give a non-empty prefix, or all=true".into(),
        ));
    }
    state.delete_prefix(prefix, idempotency.0).await.map(Json)
}
