//! [`Hub`]: the in-process feed. A bounded ring of recent events, and
//! cursors that read it forward.
//!
//! The writer appends a batch under one short lock and wakes readers; it
//! never waits for them and its cost does not depend on how many there are.
//! Each reader keeps its own position (a [`Cursor`]) and copies events out
//! under the same lock. A reader whose position falls out of the ring gets
//! an error naming the revision to resume from; so does a *live* reader
//! (one that has caught up with the newest revision at least once) that then
//! falls more than its `max_lag` behind: its bounded buffer overflowed. A
//! reader catching up from history is not cut for being behind, only if it
//! is so slow that the ring overtakes it (as etcd serves unsynced watchers).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use kv_core::Change;
use tokio::sync::watch;

use crate::error::{FeedError, Result};
use crate::event::Event;
use crate::{Feed, FeedStats};

/// Default number of events the ring holds.
pub const DEFAULT_RING_EVENTS: usize = 100_000;
/// Default bytes the ring holds (keys, values and previous values).
pub const DEFAULT_RING_BYTES: usize = 64 * 1024 * 1024;

/// How much the ring holds; the oldest events leave first when either
/// limit is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingLimits {
    /// Most events held.
    pub max_events: usize,
    /// Most bytes held, as counted by [`Event::size`].
    pub max_bytes: usize,
}

impl Default for RingLimits {
    fn default() -> Self {
        Self {
            max_events: DEFAULT_RING_EVENTS,
            max_bytes: DEFAULT_RING_BYTES,
        }
    }
}

/// The in-process feed. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ring: Mutex<Ring>,
    /// Wakes blocking readers.
    wake: Condvar,
    /// Wakes async readers; carries the last revision.
    notify: watch::Sender<u64>,
    limits: RingLimits,
}

#[derive(Debug)]
struct Ring {
    events: VecDeque<Arc<Event>>,
    bytes: usize,
    /// The last revision published (or the store's revision at startup).
    last_rev: u64,
}

impl Ring {
    /// The oldest revision a cursor can still start at.
    fn oldest_rev(&self) -> u64 {
        self.events.front().map_or(self.last_rev + 1, |e| e.rev)
    }

    /// Whether revision `rev` can no longer be read: older than the ring
    /// and not in the future.
    fn is_gone(&self, rev: u64) -> bool {
        rev < self.oldest_rev() && rev <= self.last_rev
    }
}

impl Hub {
    /// An empty hub whose history starts after `last_rev` (the store's
    /// revision at startup: earlier changes are not replayed to readers).
    pub fn new(limits: RingLimits, last_rev: u64) -> Self {
        let (notify, _) = watch::channel(last_rev);
        Self {
            inner: Arc::new(Inner {
                ring: Mutex::new(Ring {
                    events: VecDeque::new(),
                    bytes: 0,
                    last_rev,
                }),
                wake: Condvar::new(),
                notify,
                limits,
            }),
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        lock(&self.inner.ring)
    }
}

fn lock(ring: &Mutex<Ring>) -> MutexGuard<'_, Ring> {
    // The ring is consistent between statements; a panic elsewhere while
    // holding the lock leaves nothing half-done.
    ring.lock().unwrap_or_else(|e| e.into_inner())
}

impl Feed for Hub {
    fn publish(&self, changes: &[Change]) {
        let Some(last) = changes.last() else {
            return;
        };
        let limits = self.inner.limits;
        // Built before taking the lock, so readers wait only for the pushes.
        let events: Vec<Arc<Event>> = changes
            .iter()
            .map(|c| Arc::new(Event::from_change(c)))
            .collect();
        {
            let mut ring = self.ring();
            for event in events {
                ring.bytes += event.size();
                ring.events.push_back(event);
            }
            ring.last_rev = last.rev;
            while ring.events.len() > limits.max_events || ring.bytes > limits.max_bytes {
                let Some(old) = ring.events.pop_front() else {
                    break;
                };
                ring.bytes -= old.size();
            }
        }
        self.inner.wake.notify_all();
        self.inner.notify.send_replace(last.rev);
    }

