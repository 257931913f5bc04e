//! [`Outbox`]: what is waiting to be sent to one watcher, within a byte
//! budget of its own and one shared by every watcher.
//!
//! The watch stream's task ([`crate::http::routes::watch`]) pushes each event's frame
//! (shared with every other watcher: the bytes are the feed's, encoded once)
//! and the connection takes them as the client reads. The outbox holds at
//! most `--watch-buffer-bytes` (and `--watch-buffer` events); a watcher
//! whose outbox is full waits for the client to read, and one that reads
//! nothing for [`STALL_GRACE`] is cut: its pending bytes are dropped at
//! once and a `cut` event naming the first revision it did not get takes
//! their place. All outboxes together hold at most
//! `--watch-total-buffer-bytes`: a watcher that would go over while it
//! already has bytes waiting is cut the same way. A watcher with nothing
//! waiting may always take one event, however large.
//!
//! Besides the outbox a connection holds what the HTTP layer has taken and
//! not yet written: actix takes chunks until its write buffer holds 32 KiB,
//! and the stream hands it at most [`MAX_CHUNK`] at a time, so that is under
//! 48 KiB per connection.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::Notify;

use crate::observe::metrics::WatchCounters;

/// How long a watcher with a full outbox may read nothing before it is cut.
pub const STALL_GRACE: Duration = Duration::from_secs(1);
/// Most bytes handed to the HTTP layer at a time.
pub const MAX_CHUNK: usize = 16 * 1024;

/// The outboxes' limits and their shared count.
#[derive(Debug)]
pub struct WatchBudget {
    /// Most bytes one outbox holds.
    pub per_watcher: usize,
    /// Most events one outbox holds.
    pub per_watcher_events: usize,
    /// Most bytes all outboxes hold together.
    pub total: usize,
    /// The counters, whose `buffered` is the bytes held now.
    pub counters: Arc<WatchCounters>,
}

/// What [`Outbox::push_event`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The frame waits in the outbox.
    Queued,
    /// The outbox is full: wait for the client to read, then try again.
    Full,
    /// Every outbox together is full and this one has bytes waiting: cut.
    OverTotal,
    /// The client went away.
    Gone,
}

#[derive(Debug)]
struct Pending {
    /// The revision of the event in `bytes` (none for control frames).
    rev: Option<u64>,
    bytes: Bytes,
    /// Part of it went out already: it must be sent whole.
    started: bool,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Pending>,
    bytes: usize,
    events: usize,
    /// Nothing more will be pushed: the stream ends once the queue is empty.
    closed: bool,
    /// The connection dropped its end.
    gone: bool,
    /// The connection's task, waiting for something to send.
    waker: Option<Waker>,
}

#[derive(Debug)]
struct ServerContext {
    state: Mutex<State>,
    /// Wakes the pushing task when the client read something or went away.
    drained: Notify,
    budget: Arc<WatchBudget>,
}

impl ServerContext {
    fn state(&self) -> MutexGuard<'_, State> {
        // Held for a push or a pop only: nothing can be left half-done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(&self, bytes: usize) {
        self.budget
            .counters
            .buffered
            .fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// The pushing side of one watcher's outbox. Dropping it ends the stream
/// once what is queued is sent.
#[derive(Debug)]
pub struct Outbox(Arc<ServerContext>);

/// The connection's side: a [`Stream`] of chunks for `HttpResponse::streaming`.
#[derive(Debug)]
pub struct OutboxStream(Arc<ServerContext>);

/// A new, empty outbox under `budget`.
pub fn outbox(budget: Arc<WatchBudget>) -> (Outbox, OutboxStream) {
    let shared = Arc::new(ServerContext {
        state: Mutex::new(State::default()),
        drained: Notify::new(),
        budget,
    });
    (Outbox(Arc::clone(&shared)), OutboxStream(shared))
}

impl Outbox {
    /// Bytes this outbox can still take before it is full (at least 1, so
    /// that a reader always reads something).
    pub fn room(&self) -> usize {
        let state = self.0.state();
        self.0.budget.per_watcher.saturating_sub(state.bytes).max(1)
    }

