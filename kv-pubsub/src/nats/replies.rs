//! [`Replies`]: requests and acknowledged publishes over one long-lived
//! reply subscription.
//!
//! The `nats` crate's own requests subscribe a fresh inbox each time and
//! leave the bytes to its background flusher, which waits at least 5 ms
//! between flushes: 185 acknowledged publishes a second, measured. Here
//! every request gets the reply subject `<inbox>.<token>` on one wildcard
//! subscription, a flusher thread sends what was published at once (a
//! `PING`, whose `PONG` it waits for, while publishers go on), and one
//! thread hands each reply to whoever waits for its token, or tells them
//! that none came in time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::warn;

/// What a waiter is told: the reply, or that none came in time.
pub(crate) type Reply = Result<nats::Message, Expired>;

/// No reply came within the waiter's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expired;

/// Called once with the reply to one request.
pub(crate) type Waiter = Box<dyn FnOnce(Reply) + Send>;

/// How often waiters are checked for expiry.
const SWEEP_EVERY: Duration = Duration::from_millis(50);
/// How long one flush may wait for the server's `PONG`.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The reply subscription, its threads, and the waiters by token.
#[derive(Debug)]
pub(crate) struct Replies {
    conn: nats::Connection,
    inbox: String,
    next_token: AtomicU64,
    waiting: Arc<Mutex<HashMap<u64, (Instant, WaiterBox)>>>,
    flush: mpsc::SyncSender<()>,
    stop: Arc<AtomicBool>,
}

/// A waiter, with a `Debug` that does not show it.
struct WaiterBox(Waiter);

impl std::fmt::Debug for WaiterBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waiter")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Replies {
    /// Subscribes the reply inbox on `conn` and starts the dispatch and
    /// flush threads.
    ///
    /// # Errors
    ///
    /// The subscription or a thread could not be made.
    pub(crate) fn start(conn: &nats::Connection) -> std::io::Result<Self> {
        let inbox = conn.new_inbox();
        let subscription = conn.subscribe(&format!("{inbox}.*"))?;
        let waiting: Arc<Mutex<HashMap<u64, (Instant, WaiterBox)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (flush, flush_wanted) = mpsc::sync_channel(1);
        {
            let waiting = Arc::clone(&waiting);
            let stop = Arc::clone(&stop);
            let prefix = format!("{inbox}.");
            std::thread::Builder::new()
                .name("kv-nats-replies".into())
                .spawn(move || dispatch(&subscription, &prefix, &waiting, &stop))?;
        }
        {
            let conn = conn.clone();
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("kv-nats-flush".into())
                .spawn(move || {
                    while flush_wanted.recv().is_ok() && !stop.load(Ordering::Acquire) {
                        if let Err(e) = conn.flush_timeout(FLUSH_TIMEOUT) {
                            warn!("NATS flush failed: {e}");
                        }
                    }
                })?;
        }
        Ok(Self {
            conn: conn.clone(),
            inbox,
            next_token: AtomicU64::new(1),
            waiting,
            flush,
            stop,
        })
    }

    /// Publishes `payload` on `subject` with `headers`, asking for a reply
    /// that goes to `waiter` (or [`Expired`] after `timeout`). A publish
    /// that fails at once (not connected) is answered with `Err` here and
    /// `waiter` is not called.
    ///
    /// # Errors
    ///
    /// The client could not take the message.
    pub(crate) fn send(
        &self,
        subject: &str,
        headers: Option<&nats::header::HeaderMap>,
        payload: &[u8],
        timeout: Duration,
        waiter: Waiter,
    ) -> std::io::Result<()> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        lock(&self.waiting).insert(token, (Instant::now() + timeout, WaiterBox(waiter)));
        let reply = format!("{}.{token}", self.inbox);
        if let Err(e) =
            self.conn
                .publish_with_reply_or_headers(subject, Some(&reply), headers, payload)
        {
            lock(&self.waiting).remove(&token);
            return Err(e);
        }
        // A flush already wanted covers this message too.
        let _ = self.flush.try_send(());
        Ok(())
    }

    /// Sends a request and waits for its reply.
    ///
    /// # Errors
    ///
    /// Not connected, or no reply within `timeout`.
    pub(crate) fn request(
        &self,
        subject: &str,
        payload: &[u8],
        timeout: Duration,
    ) -> std::io::Result<nats::Message> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(
            subject,
            None,
            payload,
            timeout,
            Box::new(move |reply| {
                let _ = tx.send(reply);
            }),
        )?;
        match rx.recv() {
            Ok(Ok(message)) if message.is_no_responders() => Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                format!("no responders on {subject}"),
            )),
            Ok(Ok(message)) => Ok(message),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no reply on {subject} within {timeout:?}"),
            )),
        }
    }
}

impl Drop for Replies {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.flush.try_send(());
    }
}

/// Hands each reply to its waiter and expires the waiters whose time is up.
fn dispatch(
    subscription: &nats::Subscription,
    prefix: &str,
    waiting: &Mutex<HashMap<u64, (Instant, WaiterBox)>>,
    stop: &AtomicBool,
) {
    let mut last_sweep = Instant::now();
    while !stop.load(Ordering::Acquire) {
        if let Ok(message) = subscription.next_timeout(SWEEP_EVERY) {
            let token = message
                .subject
                .strip_prefix(prefix)
                .and_then(|t| t.parse::<u64>().ok());
            let waiter = token.and_then(|t| lock(waiting).remove(&t));
            if let Some((_, WaiterBox(waiter))) = waiter {
                waiter(Ok(message));
            }
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = Instant::now();
            let now = Instant::now();
            let expired: Vec<Waiter> = {
                let mut waiting = lock(waiting);
                let tokens: Vec<u64> = waiting
                    .iter()
                    .filter(|(_, (deadline, _))| *deadline <= now)
                    .map(|(token, _)| *token)
                    .collect();
                tokens
                    .into_iter()
                    .filter_map(|t| waiting.remove(&t).map(|(_, WaiterBox(w))| w))
                    .collect()
            };
            for waiter in expired {
                waiter(Err(Expired));
            }
        }
    }
    // Stopping: nobody will answer the rest.
    let rest: Vec<Waiter> = lock(waiting)
        .drain()
        .map(|(_, (_, WaiterBox(w)))| w)
        .collect();
    for waiter in rest {
        waiter(Err(Expired));
    }
}