    fn subscribe(&self, from: Option<u64>, max_lag: Option<u64>) -> Result<Cursor> {
        let ring = self.ring();
        let next = from.unwrap_or(ring.last_rev + 1).max(1);
        if ring.is_gone(next) {
            return Err(FeedError::Gone {
                requested: next,
                oldest: ring.oldest_rev(),
            });
        }
        let live = next > ring.last_rev;
        drop(ring);
        Ok(Cursor {
            inner: Arc::clone(&self.inner),
            next,
            max_lag,
            live,
            notify: self.inner.notify.subscribe(),
        })
    }

    fn stats(&self) -> FeedStats {
        let ring = self.ring();
        FeedStats {
            last_rev: ring.last_rev,
            oldest_rev: ring.oldest_rev(),
            events: ring.events.len(),
            nats_connected: None,
            nats_skipped: 0,
            nats_confirmed_rev: None,
        }
    }

    fn close(&self) {}
}

/// A reader's position in the feed.
#[derive(Debug)]
pub struct Cursor {
    inner: Arc<Inner>,
    /// The next revision to read.
    next: u64,
    max_lag: Option<u64>,
    /// Whether it has caught up with the newest revision at least once;
    /// only then does `max_lag` apply.
    live: bool,
    notify: watch::Receiver<u64>,
}

impl Cursor {
    /// The next revision this cursor will read.
    pub fn next_rev(&self) -> u64 {
        self.next
    }

    /// Moves the cursor to read from `rev` on.
    ///
    /// # Errors
    ///
    /// [`FeedError::Gone`] when `rev` is no longer held; the cursor is then
    /// left where it was.
    pub fn seek(&mut self, rev: u64) -> Result<()> {
        let rev = rev.max(1);
        let ring = lock(&self.inner.ring);
        if ring.is_gone(rev) {
            return Err(FeedError::Gone {
                requested: rev,
                oldest: ring.oldest_rev(),
            });
        }
        self.next = rev;
        Ok(())
    }

    /// Appends to `out` the events from the cursor on, at most about `max`
    /// (a revision's events are never split), and advances past them. Adds
    /// nothing when the cursor is up to date.
    ///
    /// # Errors
    ///
    /// [`FeedError::Gone`] if the cursor fell out of the ring;
    /// [`FeedError::Lagged`] if, once live, it is more than `max_lag` behind.
    pub fn read(&mut self, max: usize, out: &mut Vec<Arc<Event>>) -> Result<()> {
        let ring = lock(&self.inner.ring);
        if ring.is_gone(self.next) {
            return Err(FeedError::Gone {
                requested: self.next,
                oldest: ring.oldest_rev(),
            });
        }
        let lag = (ring.last_rev + 1).saturating_sub(self.next);
        if let Some(max_lag) = self.max_lag.filter(|_| self.live) {
            if lag > max_lag {
                return Err(FeedError::Lagged {
                    resume_from: self.next,
                    lag,
                });
            }
        }
        let start = ring.events.partition_point(|e| e.rev < self.next);
        for (taken, event) in ring.events.range(start..).enumerate() {
            if taken >= max && event.rev != self.next - 1 {
                break;
            }
            self.next = event.rev + 1;
            out.push(Arc::clone(event));
        }
        self.live |= self.next > ring.last_rev;
        Ok(())
    }

