//! The change feed of kv-store: every committed change, in revision order,
//! to HTTP watchers and to NATS.
//!
//! The writer hands each applied batch to a [`Feed`]. Readers take a
//! [`Cursor`] at a revision and read forward; a cursor that falls out of the
//! feed's bounded memory, or too far behind, is told so with the revision to
//! resume from: nothing is ever skipped silently.
//!
//! # Layout
//!
//! - [`event`]: [`Event`], one committed change, and its JSON forms.
//! - [`hub`]: [`Hub`], the in-process feed: a bounded ring of recent events
//!   and cursors over it. The writer's cost per batch does not grow with the
//!   number of readers.
//! - [`filter`]: which events a watcher wants.
//! - [`nats`]: everything that speaks NATS (the only module that uses the
//!   `nats` crate): [`NatsFeed`], the hub plus a publisher thread that
//!   mirrors it to NATS; [`nats::subscribe`] for reading the original
//!   subjects; the replicated log and snapshot store on JetStream.
//! - [`nats_config`]: where and how to publish (plain data).
//! - [`replicated`]: the replicated log of replicated mode, as traits
//!   ([`replicated::ReplicatedLog`], [`replicated::LogReader`],
//!   [`replicated::SnapshotStore`]), so the server never sees `nats` types.
//! - [`error`]: the error type, [`FeedError`].
#![deny(missing_docs)]

pub mod error;
pub mod event;
pub mod filter;
pub mod hub;
pub mod nats;
pub mod nats_config;
pub mod replicated;

use std::sync::Arc;

use kv_core::api::NatsState;
use kv_core::Change;

pub use error::{FeedError, Result};
pub use event::{Event, Op};
pub use filter::Filter;
pub use hub::{Cursor, Hub, RingLimits};
pub use nats::NatsFeed;

/// Where the writer publishes committed changes and readers subscribe.
/// The server holds an `Arc<dyn Feed>` and does not know which one runs.
pub trait Feed: Send + Sync + std::fmt::Debug {
    /// Publishes an applied batch's changes, in revision order. Called by
    /// the single writer only after the batch is durable. Never blocks on
    /// readers or on the network.
    fn publish(&self, changes: &[Change]);

    /// A cursor that reads from revision `from` on (inclusive), or from the
    /// next revision when `None`. A revision that does not exist yet is
    /// waited for (as etcd does): a replica behind another one serves a
    /// watcher that resumes from the other's revisions once it catches up.
    ///
    /// # Errors
    ///
    /// [`FeedError::Gone`] when `from` is older than the oldest event kept.
    fn subscribe(&self, from: Option<u64>) -> Result<Cursor>;

    /// Statistics for health and metrics.
    fn stats(&self) -> FeedStats;

    /// Stops background work (such as a NATS publisher), delivering what it
    /// can first.
    fn close(&self);
}

/// What a feed reports about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// The last revision published.
    pub last_rev: u64,
    /// The oldest revision still held.
    pub oldest_rev: u64,
    /// Events held in memory.
    pub events: usize,
    /// Whether a NATS connection is configured and currently up.
    pub nats_connected: Option<bool>,
    /// Revisions NATS missed because an outage outlasted the ring.
    pub nats_skipped: u64,
    /// The last revision NATS confirmed (flushed while connected), when
    /// NATS is configured; the publish lag is `last_rev` minus this.
    pub nats_confirmed_rev: Option<u64>,
    /// While NATS is not connected: why the last attempt failed.
    pub nats_error: Option<String>,
}

impl FeedStats {
    /// The NATS publisher's state as `GET /`, `/metrics` and the status
    /// route show it; `None` when NATS is not configured.
    pub fn nats_state(&self) -> Option<NatsState> {
        let connected = self.nats_connected?;
        let confirmed = self.nats_confirmed_rev.unwrap_or(self.last_rev);
        Some(NatsState {
            connected,
            queued: self.last_rev.saturating_sub(confirmed),
            dropped: self.nats_skipped,
            error: self.nats_error.clone().filter(|_| !connected),
        })
    }
}

/// The default feed: the in-process hub alone.
///
/// ```
/// use std::time::Duration;
///
/// use kv_core::{Command, Limits, Store};
/// use kv_pubsub::{in_process, RingLimits};
///
/// let feed = in_process(RingLimits::default(), 0);
/// let mut watcher = feed.subscribe(None)?; // only what comes next
///
/// let (_store, mut writer) = Store::new(16, Limits::default())?;
/// let batch = writer.prepare([Command::set("k", "v"), Command::rm("k")], 0);
/// writer.apply(&batch);
/// feed.publish(&batch.changes);
///
/// assert!(watcher.wait(Duration::from_secs(1)));
/// let mut events = Vec::new();
/// watcher.read(100, usize::MAX, &mut events)?;
/// let ops: Vec<_> = events.iter().map(|e| (e.rev, e.op.as_str())).collect();
/// assert_eq!(ops, [(1, "set"), (2, "rm")]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn in_process(limits: RingLimits, last_rev: u64) -> Arc<dyn Feed> {
    Arc::new(Hub::new(limits, last_rev))
}
