//! `GET /v1/watch`: the change feed as Server-Sent Events.
//!
//! Each event is `id: <rev>`, `event: set|rm|expire`, `data: <JSON>` (when a
//! revision changes several keys, only its last event carries `id:`, so a
//! client resuming from `Last-Event-ID` never skips part of a revision). An
//! idle stream gets a `progress` event (with an `id:`, so `Last-Event-ID`
//! checkpoints it) every heartbeat. What waits to be sent is bounded in
//! bytes ([`crate::service::watch_outbox`]); a watcher that stops reading is cut: its
//! last event is `cut`, naming the revision to resume from, and the stream
//! ends. Resume with `from_rev` or the standard `Last-Event-ID` header; a
//! revision that does not exist yet is waited for (as etcd does), and
//! progress events never claim a revision that does not exist.

use std::sync::Arc;

use actix_web::rt::time::{interval_at, Instant};
use actix_web::web::{Bytes, Query};
use actix_web::{HttpRequest, HttpResponse};
use kv_core::api::{ErrorBody, WatchCut, WatchProgress};
use kv_pubsub::{Cursor, Event, FeedError, Filter, Op};
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::auth::{Principal, Right};
use crate::error::ServerError;
use crate::http::extract::Ready;
use crate::http::gate::ConnectionHandle;
use crate::http::schemas::{LastEventId, Revision, WatchOps, WatchStreamEvent};
use crate::service::watch_outbox::{Outbox, Push, STALL_GRACE};
use crate::service::WatchStart;

/// Most events taken from the feed per read.
const READ_BATCH: usize = 64;
/// Most bytes the kernel queues unsent on a watch stream's socket
/// (`TCP_NOTSENT_LOWAT`; what is in flight is bounded by the client's
/// window as always). Without it, each watcher that stops reading takes up
/// to megabytes of kernel buffers before its outbox sees any back-pressure.
const UNSENT_LIMIT: u32 = 64 * 1024;

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
    let (start, body) = state.watch(from)?;
    // Keep what the kernel queues for a watcher small, so that one that
    // stops reading fills its own (budgeted) outbox, not kernel memory.
    if let Some(connection) = request.conn_data::<Arc<ConnectionHandle>>() {
        connection.limit_unsent(UNSENT_LIMIT);
    }
    actix_web::rt::spawn(pump(start, filter, query.prev));
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

/// Feeds one watcher: reads its cursor, filters, queues each event's
/// frame in its outbox. Ends when the client goes away, the watcher is cut
/// off, or the server stops (the client then resumes elsewhere or after the
/// restart with `Last-Event-ID`).
async fn pump(start: WatchStart, filter: Filter, with_prev: bool) {
    // The slot is released when this function returns.
    let WatchStart {
        mut cursor,
        outbox,
        settings,
        mut stopping,
        slot,
    } = start;
    let heartbeat = settings.heartbeat;
    // Tell the client how soon to reconnect, and show the stream is open.
    if !outbox.push_control(progress(cursor.caught_up_to(), "retry: 1000\n")) {
        return;
    }
    let mut tick = interval_at(Instant::now() + heartbeat, heartbeat);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut events: Vec<Arc<Event>> = Vec::with_capacity(READ_BATCH);
    loop {
        events.clear();
        if let Err(e) = cursor.read(READ_BATCH, outbox.room(), &mut events) {
            slot.record_cut();
            outbox.finish(false, cursor.next_rev(), |_| out_of_memory(&e));
            return;
        }
        if !events.is_empty() {
            for event in events.iter().filter(|e| filter.matches(e)) {
                match deliver(&outbox, &cursor, event, with_prev, &mut stopping).await {
                    Delivered::Yes => {}
                    Delivered::Stopped => return,
                    Delivered::Cut(why) => {
                        slot.record_cut();
                        outbox.finish(true, event.rev, |resume| over_budget(resume, why));
                        return;
                    }
                }
            }
            continue;
        }
        if *stopping.borrow_and_update() || outbox.is_gone() {
            return;
        }
        tokio::select! {
            () = cursor.changed() => {}
            _ = stopping.changed() => {}
            () = outbox.drained() => {}
            _ = tick.tick() => {
                if !outbox.push_control(progress(cursor.caught_up_to(), "")) {
                    return;
                }
            }
        }
    }
}

/// What became of one event.
enum Delivered {
    /// It waits in the outbox.
    Yes,
    /// The client went away, or the server is stopping.
    Stopped,
    /// The watcher must be cut, for this reason.
    Cut(&'static str),
}

/// Queues `event` in `outbox`, waiting while the outbox is full as long as
/// the client keeps reading.
async fn deliver(
    outbox: &Outbox,
    cursor: &Cursor,
    event: &Event,
    with_prev: bool,
    stopping: &mut watch::Receiver<bool>,
) -> Delivered {
    let frame = cursor.frame(event, with_prev);
    loop {
        match outbox.push_event(event.rev, frame.clone()) {
            Push::Queued => return Delivered::Yes,
            Push::Gone => return Delivered::Stopped,
            Push::OverTotal => return Delivered::Cut(OVER_TOTAL),
            Push::Full => {}
        }
        tokio::select! {
            () = outbox.drained() => {}
            _ = stopping.changed() => return Delivered::Stopped,
            () = tokio::time::sleep(STALL_GRACE) => return Delivered::Cut(STALLED),
        }
    }
}

/// Why a watcher over the shared budget was cut.
const OVER_TOTAL: &str = "the buffers of all watch streams are full (--watch-total-buffer-bytes)";
/// Why a watcher over its own budget was cut.
const STALLED: &str = "this watcher read nothing while its buffer was full (--watch-buffer-bytes)";

fn progress(rev: u64, preamble: &str) -> Bytes {
    let data = serde_json::to_string(&WatchProgress { rev }).unwrap_or_default();
    Bytes::from(format!(
        "{preamble}id: {rev}\nevent: progress\ndata: {data}\n\n"
    ))
}

/// The `cut` frame of a watcher that fell out of the feed's memory.
fn out_of_memory(error: &FeedError) -> Bytes {
    let (resume_from_rev, reason) = match error {
        FeedError::Gone { requested, oldest } => (
            *requested,
            format!(
                "revisions from {requested} left the server's memory (the oldest kept is {oldest}); \
                 read the current state and watch from there"
            ),
        ),
        other => (0, other.to_string()),
    };
    cut_frame(resume_from_rev, reason)
}

/// The `cut` frame of a watcher over a byte budget.
fn over_budget(resume_from_rev: u64, why: &str) -> Bytes {
    cut_frame(
        resume_from_rev,
        format!("{why}; resume from revision {resume_from_rev}"),
    )
}

fn cut_frame(resume_from_rev: u64, reason: String) -> Bytes {
    let data = serde_json::to_string(&WatchCut {
        resume_from_rev,
        reason,
    })
    .unwrap_or_default();
    Bytes::from(format!("event: cut\ndata: {data}\n\n"))
}