    /// Queues the frame of the event at `rev`, if it fits.
    pub fn push_event(&self, rev: u64, frame: Bytes) -> Push {
        let budget = &self.0.budget;
        let len = frame.len();
        let mut state = self.0.state();
        if state.gone {
            return Push::Gone;
        }
        let waiting = !state.queue.is_empty();
        if waiting
            && (state.bytes + len > budget.per_watcher || state.events >= budget.per_watcher_events)
        {
            return Push::Full;
        }
        let before = budget.counters.buffered.fetch_add(len, Ordering::Relaxed);
        if waiting && before + len > budget.total {
            budget.counters.buffered.fetch_sub(len, Ordering::Relaxed);
            return Push::OverTotal;
        }
        state.events += 1;
        Self::enqueue(&mut state, Some(rev), frame);
        Push::Queued
    }

    /// Queues a control frame (`progress`), which is small and never waits;
    /// `false` once the client is gone.
    pub fn push_control(&self, frame: Bytes) -> bool {
        let mut state = self.0.state();
        if state.gone {
            return false;
        }
        self.0
            .budget
            .counters
            .buffered
            .fetch_add(frame.len(), Ordering::Relaxed);
        Self::enqueue(&mut state, None, frame);
        true
    }

    fn enqueue(state: &mut State, rev: Option<u64>, bytes: Bytes) {
        state.bytes += bytes.len();
        state.queue.push_back(Pending {
            rev,
            bytes,
            started: false,
        });
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    /// Whether the client went away.
    pub fn is_gone(&self) -> bool {
        self.0.state().gone
    }

    /// Waits until the client reads something or goes away (returns at
    /// once if it did since the last wait).
    pub async fn drained(&self) {
        self.0.drained.notified().await;
    }

    /// Ends the stream with a final frame: `last(resume_from_rev)`. With
    /// `drop_pending`, what is queued is dropped at once (its bytes freed;
    /// but a frame partly sent is finished) and `resume_from_rev` is the
    /// first event revision dropped, or `next_rev` when none was; otherwise
    /// the queue is sent first and it is `next_rev`.
    pub fn finish(&self, drop_pending: bool, next_rev: u64, last: impl FnOnce(u64) -> Bytes) {
        let mut state = self.0.state();
        let mut resume = next_rev;
        if drop_pending {
            let keep = usize::from(state.queue.front().is_some_and(|p| p.started));
            let dropped: Vec<Pending> = state.queue.drain(keep..).collect();
            if let Some(rev) = dropped.iter().find_map(|p| p.rev) {
                resume = rev;
            }
            let freed: usize = dropped.iter().map(|p| p.bytes.len()).sum();
            state.bytes -= freed;
            state.events -= dropped.iter().filter(|p| p.rev.is_some()).count();
            self.0.release(freed);
        }
        if !state.gone {
            let frame = last(resume);
            self.0
                .budget
                .counters
                .buffered
                .fetch_add(frame.len(), Ordering::Relaxed);
            Self::enqueue(&mut state, None, frame);
        }
        state.closed = true;
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.closed = true;
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }
}

impl Stream for OutboxStream {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let shared = &self.0;
        let mut state = shared.state();
        let Some(front) = state.queue.front_mut() else {
            if state.closed {
                return Poll::Ready(None);
            }
            state.waker = Some(cx.waker().clone());
            return Poll::Pending;
        };
        let chunk = if front.bytes.len() > MAX_CHUNK {
            front.started = true;
            front.bytes.split_to(MAX_CHUNK)
        } else {
            let Some(whole) = state.queue.pop_front() else {
                unreachable!("the front exists")
            };
            if whole.rev.is_some() {
                state.events -= 1;
            }
            whole.bytes
        };
        state.bytes -= chunk.len();
        drop(state);
        shared.release(chunk.len());
        shared.drained.notify_one();
        Poll::Ready(Some(Ok(chunk)))
    }
}

impl Drop for OutboxStream {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.gone = true;
        self.0.release(state.bytes);
        state.queue.clear();
        state.bytes = 0;
        state.events = 0;
        drop(state);
        self.0.drained.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn budget(per_watcher: usize, total: usize) -> Arc<WatchBudget> {
        Arc::new(WatchBudget {
            per_watcher,
            per_watcher_events: 100,
            total,
            counters: Arc::default(),
        })
    }

