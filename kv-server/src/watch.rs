//! `GET /v1/watch`: the change feed as Server-Sent Events.
//!
//! Each event is `id: <rev>`, `event: set|rm|expire`, `data: <JSON>`. An
//! idle stream gets a `progress` event (with an `id:`, so `Last-Event-ID`
//! checkpoints it) every heartbeat. A watcher that falls too far behind gets
//! a final `cut` event naming the revision to resume from, then the stream
//! ends. Resume with `from_rev` or the standard `Last-Event-ID` header.

use std::fmt::Write;
use std::io;
use std::sync::Arc;

use actix_web::rt::time::{interval_at, Instant};
use actix_web::web::{Bytes, Query};
use actix_web::{HttpRequest, HttpResponse};
use kv_core::api::{ErrorBody, WatchCut, WatchProgress};
use kv_pubsub::{Event, FeedError, Filter, Op};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::api_schemas::{LastEventId, Revision, WatchOps, WatchStreamEvent};
use crate::auth::{Principal, Right};
use crate::body_stream::async_body_channel;
use crate::error::ServerError;
use crate::startup::Ready;
use crate::state::WatchStart;

/// Events taken from the feed per read.
const READ_BATCH: usize = 256;

/// Query of `GET /v1/watch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    /// Only this key.
    key: Option<String>,
    /// Only keys with this prefix.
    prefix: Option<String>,
    /// Only these ops, comma-separated: `set,rm,expire`.
    ops: Option<String>,
    /// Add the previous value to each event.
    #[serde(default)]
    prev: bool,
    /// Start at this revision (inclusive). `Last-Event-ID` wins over it.
    from_rev: Option<u64>,
}

/// `GET /v1/watch`.
#[utoipa::path(get, path = "/v1/watch", tag = "feed",
    params(("key" = Option<String>, Query, description = "Only this key"),
        ("prefix" = Option<String>, Query, description = "Only keys with this prefix"),
        ("ops" = inline(Option<WatchOps>), Query),
        ("prev" = Option<bool>, Query, description = "Add previous values"),
        ("from_rev" = inline(Option<Revision>), Query,
            description = "Start at this revision (inclusive); Last-Event-ID wins over it"),
        ("Last-Event-ID" = inline(Option<LastEventId>), Header, nullable = false)),
    responses((status = 200, description = "Server-Sent Events, until the client leaves, the \
                server stops, or the reader falls too far behind (a last cut event)",
            body = WatchStreamEvent, content_type = "text/event-stream"),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 410, description = "from_rev is older than the feed keeps", body = ErrorBody)))]
pub async fn watch(
    principal: Principal,
    state: Ready,
    query: Query<WatchQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ServerError> {
    let query = query.into_inner();
    // The stream carries only keys the token may both watch and read.
    let scope = query
        .key
        .as_deref()
        .or(query.prefix.as_deref())
        .unwrap_or("");
    principal.require(Right::Watch, scope)?;
    principal.require(Right::Read, scope)?;
    let filter = Filter {
        key: query.key,
        prefix: query.prefix,
        ops: parse_ops(query.ops.as_deref())?,
    };
    let from = match request.headers().get("last-event-id") {
        Some(id) => Some(
            id.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .and_then(|rev| rev.checked_add(1))
                .ok_or_else(|| {
                    ServerError::BadRequest("Last-Event-ID must be a revision number".into())
                })?,
        ),
        None => query.from_rev,
    };
    let start = state.watch(from)?;
    let (sender, body) = async_body_channel();
    actix_web::rt::spawn(pump(start, filter, query.prev, sender));
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

fn parse_ops(ops: Option<&str>) -> Result<Vec<Op>, ServerError> {
    let Some(ops) = ops else {
        return Ok(Vec::new());
    };
    ops.split(',')
        .map(|op| {
            Op::parse(op.trim()).ok_or_else(|| {
                ServerError::BadRequest(format!("unknown op {op:?} in ops; use set, rm, expire"))
            })
        })
        .collect()
}

/// Feeds one watcher: reads its cursor, filters, encodes, sends. Ends when
/// the client goes away, the watcher is cut off, or the server stops (the
/// client then resumes elsewhere or after the restart with `Last-Event-ID`).
async fn pump(
    start: WatchStart,
    filter: Filter,
    with_prev: bool,
    sender: mpsc::Sender<io::Result<Bytes>>,
) {
    // The slot is released when this function returns.
    let WatchStart {
        mut cursor,
        settings,
        mut stopping,
        slot,
    } = start;
    let heartbeat = settings.heartbeat;
    let send = |text: String| sender.send(Ok(Bytes::from(text)));
    // Tell the client how soon to reconnect, and show the stream is open.
    if send(progress(cursor.next_rev() - 1, "retry: 1000\n"))
        .await
        .is_err()
    {
        return;
    }
    let mut tick = interval_at(Instant::now() + heartbeat, heartbeat);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut events: Vec<Arc<Event>> = Vec::with_capacity(READ_BATCH);
    loop {
        events.clear();
        if let Err(e) = cursor.read(READ_BATCH, &mut events) {
            slot.record_cut();
            let _ = send(cut(&e)).await;
            return;
        }
        if !events.is_empty() {
            let text = encode(&events, &filter, with_prev);
            if !text.is_empty() && send(text).await.is_err() {
                return;
            }
            continue;
        }
        if *stopping.borrow_and_update() {
            return;
        }
        tokio::select! {
            () = cursor.changed() => {}
            _ = stopping.changed() => {}
            _ = tick.tick() => {
                if send(progress(cursor.next_rev() - 1, "")).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn encode(events: &[Arc<Event>], filter: &Filter, with_prev: bool) -> String {
    let mut text = String::new();
    for event in events.iter().filter(|e| filter.matches(e)) {
        let _ = write!(
            text,
            "id: {}\nevent: {}\ndata: {}\n\n",
            event.rev,
            event.op.as_str(),
            event.json(with_prev)
        );
    }
    text
}

fn progress(rev: u64, preamble: &str) -> String {
    let data = serde_json::to_string(&WatchProgress { rev }).unwrap_or_default();
    format!("{preamble}id: {rev}\nevent: progress\ndata: {data}\n\n")
}

fn cut(error: &FeedError) -> String {
    let (resume_from_rev, reason) = match error {
        FeedError::Lagged { resume_from, lag } => (
            *resume_from,
            format!("this watcher fell {lag} revisions behind; resume from revision {resume_from}"),
        ),
        FeedError::Gone { requested, oldest } => (
            *requested,
            format!(
                "revisions from {requested} left the server's memory (the oldest kept is {oldest}); \
                 read the current state and watch from there"
            ),
        ),
        other => (0, other.to_string()),
    };
    let data = serde_json::to_string(&WatchCut {
        resume_from_rev,
        reason,
    })
    .unwrap_or_default();
    format!("event: cut\ndata: {data}\n\n")
}
