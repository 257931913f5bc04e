//! [`Service::watch`]: a watch stream's start: its cursor on the feed, its
//! outbox, its slot among the open watchers.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kv_pubsub::{Cursor, FeedError};

use crate::error::ServerError;
use crate::observe::metrics::WatchCounters;
use crate::service::watch_outbox::{outbox, Outbox, OutboxStream};
use crate::service::Service;

/// One open watch stream; the count of open streams goes down when it is
/// dropped.
#[derive(Debug)]
pub struct WatcherSlot(Arc<WatchCounters>);

impl WatcherSlot {
    /// Counts the stream as cut off for falling behind.
    pub fn record_cut(&self) {
        self.0.cut.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for WatcherSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How watch streams behave.
#[derive(Debug, Clone, Copy)]
pub struct WatchSettings {
    /// Time between progress events on an idle stream.
    pub heartbeat: Duration,
}

/// What a new watch stream needs: see [`Service::watch`].
#[derive(Debug)]
pub struct WatchStart {
    /// Its position in the feed.
    pub cursor: Cursor,
    /// What waits to be sent to it.
    pub outbox: Outbox,
    /// Heartbeat and lag limit.
    pub settings: WatchSettings,
    /// Turns `true` when the server shuts down.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Its place among the open watchers.
    pub slot: WatcherSlot,
}

impl Service {
    /// `GET /v1/watch`: a cursor on the feed from `from` (inclusive; the
    /// next revision when `None`), its outbox, how the stream should behave,
    /// and its slot among the open watchers (hold it while the stream is
    /// open); and the response body, fed by the outbox.
    ///
    /// # Errors
    ///
    /// [`ServerError::Gone`] when `from` is older than the feed keeps;
    /// [`ServerError::Unavailable`] when --max-watchers streams are open.
    pub fn watch(&self, from: Option<u64>) -> Result<(WatchStart, OutboxStream), ServerError> {
        let counters = &self.watch_budget.counters;
        if counters.open.fetch_add(1, Ordering::Relaxed) >= self.max_watchers {
            counters.open.fetch_sub(1, Ordering::Relaxed);
            return Err(ServerError::Unavailable(format!(
                "too many watch streams: the limit is {} (--max-watchers)",
                self.max_watchers
            )));
        }
        let slot = WatcherSlot(Arc::clone(counters));
        let cursor = self.feed.subscribe(from).map_err(|e| match e {
            FeedError::Gone { requested, oldest } => ServerError::Gone {
                requested,
                oldest_rev: oldest,
            },
            other => ServerError::Internal(other.to_string()),
        })?;
        let (outbox, body) = outbox(Arc::clone(&self.watch_budget));
        let start = WatchStart {
            cursor,
            outbox,
            settings: self.watch,
            stopping: self.stopping.subscribe(),
            slot,
        };
        Ok((start, body))
    }
}
