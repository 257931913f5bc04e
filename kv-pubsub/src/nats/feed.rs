//! [`NatsFeed`] mirrors the hub to NATS subjects from a publisher thread,
//! and [`subscribe`] reads those subjects back.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use kv_core::api::WatchEvent;
use kv_core::Change;
use log::{debug, error, info, warn};

use crate::error::{FeedError, Result};
use crate::event::Event;
use crate::hub::{Cursor, Hub};
use crate::{Feed, FeedStats};

pub use crate::nats_config::{NatsConfig, DUPLICATE_WINDOW};

/// The header JetStream deduplicates on.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";
/// Events published between two confirmations (a NATS flush round trip).
const PUBLISH_BATCH: usize = 1024;
/// How long a flush may take before the connection is considered down.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between attempts while NATS is unreachable.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How long shutdown waits for a connected publisher to deliver what is
/// left.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long shutdown waits for a publisher that is not connected: it has
/// nothing it can deliver, only a retry pause to wake from.
const CLOSE_DISCONNECTED_TIMEOUT: Duration = Duration::from_millis(500);

/// Creates the JetStream stream `name` over the feed's subjects unless it
/// exists.
fn ensure_stream(conn: &nats::Connection, config: &NatsConfig, name: &str) -> std::io::Result<()> {
    let js = nats::jetstream::new(conn.clone());
    if js.stream_info(name).is_ok() {
        return Ok(());
    }
    js.add_stream(nats::jetstream::StreamConfig {
        name: name.to_owned(),
        subjects: config.subjects(),
        storage: nats::jetstream::StorageType::File,
        duplicate_window: DUPLICATE_WINDOW.as_nanos() as i64,
        ..Default::default()
    })
    .map(drop)
}

/// Whether this server publishes: in replicated mode every replica has the
/// same feed, and one at a time publishes it (the holder of the publisher
/// lease, decided through the replicated log).
#[derive(Debug, Default)]
pub struct PublishTurn {
    state: Mutex<Turn>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// Another server publishes: events are passed over.
    #[default]
    Idle,
    /// This server's turn begins: publish from this revision on.
    From(u64),
    /// This server publishes.
    Active,
}

impl PublishTurn {
    /// This server publishes from revision `from` on (where the previous
    /// publisher's confirmations ended: a few events may go out twice,
    /// which a JetStream consumer drops by their `Nats-Msg-Id`).
    pub fn begin(&self, from: u64) {
        *self.lock() = Turn::From(from);
    }

    /// Another server publishes now.
    pub fn end(&self) {
        *self.lock() = Turn::Idle;
    }

    /// Whether this server publishes.
    pub fn is_mine(&self) -> bool {
        *self.lock() != Turn::Idle
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Turn> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The turn as the publisher acts on it; `From` becomes `Active`.
    fn take(&self) -> Turn {
        let mut state = self.lock();
        let turn = *state;
        if let Turn::From(_) = turn {
            *state = Turn::Active;
        }
        turn
    }
}

/// The hub, mirrored to NATS by a publisher thread.
///
/// Writes only ever touch the hub. The publisher reads the hub with its own
/// cursor and confirms each batch with a flush; when NATS is down it waits
/// and then resends from the first unconfirmed revision, so an outage
/// shorter than the ring loses nothing (a subscriber may see a revision
/// twice; JetStream drops the repeat by its `Nats-Msg-Id`). An outage longer
/// than the ring is logged and counted with the exact revisions skipped.
#[derive(Debug)]
pub struct NatsFeed {
    hub: Hub,
    shared: Arc<PublisherState>,
    thread: Mutex<Option<(JoinHandle<()>, mpsc::Receiver<()>)>>,
}

#[derive(Debug, Default)]
struct PublisherState {
    connected: AtomicBool,
    /// Counts disconnections and reconnections. The client completes flushes
    /// pending across a reconnect as if they had succeeded, so a flush is a
    /// confirmation only if this did not change while it ran.
    connection_changes: AtomicU64,
    skipped: AtomicU64,
    /// The last revision confirmed by a flush (or skipped).
    confirmed_rev: AtomicU64,
    /// Why the last attempt to connect or publish failed.
    last_error: Mutex<Option<String>>,
    stop: AtomicBool,
}

impl PublisherState {
    /// Records why an attempt failed, for the state `GET /` shows.
    fn failed(&self, error: &dyn std::fmt::Display) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
    }

