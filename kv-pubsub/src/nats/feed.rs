//! [`NatsFeed`] mirrors the hub to NATS subjects from a publisher thread
//! (in `publisher`), and [`subscribe`] reads those subjects back.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use kv_core::api::WatchEvent;
use kv_core::Change;
use log::{info, warn};

use super::publisher::{publish_loop, PublisherState};
use crate::error::{FeedError, Result};
use crate::hub::{Cursor, Hub};
use crate::{Feed, FeedStats};

pub use crate::nats_config::{NatsConfig, DUPLICATE_WINDOW};

/// The header JetStream deduplicates on.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";
/// How long shutdown waits for a connected publisher to deliver what is
/// left.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long shutdown waits for a publisher that is not connected: it has
/// nothing it can deliver, only a retry pause to wake from.
const CLOSE_DISCONNECTED_TIMEOUT: Duration = Duration::from_millis(500);

/// Whether this server publishes: in replicated mode every replica has the
/// same feed, and one at a time publishes it (the holder of the publisher
/// lease, decided through the replicated log).
#[derive(Debug, Default)]
pub struct PublishTurn {
    state: Mutex<Turn>,
}

/// A [`PublishTurn`]'s state, as the publisher thread acts on it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
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
    pub(super) fn take(&self) -> Turn {
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
