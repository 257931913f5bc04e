//! Expiry on time: a scheduler thread holds every deadline and, when one
//! passes, submits an `Expire` command to the commit pipeline. The expiry is
//! then a committed change like any other: its own revision, a log record,
//! an `expire` event in the feed.
//!
//! The writer adds the deadline of every write that carries one; at startup
//! the recovered store's deadlines are loaded, so keys whose time passed
//! while the server was down expire (with their events) as soon as it is
//! back. A deadline whose key was rewritten or removed since is dropped by
//! the writer (the `Expire` names the write it is for). Reads never wait for
//! any of this: an expired value is never returned.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use log::error;

use crate::commit::clock::now_ms;

/// A deadline: `(expires_at, mod_rev, key)`.
type Deadline = (u64, u64, Arc<str>);

/// The deadlines, shared by the writer (which adds) and the scheduler
/// (which takes the due ones).
#[derive(Debug, Default)]
pub struct ExpiryQueue {
    heap: Mutex<BinaryHeap<Reverse<Deadline>>>,
    wake: Condvar,
    stop: AtomicBool,
}

impl ExpiryQueue {
    fn heap(&self) -> MutexGuard<'_, BinaryHeap<Reverse<Deadline>>> {
        self.heap.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds the deadline of the write of `key` at `mod_rev`.
    pub fn add(&self, expires_at: u64, mod_rev: u64, key: Arc<str>) {
        let mut heap = self.heap();
        let earliest = heap
            .peek()
            .is_none_or(|Reverse((at, _, _))| expires_at < *at);
        heap.push(Reverse((expires_at, mod_rev, key)));
        drop(heap);
        if earliest {
            self.wake.notify_one();
        }
    }

    /// Waits until a deadline passes (or `stop`), then takes every due one.
    /// `None` once stopped.
    fn next_due(&self) -> Option<Vec<Deadline>> {
        let mut heap = self.heap();
        loop {
            if self.stop.load(Ordering::Acquire) {
                return None;
            }
            let now = now_ms();
            match heap.peek() {
                Some(Reverse((at, _, _))) if *at <= now => break,
                Some(Reverse((at, _, _))) => {
                    let wait = Duration::from_millis(at - now);
                    heap = self
                        .wake
                        .wait_timeout(heap, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                None => heap = self.wake.wait(heap).unwrap_or_else(|e| e.into_inner()),
            }
        }
        let now = now_ms();
        let mut due = Vec::new();
        while heap.peek().is_some_and(|Reverse((at, _, _))| *at <= now) {
            if let Some(Reverse(deadline)) = heap.pop() {
                due.push(deadline);
            }
        }
        Some(due)
    }
}

/// The scheduler thread.
#[derive(Debug)]
pub struct ExpiryScheduler {
    queue: Arc<ExpiryQueue>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ExpiryScheduler {
    /// Starts the thread: each due deadline goes to `expire(key, mod_rev)`,
    /// which returns `false` once the pipeline is gone.
    ///
    /// # Errors
    ///
    /// The thread could not be started.
    pub fn start(
        queue: Arc<ExpiryQueue>,
        expire: impl Fn(String, u64) -> bool + Send + 'static,
    ) -> std::io::Result<Self> {
        let worker = Arc::clone(&queue);
        let thread = std::thread::Builder::new()
            .name("kv-expiry".into())
            .spawn(move || {
                while let Some(due) = worker.next_due() {
                    for (_, mod_rev, key) in due {
                        if !expire(key.to_string(), mod_rev) {
                            error!("expiry stopped: the commit pipeline is gone");
                            return;
                        }
                    }
                }
            })?;
        Ok(Self {
            queue,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(&self) {
        self.queue.stop.store(true, Ordering::Release);
        self.queue.wake.notify_all();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn due_deadlines_fire_in_order_and_future_ones_wait() {
        let queue = Arc::new(ExpiryQueue::default());
        let (tx, rx) = mpsc::channel();
        let now = now_ms();
        queue.add(now + 3_600_000, 9, Arc::from("later"));
        queue.add(now - 5, 2, Arc::from("b"));
        queue.add(now - 10, 1, Arc::from("a"));
        // Started after the adds: both are due at once, so the order is
        // the deadlines', not the adds'.
        let scheduler = ExpiryScheduler::start(Arc::clone(&queue), move |key, rev| {
            tx.send((key, rev)).is_ok()
        })
        .expect("starts");
        let first = rx.recv_timeout(Duration::from_secs(10)).expect("a fires");
        let second = rx.recv_timeout(Duration::from_secs(10)).expect("b fires");
        assert_eq!((first, second), (("a".into(), 1), ("b".into(), 2)));
        queue.add(now_ms() + 50, 3, Arc::from("soon"));
        let soon = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("soon fires");
        assert_eq!(soon, ("soon".into(), 3));
        assert!(
            rx.try_recv().is_err(),
            "the hour-long deadline must not fire"
        );
        scheduler.stop();
    }
}
