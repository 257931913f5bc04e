//! [`ReplicaStatus`]: where this replica is in the log, shared by the
//! applier (which moves it) and the routes (`/v1/status`, `/readyz`,
//! consistent reads).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

/// This replica's place in the log.
#[derive(Debug)]
pub struct ReplicaStatus {
    /// The last message applied here.
    applied: watch::Sender<u64>,
    /// The newest message known to be in the log (from the reader's pending
    /// counts and from asking the log).
    known_seq: AtomicU64,
    /// The first catch-up after the start is done.
    caught_up: AtomicBool,
    /// Why the replica stopped applying, if it did.
    failure: Mutex<Option<String>>,
}

impl ReplicaStatus {
    /// A replica whose state covers the log up to `seq`.
    pub fn new(seq: u64) -> Self {
        Self {
            applied: watch::Sender::new(seq),
            known_seq: AtomicU64::new(seq),
            caught_up: AtomicBool::new(false),
            failure: Mutex::new(None),
        }
    }

    /// The last message applied here.
    pub fn applied_seq(&self) -> u64 {
        *self.applied.borrow()
    }

    /// The newest message known to be in the log.
    pub fn known_seq(&self) -> u64 {
        self.known_seq
            .load(Ordering::Relaxed)
            .max(self.applied_seq())
    }

    /// Messages in the log not applied here yet, as far as known.
    pub fn lag(&self) -> u64 {
        self.known_seq().saturating_sub(self.applied_seq())
    }

    /// Records that message `seq` is applied and `pending` more follow it.
    pub fn record_applied(&self, seq: u64, pending: u64) {
        self.saw(seq + pending);
        self.applied.send_replace(seq);
    }

    /// Records that the log holds messages up to `seq`.
    pub fn saw(&self, seq: u64) {
        self.known_seq.fetch_max(seq, Ordering::Relaxed);
    }

    /// Waits until message `seq` is applied here.
    pub async fn applied_through(&self, seq: u64) {
        let mut applied = self.applied.subscribe();
        // Fails only if the sender is gone, which this struct owns.
        let _ = applied.wait_for(|applied| *applied >= seq).await;
    }

    /// Marks the first catch-up done.
    pub fn set_caught_up(&self) {
        self.caught_up.store(true, Ordering::Release);
    }

    /// Whether the first catch-up is done.
    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Acquire)
    }

    /// The replica stopped applying, for `why`.
    pub fn fail(&self, why: String) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    /// Why the replica stopped applying, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