    /// Records that NATS is reachable again.
    fn connected(&self) {
        if !self.connected.swap(true, Ordering::Relaxed) {
            *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }
}

impl NatsFeed {
    /// Starts mirroring `hub` to NATS: always, or with `turn` only while it
    /// is this server's turn. Never fails: an unreachable server is
    /// retried in the background.
    pub fn start(hub: Hub, config: NatsConfig, turn: Option<Arc<PublishTurn>>) -> Result<Self> {
        let shared = Arc::new(PublisherState::default());
        let cursor = hub.subscribe(None)?;
        let worker = Arc::clone(&shared);
        let (done, finished) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("kv-nats".into())
            .spawn(move || {
                publish_loop(config, cursor, worker, turn);
                let _ = done.send(());
            })
            .map_err(|source| FeedError::Nats {
                url: "(publisher thread)".into(),
                source,
            })?;
        Ok(Self {
            hub,
            shared,
            thread: Mutex::new(Some((thread, finished))),
        })
    }
}

impl Feed for NatsFeed {
    fn publish(&self, changes: &[Change]) {
        self.hub.publish(changes);
    }

    fn subscribe(&self, from: Option<u64>) -> Result<Cursor> {
        self.hub.subscribe(from)
    }

    fn stats(&self) -> FeedStats {
        FeedStats {
            nats_connected: Some(self.shared.connected.load(Ordering::Relaxed)),
            nats_skipped: self.shared.skipped.load(Ordering::Relaxed),
            nats_confirmed_rev: Some(self.shared.confirmed_rev.load(Ordering::Relaxed)),
            nats_error: self
                .shared
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            ..self.hub.stats()
        }
    }

    fn close(&self) {
        self.shared.stop.store(true, Ordering::Release);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some((thread, finished)) = thread else {
            return;
        };
        // The client can block without limit while NATS is down; shutdown
        // must not, and with NATS down there is nothing to wait for.
        let connected = self.shared.connected.load(Ordering::Relaxed);
        let timeout = if connected {
            CLOSE_TIMEOUT
        } else {
            CLOSE_DISCONNECTED_TIMEOUT
        };
        match finished.recv_timeout(timeout) {
            Ok(()) => {
                let _ = thread.join();
            }
            Err(_) if !connected => info!(
                "NATS publisher still trying to connect; stopping without it \
                 (the changes it did not publish are in the log)"
            ),
            Err(_) => warn!(
                "NATS publisher still busy after {timeout:?}; stopping without it \
                 (unconfirmed events are in the log and were not acknowledged to NATS consumers)"
            ),
        }
    }
}

fn connect(config: &NatsConfig, shared: &Arc<PublisherState>) -> std::io::Result<nats::Connection> {
    let on_disconnect = Arc::clone(shared);
    let on_reconnect = Arc::clone(shared);
    let url = config.url.clone();
    let url2 = config.url.clone();
    nats::Options::new()
        .with_name("kv-store")
        .max_reconnects(None)
        // No client-side buffering while disconnected: a publish then fails
        // at once and the publisher resends from the hub, in order.
        .reconnect_buffer_size(0)
        .disconnect_callback(move || {
            on_disconnect.connected.store(false, Ordering::Relaxed);
            on_disconnect
                .connection_changes
                .fetch_add(1, Ordering::AcqRel);
            warn!("NATS at {url}: disconnected; writes go on, events are resent on reconnect");
        })
        .reconnect_callback(move || {
            on_reconnect.connected.store(true, Ordering::Relaxed);
            on_reconnect
                .connection_changes
                .fetch_add(1, Ordering::AcqRel);
            info!("NATS at {url2}: reconnected");
        })
        .connect(config.url.as_str())
}

/// Connects to NATS, retrying every [`RETRY_PAUSE`] until it succeeds or the
/// feed stops (`None`). The first failure is a warning with its cause, so
/// that a wrong URL shows at once; later ones are logged at debug.
fn connect_until_stopped(
    config: &NatsConfig,
    shared: &Arc<PublisherState>,
) -> Option<nats::Connection> {
    let mut failures = 0u64;
    loop {
        match connect(config, shared) {
            Ok(conn) => {
                shared.connected();
                if failures > 0 {
                    info!(
                        "NATS at {}: connected after {failures} failed attempts",
                        config.url
                    );
                }
                return Some(conn);
            }
            Err(e) => {
                if failures == 0 {
                    warn!(
                        "NATS at {}: cannot connect ({e}); writes go on, and their changes \
                         are published once it is reachable (retrying every {RETRY_PAUSE:?})",
                        config.url
                    );
                } else {
                    debug!("NATS at {}: still cannot connect: {e}", config.url);
                }
                // After the warning: once GET / shows the error, the log has it.
                shared.failed(&e);
            }
        }
        failures += 1;
        if shared.stop.load(Ordering::Acquire) {
            return None;
        }
        std::thread::sleep(RETRY_PAUSE);
    }
}

fn publish_loop(
    config: NatsConfig,
    cursor: Cursor,
    shared: Arc<PublisherState>,
    turn: Option<Arc<PublishTurn>>,
) {
    let Some(conn) = connect_until_stopped(&config, &shared) else {
        warn!(
            "NATS at {}: stopping without ever connecting; the changes since the start \
             were not published (they are in the log)",
            config.url
        );
        return;
    };
    info!("NATS at {}: publishing changes", config.url);
    let mut publisher = Publisher {
        stream_ready: config.stream.is_none(),
        confirmed: cursor.next_rev(),
        config,
        conn,
        cursor,
        shared,
    };
    publisher.record_confirmed();
    let mut events = Vec::with_capacity(PUBLISH_BATCH);
    loop {
        events.clear();
        let idle = match turn.as_ref().map(|turn| turn.take()) {
            None | Some(Turn::Active) => false,
            Some(Turn::Idle) => true,
            Some(Turn::From(rev)) => {
                publisher.start_at(rev);
                false
            }
        };
        if !publisher.read(&mut events) {
            return;
        }
        if idle {
            // Another server publishes these.
            publisher.confirmed = publisher.cursor.next_rev();
            if events.is_empty() {
                if publisher.shared.stop.load(Ordering::Acquire) {
                    break;
                }
                publisher.cursor.wait(Duration::from_millis(250));
            }
            continue;
        }
        if events.is_empty() {
            if publisher.shared.stop.load(Ordering::Acquire) {
                break;
            }
            publisher.cursor.wait(Duration::from_millis(250));
            continue;
        }
        publisher.ensure_stream();
        if !publisher.publish(&events) {
            return;
        }
    }
    let _ = publisher.conn.flush_timeout(FLUSH_TIMEOUT);
}

/// The publisher thread's state.
struct Publisher {
    config: NatsConfig,
    conn: nats::Connection,
    cursor: Cursor,
    shared: Arc<PublisherState>,
    /// Whether the JetStream stream exists (or none is configured).
    stream_ready: bool,
    /// The first revision not yet confirmed by a flush.
    confirmed: u64,
}

impl Publisher {
    fn record_confirmed(&self) {
        self.shared
            .confirmed_rev
            .store(self.confirmed.saturating_sub(1), Ordering::Relaxed);
    }

