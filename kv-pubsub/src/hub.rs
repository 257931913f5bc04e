//! [`Hub`]: the in-process feed. A bounded ring of recent events, and
//! cursors that read it forward.
//!
//! The writer appends a batch under one short lock and wakes readers; it
//! never waits for them and its cost does not depend on how many there are.
//! Each reader keeps its own position (a [`Cursor`]) and copies event
//! pointers out under the same lock. A reader whose position falls out of
//! the ring gets an error naming the revision it asked for; the ring's own
//! memory is bounded by [`RingLimits`], counting each event's keys and
//! values and the encoded frames readers made of it. How far behind a
//! reader may fall in memory of its own is the reader's business (the
//! server's watch streams have byte budgets).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
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

    /// Drops the oldest events until the ring is within `limits`.
    fn trim(&mut self, limits: RingLimits) {
        while self.events.len() > limits.max_events || self.bytes > limits.max_bytes {
            let Some(old) = self.events.pop_front() else {
                break;
            };
            self.bytes -= old.size() + old.evict();
        }
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
            .enumerate()
            .map(|(i, c)| {
                let closes_rev = changes.get(i + 1).is_none_or(|next| next.rev != c.rev);
                Arc::new(Event::from_change(c, closes_rev))
            })
            .collect();
        {
            let mut ring = self.ring();
            for event in events {
                ring.bytes += event.size();
                ring.events.push_back(event);
            }
            ring.last_rev = last.rev;
            ring.trim(limits);
        }
        self.inner.wake.notify_all();
        self.inner.notify.send_replace(last.rev);
    }

    fn subscribe(&self, from: Option<u64>) -> Result<Cursor> {
        let ring = self.ring();
        let next = from.unwrap_or(ring.last_rev + 1).max(1);
        if ring.is_gone(next) {
            return Err(FeedError::Gone {
                requested: next,
                oldest: ring.oldest_rev(),
            });
        }
        drop(ring);
        Ok(Cursor {
            inner: Arc::clone(&self.inner),
            next,
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
            nats_error: None,
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
    notify: watch::Receiver<u64>,
}

impl Cursor {
    /// The next revision this cursor will read.
    pub fn next_rev(&self) -> u64 {
        self.next
    }

    /// The revision this cursor is up to date with: the one before it
    /// reads next, but never past the last one published (a cursor started
    /// at a future revision claims only what exists).
    pub fn caught_up_to(&self) -> u64 {
        let last = lock(&self.inner.ring).last_rev;
        (self.next - 1).min(last)
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

    /// Appends to `out` the events from the cursor on, at most about
    /// `max_events` and `max_bytes` (as [`Event::size`] counts them; at
    /// least one event, and a revision's events are never split), and
    /// advances past them. Adds nothing when the cursor is up to date.
    ///
    /// # Errors
    ///
    /// [`FeedError::Gone`] if the cursor fell out of the ring.
    pub fn read(
        &mut self,
        max_events: usize,
        max_bytes: usize,
        out: &mut Vec<Arc<Event>>,
    ) -> Result<()> {
        let ring = lock(&self.inner.ring);
        if ring.is_gone(self.next) {
            return Err(FeedError::Gone {
                requested: self.next,
                oldest: ring.oldest_rev(),
            });
        }
        let start = ring.events.partition_point(|e| e.rev < self.next);
        let mut bytes = 0usize;
        for (taken, event) in ring.events.range(start..).enumerate() {
            let full = taken >= max_events || (taken > 0 && bytes >= max_bytes);
            if full && event.rev != self.next - 1 {
                break;
            }
            bytes = bytes.saturating_add(event.size());
            self.next = event.rev + 1;
            out.push(Arc::clone(event));
        }
        Ok(())
    }

    /// The Server-Sent Events frame of `event` (read from this cursor's
    /// hub), encoded once for every reader; the first encoding is counted
    /// in the ring's bytes while the event is in it.
    pub fn frame(&self, event: &Event, with_prev: bool) -> Bytes {
        let (frame, fresh) = event.frame(with_prev);
        if fresh {
            let mut ring = lock(&self.inner.ring);
            if event.account(frame.len()) {
                ring.bytes += frame.len();
            }
        }
        frame
    }

    /// The JSON of `event` without `prev` (as NATS carries it): a slice of
    /// its frame, counted as [`frame`](Self::frame) is.
    pub fn json(&self, event: &Event) -> Bytes {
        self.frame(event, false);
        event.json(false)
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
        cursor.read(max, usize::MAX, &mut out)?;
        Ok(out.iter().map(|e| e.rev).collect())
    }

    #[test]
    fn cursors_read_forward_from_where_they_start() {
        let hub = Hub::new(RingLimits::default(), 10);
        let mut live = hub.subscribe(None).expect("live");
        assert_eq!(live.next_rev(), 11);
        hub.publish(&changes(11..=15));
        assert_eq!(revs(&mut live, 3).expect("read"), vec![11, 12, 13]);
        assert_eq!(revs(&mut live, 10).expect("read"), vec![14, 15]);
        assert!(revs(&mut live, 10).expect("read").is_empty());
        let mut from_13 = hub.subscribe(Some(13)).expect("from 13");
        assert_eq!(revs(&mut from_13, 10).expect("read"), vec![13, 14, 15]);
        // A future revision waits, claiming only what exists.
        let mut future = hub.subscribe(Some(17)).expect("waits");
        assert_eq!(future.caught_up_to(), 15);
        hub.publish(&changes(16..=17));
        assert_eq!(revs(&mut future, 10).expect("read"), vec![17]);
        assert_eq!(future.caught_up_to(), 17);
        assert_eq!(
            hub.subscribe(Some(u64::MAX)).expect("waits").caught_up_to(),
            17
        );
    }

    #[test]
    fn revisions_before_the_ring_are_gone_not_skipped() {
        let limits = RingLimits {
            max_events: 3,
            max_bytes: usize::MAX,
        };
        let hub = Hub::new(limits, 0);
        let mut slow = hub.subscribe(Some(1)).expect("from 1");
        hub.publish(&changes(1..=5));
        match hub.subscribe(Some(2)) {
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
            fresh.subscribe(Some(5)),
            Err(FeedError::Gone { oldest: 6, .. })
        ));
    }

    #[test]
    fn reads_stop_at_the_byte_limit_but_never_split_a_revision() {
        let hub = Hub::new(RingLimits::default(), 0);
        let mut cursor = hub.subscribe(None).expect("subscribe");
        let mut batch = changes(1..=4);
        // Revision 2 changes two keys.
        batch[2].rev = 2;
        batch[3].rev = 3;
        hub.publish(&batch);
        let mut out = Vec::new();
        cursor.read(100, 1, &mut out).expect("read");
        assert_eq!(out.iter().map(|e| e.rev).collect::<Vec<_>>(), vec![1]);
        out.clear();
        cursor.read(1, usize::MAX, &mut out).expect("read");
        assert_eq!(out.iter().map(|e| e.rev).collect::<Vec<_>>(), vec![2, 2]);
        assert!(!out[0].closes_rev && out[1].closes_rev);
    }

    #[test]
    fn encoded_frames_count_in_the_ring_until_they_leave_it() {
        let limits = RingLimits {
            max_events: 2,
            max_bytes: usize::MAX,
        };
        let hub = Hub::new(limits, 0);
        let mut cursor = hub.subscribe(None).expect("subscribe");
        hub.publish(&changes(1..=2));
        let raw = hub.ring().bytes;
        let mut out = Vec::new();
        cursor.read(10, usize::MAX, &mut out).expect("read");
        let frame = cursor.frame(&out[0], false);
        assert_eq!(hub.ring().bytes, raw + frame.len());
        // Encoding again costs nothing more.
        cursor.frame(&out[0], false);
        assert_eq!(hub.ring().bytes, raw + frame.len());
        // Once both have left, the ring counts nothing, even if a reader
        // still holding the first encodes its other form.
        hub.publish(&changes(3..=4));
        cursor.frame(&out[0], true);
        let now: usize = hub.ring().events.iter().map(|e| e.size()).sum();
        assert_eq!(hub.ring().bytes, now);
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
        let cursor = hub.subscribe(None).expect("subscribe");
        assert!(!cursor.wait(Duration::from_millis(1)));
        let publisher = hub.clone();
        let thread = std::thread::spawn(move || publisher.publish(&changes(1..=1)));
        assert!(cursor.wait(Duration::from_secs(30)));
        thread.join().expect("publisher");
    }
}
