//! Bulk loads in NDJSON, one [`ExportRecord`] per line:
//! `GET /v1/export?prefix=P` streams every key at one revision, and
//! `POST /v1/import` stores the records of its body, each chunk of up to
//! [`IMPORT_CHUNK_RECORDS`] consecutive records atomically.
//!
//! [`IMPORT_CHUNK_RECORDS`]: kv_core::api::IMPORT_CHUNK_RECORDS

use std::pin::Pin;

use actix_web::http::header;
use actix_web::web::{Json, Payload, Query};
use actix_web::{HttpRequest, HttpResponse};
use futures_core::Stream;
use kv_core::api::{ErrorBody, ExportRecord, ImportResponse, NDJSON};
use serde::Deserialize;

use crate::auth::{Principal, Right};
use crate::config::BODY_OVERHEAD_BYTES;
use crate::error::ServerError;
use crate::http::extract::Ready;
use crate::http::headers::REVISION_HEADER;
use crate::http::media_type::is_media_type;
use crate::http::schemas::txn::ImportRecord;
use crate::service::bulk::Importer;

/// Query of `GET /v1/export`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// Only keys starting with this (all keys when absent).
    #[serde(default)]
    prefix: String,
}

/// `GET /v1/export`: every key under the prefix, in key order, at one
/// revision (named by `X-Kv-Revision`), as NDJSON.
#[utoipa::path(get, path = "/v1/export", tag = "kv",
    params(("prefix" = Option<String>, Query, description = "Only keys starting with this")),
    responses((status = 200,
        description = "One JSON object per line: key, value, encoding, content_type, expires_at",
        body = String, content_type = "application/x-ndjson"),
        (status = 400, description = "Bad input", body = ErrorBody)))]
pub async fn export(
    principal: Principal,
    state: Ready,
    params: Query<ExportParams>,
) -> Result<HttpResponse, ServerError> {
    let prefix = params.into_inner().prefix;
    principal.require(Right::Read, &prefix)?;
    let (rev, body) = state.export(prefix).await?;
    Ok(HttpResponse::Ok()
        .content_type(NDJSON)
        .insert_header((REVISION_HEADER, rev))
        .streaming(body))
}

/// `POST /v1/import`: stores every record of the NDJSON body (records whose
/// `expires_at` has passed are skipped). Each chunk of up to 1024
/// consecutive records is one transaction. A bad line stops the import:
/// every record before it is stored, none from it on, and the error says
/// how many were.
#[utoipa::path(post, path = "/v1/import", tag = "kv",
    request_body(content = Vec<ImportRecord>, content_type = "application/x-ndjson",
        description = "One record per line (NDJSON), as GET /v1/export writes them"),
    responses((status = 200, description = "Stored", body = ImportResponse),
        (status = 400, description = "A bad line (the message names it)", body = ErrorBody),
        (status = 413, description = "A value over --max-value-bytes, or a line over twice that",
            body = ErrorBody),
        (status = 415, description = "Not application/x-ndjson", body = ErrorBody)))]
pub async fn import(
    request: HttpRequest,
    principal: Principal,
    state: Ready,
    mut body: Payload,
) -> Result<Json<ImportResponse>, ServerError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_ndjson(content_type) {
        return Err(ServerError::UnsupportedMediaType(format!(
            "the body must be {NDJSON}, not {content_type:?}"
        )));
    }
    let mut lines = Lines {
        pending: Vec::new(),
        number: 0,
        max_line: state
            .limits()
            .max_value_bytes
            .saturating_mul(2)
            .saturating_add(BODY_OVERHEAD_BYTES),
    };
    let mut importer = state.importer();
    loop {
        let chunk = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await;
        let Some(chunk) = chunk else { break };
        let chunk = chunk.map_err(|e| ServerError::BadRequest(format!("the body: {e}")))?;
        lines.pending.extend_from_slice(&chunk);
        lines.add_whole(&principal, &mut importer).await?;
    }
    lines.add_rest(&principal, &mut importer).await?;
    let (imported, expired, rev) = importer.finish().await?;
    Ok(Json(ImportResponse {
        imported,
        expired,
        rev,
    }))
}

/// `application/x-ndjson`, with or without parameters.
fn is_ndjson(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(NDJSON) || essence.eq_ignore_ascii_case("application/jsonl")
}

/// What the HTTP layer checks of a record: the token's right on its key,
/// and its content type (the importer checks the rest).
fn check(record: &ExportRecord, principal: &Principal) -> Result<(), ServerError> {
    principal.require(Right::Write, &record.key)?;
    match &record.content_type {
        Some(media_type) if !is_media_type(media_type) => Err(ServerError::BadRequest(format!(
            "content_type {media_type:?} is not a media type such as text/plain"
        ))),
        _ => Ok(()),
    }
}

/// The body's lines as they arrive.
struct Lines {
    /// Bytes read and not yet parsed: the start of a line.
    pending: Vec<u8>,
    /// The number of the last line parsed.
    number: u64,
    /// The longest line accepted.
    max_line: usize,
}

impl Lines {
    /// Adds every whole line read so far.
    async fn add_whole(
        &mut self,
        principal: &Principal,
        importer: &mut Importer,
    ) -> Result<(), ServerError> {
        let mut pending = std::mem::take(&mut self.pending);
        let mut start = 0;
        while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = &pending[start..start + end];
            start += end + 1;
            self.add(line, principal, importer).await?;
        }
        pending.drain(..start);
        self.pending = pending;
        if self.pending.len() > self.max_line {
            let note = self.stopped(importer).await;
            return Err(ServerError::PayloadTooLarge(format!(
                "line {}: over {} bytes; {note}",
                self.number + 1,
                self.max_line
            )));
        }
        Ok(())
    }

    /// Adds the last line, which has no newline.
    async fn add_rest(
        &mut self,
        principal: &Principal,
        importer: &mut Importer,
    ) -> Result<(), ServerError> {
        let line = std::mem::take(&mut self.pending);
        self.add(&line, principal, importer).await
    }

    /// Parses, authorizes and adds one line; a blank one is skipped.
    async fn add(
        &mut self,
        line: &[u8],
        principal: &Principal,
        importer: &mut Importer,
    ) -> Result<(), ServerError> {
        self.number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let added = match serde_json::from_slice::<ExportRecord>(line) {
            Err(e) => Err(ServerError::BadRequest(e.to_string())),
            Ok(record) => match check(&record, principal) {
                Err(e) => Err(e),
                Ok(()) => importer.add(record).await,
            },
        };
        let Err(error) = added else { return Ok(()) };
        let at = format!("line {}", self.number);
        let note = self.stopped(importer).await;
        Err(match error {
            ServerError::BadRequest(m) => ServerError::BadRequest(format!("{at}: {m}; {note}")),
            ServerError::PayloadTooLarge(m) => {
                ServerError::PayloadTooLarge(format!("{at}: {m}; {note}"))
            }
            ServerError::Forbidden(m) => ServerError::Forbidden(format!("{at}: {m}; {note}")),
            other => other,
        })
    }

    /// Commits the records before the line that stopped the import and
    /// says how many were stored.
    async fn stopped(&self, importer: &mut Importer) -> String {
        match importer.finish().await {
            Ok((imported, expired, rev)) => format!(
                "the {} records before it were imported ({imported} stored up to revision \
                 {rev}, {expired} expired), none from it on",
                imported + expired
            ),
            Err(e) => format!("the import stopped: {e}"),
        }
    }
}
