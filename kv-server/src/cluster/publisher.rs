//! Who publishes the feed to NATS in replicated mode.
//!
//! Every replica has the same feed; one at a time mirrors it to the NATS
//! subjects `set`, `rm` and `expire`, so each change goes out once while
//! all servers stay up. The publisher is decided through the log itself:
//! a replica claims the turn with a [`PublisherMark`] of the next epoch,
//! the holder sends one every second with the last revision NATS
//! confirmed, and when the marks stop (the holder crashed or lost the
//! log) another replica claims the next epoch and publishes from that
//! confirmed revision on: at least once across crashes (the few events
//! sent twice carry the same `Nats-Msg-Id`, their revision, so a
//! JetStream consumer drops the repeats). Applied in log order, the marks
//! make every replica agree on the holder ([`Lease::apply`]). The turn is
//! not in snapshots: a replica learns it from the holder's next mark, and
//! the first turn the log shows starts with all the claimer's feed holds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kv_core::codec::commands::PublisherMark;
use kv_pubsub::nats::PublishTurn;
use kv_pubsub::replicated::ReplicatedLog;
use kv_pubsub::Feed;
use log::info;

use crate::cluster::status::ReplicaStatus;

/// How often the holder says it still publishes.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Silence after which another replica claims the turn.
const CLAIM_AFTER: Duration = Duration::from_secs(5);
/// How often the lease is looked at.
const TICK: Duration = Duration::from_millis(200);

/// The turn as the marks applied so far decide it.
#[derive(Debug)]
pub struct Lease {
    holder: Option<u64>,
    epoch: u64,
    published_rev: u64,
    /// When this replica last applied a mark of the holder's.
    heard: Instant,
}

impl Default for Lease {
    fn default() -> Self {
        Self {
            holder: None,
            epoch: 0,
            published_rev: 0,
            heard: Instant::now(),
        }
    }
}

impl Lease {
    /// The replica that publishes, if any has claimed the turn.
    pub fn holder(&self) -> Option<u64> {
        self.holder
    }

    /// Applies a mark from the log: a claim of a later epoch takes the
    /// turn (the first applied wins; a replica that restarted learns the
    /// holder from its next heartbeat the same way); a heartbeat of the
    /// holder's epoch renews it. Anything else is stale and ignored.
    pub fn apply(&mut self, mark: PublisherMark) {
        if mark.epoch > self.epoch {
            if self.holder != Some(mark.node) {
                info!(
                    "the feed is published to NATS by replica {:016x} (turn {})",
                    mark.node, mark.epoch
                );
            }
            self.holder = Some(mark.node);
            self.epoch = mark.epoch;
            self.published_rev = mark.published_rev;
            self.heard = Instant::now();
        } else if mark.epoch == self.epoch && self.holder == Some(mark.node) {
            self.published_rev = self.published_rev.max(mark.published_rev);
            self.heard = Instant::now();
        }
    }
}

fn lock(lease: &Mutex<Lease>) -> MutexGuard<'_, Lease> {
    lease.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the publisher thread works with.
#[derive(Debug)]
pub struct PublisherLease {
    /// This server's id.
    pub node: u64,
    /// Where marks go.
    pub log: Arc<dyn ReplicatedLog>,
    /// The turn as the applier keeps it.
    pub lease: Arc<Mutex<Lease>>,
    /// Turns this server's NATS publisher on and off.
    pub turn: Arc<PublishTurn>,
    /// The feed, for the revision NATS confirmed.
    pub feed: Arc<dyn Feed>,
    /// Whether this replica has caught up (it claims nothing before).
    pub status: Arc<ReplicaStatus>,
}

impl PublisherLease {
    /// Starts the thread; it stops when `stop` turns true.
    ///
    /// # Errors
    ///
    /// The thread could not be started.
    pub fn start(self, stop: Arc<AtomicBool>) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("kv-publisher-lease".into())
            .spawn(move || self.run(&stop))
    }

    fn run(self, stop: &AtomicBool) {
        let mut sent = 0u64;
        let mut last_mark: Option<Instant> = None;
        while !stop.load(Ordering::Acquire) {
            std::thread::sleep(TICK);
            let (holder, epoch, published_rev, heard) = {
                let lease = lock(&self.lease);
                (lease.holder, lease.epoch, lease.published_rev, lease.heard)
            };
            let due = last_mark.is_none_or(|at| at.elapsed() >= HEARTBEAT);
            let mark = if holder == Some(self.node) {
                if !self.turn.is_mine() {
                    self.turn.begin(published_rev + 1);
                }
                let confirmed = self
                    .feed
                    .stats()
                    .nats_confirmed_rev
                    .unwrap_or(published_rev);
                due.then_some(PublisherMark {
                    node: self.node,
                    epoch,
                    published_rev: confirmed.max(published_rev),
                })
            } else {
                if self.turn.is_mine() {
                    self.turn.end();
                }
                let silent = heard.elapsed() >= CLAIM_AFTER;
                let retry = last_mark.is_none_or(|at| at.elapsed() >= CLAIM_AFTER);
                // The first turn the log knows of starts with everything
                // this replica's feed holds (all of a new cluster's
                // changes; after every server restarted, those since its
                // snapshot, at least once); a later one where the last
                // publisher's confirmations ended.
                let from = match holder {
                    None => self.feed.stats().oldest_rev.saturating_sub(1),
                    Some(_) => published_rev,
                };
                (silent && retry && self.status.caught_up()).then_some(PublisherMark {
                    node: self.node,
                    epoch: epoch + 1,
                    published_rev: from,
                })
            };
            if let Some(mark) = mark {
                sent += 1;
                let id = format!("{:016x}-mark-{sent}", self.node);
                // A lost mark is made up for by the next one.
                self.log.append(&id, &mark.encode(), Box::new(drop));
                last_mark = Some(Instant::now());
            }
        }
        self.turn.end();
    }
}