    /// Publishes from revision `rev` on: this server's turn began there.
    fn start_at(&mut self, rev: u64) {
        info!(
            "NATS at {}: this server publishes the feed from revision {rev}",
            self.config.url
        );
        if let Err(FeedError::Gone { oldest, .. }) = self.cursor.seek(rev) {
            let skipped = oldest - rev;
            self.shared.skipped.fetch_add(skipped, Ordering::Relaxed);
            error!(
                "NATS at {}: revisions {rev} to {} were not published: they left this \
                 server's feed before its turn to publish ({skipped} revisions skipped)",
                self.config.url,
                oldest - 1
            );
            let _ = self.cursor.seek(oldest);
        }
        self.confirmed = self.cursor.next_rev();
        self.record_confirmed();
    }

    /// Reads the next events into `events`, skipping (and counting) what
    /// left the ring during an outage; `false` on an error that ends the
    /// thread.
    fn read(&mut self, events: &mut Vec<Arc<Event>>) -> bool {
        match self.cursor.read(PUBLISH_BATCH, usize::MAX, events) {
            Ok(()) => true,
            Err(FeedError::Gone { requested, oldest }) => {
                let skipped = oldest - requested;
                self.shared.skipped.fetch_add(skipped, Ordering::Relaxed);
                error!(
                    "NATS at {}: revisions {requested} to {} were not published: the outage \
                     outlasted the feed's ring ({skipped} revisions skipped)",
                    self.config.url,
                    oldest - 1
                );
                let _ = self.cursor.seek(oldest);
                self.confirmed = oldest;
                self.record_confirmed();
                true
            }
            Err(e) => {
                error!("NATS publisher: {e}");
                false
            }
        }
    }

    /// Creates the JetStream stream, once, if one is configured.
    fn ensure_stream(&mut self) {
        if self.stream_ready {
            return;
        }
        let Some(name) = &self.config.stream else {
            return;
        };
        match ensure_stream(&self.conn, &self.config, name) {
            Ok(()) => {
                info!(
                    "NATS at {}: JetStream stream {name} is ready",
                    self.config.url
                );
                self.stream_ready = true;
            }
            Err(e) => warn!(
                "NATS at {}: cannot create JetStream stream {name}: {e}",
                self.config.url
            ),
        }
    }