    fn next(stream: &mut OutboxStream) -> Option<Bytes> {
        let mut context = Context::from_waker(Waker::noop());
        match Pin::new(stream).poll_next(&mut context) {
            Poll::Ready(item) => item.map(|chunk| chunk.expect("no error")),
            Poll::Pending => None,
        }
    }

    fn frame(len: usize) -> Bytes {
        Bytes::from(vec![b'x'; len])
    }

    #[test]
    fn a_full_outbox_refuses_until_read_and_always_takes_one() {
        let budget = budget(100, 1000);
        let (outbox, mut stream) = outbox(Arc::clone(&budget));
        assert_eq!(
            outbox.push_event(1, frame(150)),
            Push::Queued,
            "one always fits"
        );
        assert_eq!(outbox.push_event(2, frame(10)), Push::Full);
        assert_eq!(next(&mut stream).map(|c| c.len()), Some(150));
        assert_eq!(outbox.push_event(2, frame(60)), Push::Queued);
        assert_eq!(outbox.push_event(3, frame(60)), Push::Full);
        assert_eq!(budget.counters.buffered.load(Ordering::Relaxed), 60);
    }

    #[test]
    fn the_shared_budget_cuts_a_watcher_that_has_bytes_waiting() {
        let budget = budget(1000, 100);
        let (a, _a_stream) = outbox(Arc::clone(&budget));
        let (b, _b_stream) = outbox(Arc::clone(&budget));
        assert_eq!(a.push_event(1, frame(90)), Push::Queued);
        assert_eq!(b.push_event(1, frame(90)), Push::Queued, "b had nothing");
        assert_eq!(b.push_event(2, frame(10)), Push::OverTotal);
        assert_eq!(budget.counters.buffered.load(Ordering::Relaxed), 180);
    }

    #[test]
    fn a_cut_frees_what_waits_and_names_the_first_revision_dropped() {
        let budget = budget(1000, 1000);
        let (outbox, mut stream) = outbox(Arc::clone(&budget));
        outbox.push_control(frame(5));
        outbox.push_event(7, frame(40));
        outbox.push_event(8, frame(40));
        outbox.finish(true, 9, |resume| Bytes::from(format!("cut {resume}")));
        assert_eq!(budget.counters.buffered.load(Ordering::Relaxed), 5);
        assert_eq!(next(&mut stream), Some(Bytes::from("cut 7")));
        assert_eq!(next(&mut stream), None);
        assert_eq!(budget.counters.buffered.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_cut_finishes_a_frame_partly_sent() {
        let budget = budget(usize::MAX, usize::MAX);
        let (outbox, mut stream) = outbox(Arc::clone(&budget));
        outbox.push_event(1, frame(MAX_CHUNK + 10));
        outbox.push_event(2, frame(10));
        assert_eq!(next(&mut stream).map(|c| c.len()), Some(MAX_CHUNK));
        outbox.finish(true, 3, |resume| Bytes::from(format!("cut {resume}")));
        assert_eq!(next(&mut stream).map(|c| c.len()), Some(10), "rest of 1");
        assert_eq!(next(&mut stream), Some(Bytes::from("cut 2")));
        assert_eq!(next(&mut stream), None);
    }

    #[test]
    fn large_frames_go_out_in_chunks_and_a_gone_client_frees_everything() {
        let budget = budget(usize::MAX, usize::MAX);
        let (outbox, mut stream) = outbox(Arc::clone(&budget));
        outbox.push_event(1, frame(MAX_CHUNK + 10));
        outbox.push_event(2, frame(10));
        assert_eq!(next(&mut stream).map(|c| c.len()), Some(MAX_CHUNK));
        assert_eq!(next(&mut stream).map(|c| c.len()), Some(10));
        drop(stream);
        assert!(outbox.is_gone());
        assert_eq!(outbox.push_event(3, frame(1)), Push::Gone);
        assert_eq!(budget.counters.buffered.load(Ordering::Relaxed), 0);
    }
}
