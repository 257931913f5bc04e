//! The publisher thread behind [`NatsFeed`](super::NatsFeed): it connects
//! (retrying while NATS is unreachable), reads the hub with its own cursor,
//! publishes each batch of events and confirms it with a flush, and resends
//! from the first unconfirmed revision after an outage.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::{debug, error, info, warn};

use super::feed::{PublishTurn, Turn, MSG_ID_HEADER};
use crate::error::FeedError;
use crate::event::Event;
use crate::hub::Cursor;
use crate::nats_config::{NatsConfig, DUPLICATE_WINDOW};

/// Events published between two confirmations (a NATS flush round trip).
const PUBLISH_BATCH: usize = 1024;
/// How long a flush may take before the connection is considered down.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between attempts while NATS is unreachable.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

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

/// What the publisher thread shares with its [`NatsFeed`](super::NatsFeed).
#[derive(Debug, Default)]
pub(super) struct PublisherState {
    pub(super) connected: AtomicBool,
    /// Counts disconnections and reconnections. The client completes flushes
    /// pending across a reconnect as if they had succeeded, so a flush is a
    /// confirmation only if this did not change while it ran.
    connection_changes: AtomicU64,
    pub(super) skipped: AtomicU64,
    /// The last revision confirmed by a flush (or skipped).
    pub(super) confirmed_rev: AtomicU64,
    /// Why the last attempt to connect or publish failed.
    pub(super) last_error: Mutex<Option<String>>,
    pub(super) stop: AtomicBool,
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

/// The publisher thread: connects, then publishes what the hub holds
/// until the feed stops.
pub(super) fn publish_loop(
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