    /// Publishes `events` and confirms them with a flush; on failure,
    /// rewinds to the first unconfirmed revision to resend once NATS is
    /// back. `false` when stopping with revisions unconfirmed.
    fn publish(&mut self, events: &[Arc<Event>]) -> bool {
        let epoch = self.shared.connection_changes.load(Ordering::Acquire);
        let sent = events
            .iter()
            .try_for_each(|event| send(&self.conn, &self.config, &self.cursor, event));
        let confirmed_by_flush = sent
            .and_then(|()| self.conn.flush_timeout(FLUSH_TIMEOUT))
            .and_then(|()| {
                if self.shared.connection_changes.load(Ordering::Acquire) == epoch {
                    Ok(())
                } else {
                    Err(std::io::Error::other(
                        "the connection dropped while the batch was in flight",
                    ))
                }
            });
        let Err(e) = confirmed_by_flush else {
            self.confirmed = self.cursor.next_rev();
            self.record_confirmed();
            self.shared.connected();
            return true;
        };
        self.shared.failed(&e);
        if self.shared.connected.swap(false, Ordering::Relaxed) {
            warn!(
                "NATS at {}: publishing failed ({e}); resending from revision {} once it is back",
                self.config.url, self.confirmed
            );
        }
        if self.shared.stop.load(Ordering::Acquire) {
            warn!(
                "NATS at {}: stopping with revisions from {} unconfirmed: {e}",
                self.config.url, self.confirmed
            );
            return false;
        }
        // Resend everything not confirmed once NATS is back.
        let _ = self.cursor.seek(self.confirmed);
        std::thread::sleep(RETRY_PAUSE);
        true
    }
}

fn send(
    conn: &nats::Connection,
    config: &NatsConfig,
    cursor: &Cursor,
    event: &Event,
) -> std::io::Result<()> {
    let mut headers = nats::header::HeaderMap::new();
    headers.insert(MSG_ID_HEADER, event.rev.to_string());
    conn.publish_with_reply_or_headers(
        &config.subject(event.op.as_str()),
        None,
        Some(&headers),
        cursor.json(event),
    )
}

/// A subscription to the original subjects (`set`, `rm`, `expire`, with a
/// prefix), yielding events as they arrive; or, with a JetStream stream
/// configured, replaying the stream from its start and then following it.
#[derive(Debug)]
pub struct NatsSubscription {
    messages: Messages,
    /// Dropping the connection closes it, subscription and all.
    _connection: nats::Connection,
}

#[derive(Debug)]
enum Messages {
    Core(nats::Subscription),
    Stream(nats::jetstream::PushSubscription),
}

/// Connects to `config.url` and subscribes to the feed's subjects.
///
/// # Errors
///
/// [`FeedError::Nats`] when the server cannot be reached.
pub fn subscribe(config: &NatsConfig) -> Result<NatsSubscription> {
    let failed = |source| FeedError::Nats {
        url: config.url.clone(),
        source,
    };
    let conn = nats::Options::new()
        .with_name("kv-store client")
        .max_reconnects(None)
        .connect(config.url.as_str())
        .map_err(failed)?;
    // `PREFIX*` covers set, rm and expire; other subjects under the same
    // prefix are skipped by `next`.
    let subject = format!("{}*", config.subject_prefix);
    let messages = match &config.stream {
        None => Messages::Core(conn.subscribe(&subject).map_err(failed)?),
        Some(stream) => {
            let options = nats::jetstream::SubscribeOptions::bind_stream(stream.clone())
                .deliver_all()
                .ack_none();
            let js = nats::jetstream::new(conn.clone());
            Messages::Stream(
                js.subscribe_with_options(&subject, &options)
                    .map_err(failed)?,
            )
        }
    };
    Ok(NatsSubscription {
        messages,
        _connection: conn,
    })
}

impl NatsSubscription {
    /// The next event; `None` when the connection is closed for good.
    /// Messages that are not feed events are skipped with a warning.
    pub fn next(&self) -> Option<WatchEvent> {
        loop {
            let message = match &self.messages {
                Messages::Core(subscription) => subscription.next()?,
                Messages::Stream(subscription) => subscription.next()?,
            };
            match serde_json::from_slice::<WatchEvent>(&message.data) {
                Ok(event) => return Some(event),
                Err(e) => warn!(
                    "ignoring a message on {} that is not a feed event: {e}",
                    message.subject
                ),
            }
        }
    }
}