    /// Waits (async) until there is something to read from the cursor's
    /// position.
    pub async fn changed(&mut self) {
        loop {
            if *self.notify.borrow_and_update() >= self.next {
                return;
            }
            if self.notify.changed().await.is_err() {
                // The hub is gone: nothing more will come.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Waits (blocking) at most `timeout` for something to read; returns
    /// whether there is.
    pub fn wait(&self, timeout: Duration) -> bool {
        let ring = lock(&self.inner.ring);
        let (ring, _) = self
            .inner
            .wake
            .wait_timeout_while(ring, timeout, |r| r.last_rev < self.next)
            .unwrap_or_else(|e| e.into_inner());
        ring.last_rev >= self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv_core::ChangeKind;

    fn changes(revs: std::ops::RangeInclusive<u64>) -> Vec<Change> {
        revs.map(|rev| Change {
            rev,
            key: Arc::from(format!("k{rev}")),
            kind: ChangeKind::Remove,
            prev: None,
        })
        .collect()
    }

    fn revs(cursor: &mut Cursor, max: usize) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        cursor.read(max, &mut out)?;
        Ok(out.iter().map(|e| e.rev).collect())
    }

    #[test]
    fn cursors_read_forward_from_where_they_start() {
        let hub = Hub::new(RingLimits::default(), 10);
        let mut live = hub.subscribe(None, None).expect("live");
        assert_eq!(live.next_rev(), 11);
        hub.publish(&changes(11..=15));
        assert_eq!(revs(&mut live, 3).expect("read"), vec![11, 12, 13]);
        assert_eq!(revs(&mut live, 10).expect("read"), vec![14, 15]);
        assert!(revs(&mut live, 10).expect("read").is_empty());
        let mut from_13 = hub.subscribe(Some(13), None).expect("from 13");
        assert_eq!(revs(&mut from_13, 10).expect("read"), vec![13, 14, 15]);
        assert!(
            hub.subscribe(Some(99), None).is_ok(),
            "a future revision waits"
        );
    }

    #[test]
    fn revisions_before_the_ring_are_gone_not_skipped() {
        let limits = RingLimits {
            max_events: 3,
            max_bytes: usize::MAX,
        };
        let hub = Hub::new(limits, 0);
        let mut slow = hub.subscribe(Some(1), None).expect("from 1");
        hub.publish(&changes(1..=5));
        match hub.subscribe(Some(2), None) {
            Err(FeedError::Gone {
                requested: 2,
                oldest: 3,
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            revs(&mut slow, 10),
            Err(FeedError::Gone {
                requested: 1,
                oldest: 3
            })
        ));
        assert_eq!(hub.stats().oldest_rev, 3);
        // After a restart the ring is empty: anything at or before the
        // store's revision is gone.
        let fresh = Hub::new(RingLimits::default(), 5);
        assert!(matches!(
            fresh.subscribe(Some(5), None),
            Err(FeedError::Gone { oldest: 6, .. })
        ));
    }

    #[test]
    fn a_reader_too_far_behind_is_cut_off_with_its_resume_point() {
        let hub = Hub::new(RingLimits::default(), 0);
        let mut reader = hub.subscribe(Some(1), Some(4)).expect("subscribe");
        hub.publish(&changes(1..=3));
        assert_eq!(revs(&mut reader, 1).expect("read"), vec![1]);
        hub.publish(&changes(4..=6));
        match revs(&mut reader, 10) {
            Err(FeedError::Lagged {
                resume_from: 2,
                lag: 5,
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
        // Its resume point is still in the ring, and a reader catching up
        // from there is not cut for being behind, however far.
        let mut resumed = hub.subscribe(Some(2), Some(1)).expect("resume");
        assert_eq!(revs(&mut resumed, 2).expect("read"), vec![2, 3]);
        assert_eq!(revs(&mut resumed, 10).expect("read"), vec![4, 5, 6]);
        // Caught up, it is live: now the limit applies.
        hub.publish(&changes(7..=9));
        assert!(matches!(
            revs(&mut resumed, 10),
            Err(FeedError::Lagged { resume_from: 7, .. })
        ));
    }

    #[test]
    fn the_byte_limit_trims_too() {
        let limits = RingLimits {
            max_events: 1000,
            max_bytes: 3 * 100,
        };
        let hub = Hub::new(limits, 0);
        hub.publish(&changes(1..=10));
        assert!(hub.stats().events <= 3);
    }

    #[test]
    fn blocking_readers_wake_on_publish() {
        let hub = Hub::new(RingLimits::default(), 0);
        let cursor = hub.subscribe(None, None).expect("subscribe");
        assert!(!cursor.wait(Duration::from_millis(1)));
        let publisher = hub.clone();
        let thread = std::thread::spawn(move || publisher.publish(&changes(1..=1)));
        assert!(cursor.wait(Duration::from_secs(30)));
        thread.join().expect("publisher");
    }
}
