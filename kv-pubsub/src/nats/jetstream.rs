//! [`JetStreamLog`]: the replicated log on a NATS JetStream stream.
//!
//! The stream (subject `<stream>.log`, file storage, `--cluster-replicas`
//! copies, a two-minute duplicate window) is created when missing. Appends
//! are publishes with a `Nats-Msg-Id` (JetStream drops a repeat of an id it
//! holds and answers with the first one's sequence) whose acknowledgement
//! comes back on one long-lived reply subscription (see `replies`): many
//! appends are in flight at once and none waits for the client's flusher.
//!
//! Reading is an ephemeral push consumer from a start sequence, with flow
//! control and idle heartbeats, created by this module rather than the
//! crate's ordered consumer (which on a gap resubscribes once and, if that
//! fails during a leader election, stays silent). [`JetStreamReader`]
//! checks every sequence: a gap, a heartbeat reporting messages it did not
//! get, or silence past three heartbeats makes it create a new consumer
//! from the next sequence it needs, for as long as it takes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use log::{info, warn};
use serde_json::{json, Value};

use crate::nats::replies::{Expired, Replies};
use crate::replicated::{
    AppendDone, AppendError, LogBounds, LogError, LogMessage, LogReader, ReplicatedLog, Stored,
};

/// How often an idle consumer says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Silence after which a consumer is presumed gone and replaced.
const SILENCE_LIMIT: Duration = Duration::from_secs(3);
/// Pause between attempts to create a consumer while the stream is
/// unavailable.
const RETRY_PAUSE: Duration = Duration::from_millis(250);
/// How long JetStream remembers message ids to drop repeats.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// An ephemeral consumer nobody listens to is deleted after this.
const INACTIVE_THRESHOLD: Duration = Duration::from_secs(10);

/// Where the log is and how to treat it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamSettings {
    /// NATS servers, comma-separated (`nats://h1:4222,nats://h2:4222`).
    pub urls: String,
    /// The stream's name; its subject is `<name>.log`.
    pub stream: String,
    /// Copies of the stream to keep when creating it.
    pub replicas: usize,
    /// How long an append may wait for its acknowledgement.
    pub ack_timeout: Duration,
    /// How long a request (stream info, consumer creation) may take.
    pub request_timeout: Duration,
}

/// The replicated log on a JetStream stream.
#[derive(Debug, Clone)]
pub struct JetStreamLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    conn: nats::Connection,
    replies: Replies,
    settings: JetStreamSettings,
    subject: String,
}

/// A JetStream API answer, or why there is none.
fn api(inner: &Inner, subject: &str, body: &Value) -> Result<Value, LogError> {
    let message = inner
        .replies
        .request(
            subject,
            body.to_string().as_bytes(),
            inner.settings.request_timeout,
        )
        .map_err(|e| LogError::Unavailable(e.to_string()))?;
    let value: Value = serde_json::from_slice(&message.data)
        .map_err(|e| LogError::Protocol(format!("{subject}: {e}")))?;
    match value.get("error") {
        Some(error) => Err(api_error(subject, error)),
        None => Ok(value),
    }
}

fn api_error(subject: &str, error: &Value) -> LogError {
    let code = error.get("code").and_then(Value::as_u64).unwrap_or(0);
    let text = error
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("no description");
    let detail = format!("{subject}: {text} ({code})");
    // 503: JetStream has no leader or quorum right now.
    if code == 503 || code == 408 {
        LogError::Unavailable(detail)
    } else {
        LogError::Protocol(detail)
    }
}

impl JetStreamLog {
    /// Connects to the NATS servers, creates the stream when missing, and
    /// reports (does not change) an existing stream whose replica count
    /// differs from the one asked for.
    ///
    /// # Errors
    ///
    /// [`LogError::Unavailable`] when NATS or JetStream cannot be reached;
    /// [`LogError::Protocol`] when the stream cannot be created.
    pub fn connect(settings: JetStreamSettings) -> Result<Self, LogError> {
        let unavailable = |e: std::io::Error| LogError::Unavailable(e.to_string());
        let conn = nats::Options::new()
            .with_name("kv-store replica")
            .max_reconnects(None)
            // While disconnected a publish fails at once: the caller knows
            // the message was not sent, and retries it.
            .reconnect_buffer_size(0)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((attempts as u64 * 50).min(1000))
            })
            .disconnect_callback(|| warn!("replicated log: NATS connection lost; reconnecting"))
            .reconnect_callback(|| info!("replicated log: NATS connection back"))
            .connect(settings.urls.as_str())
            .map_err(unavailable)?;
        let replies = Replies::start(&conn).map_err(unavailable)?;
        let inner = Inner {
            subject: format!("{}.log", settings.stream),
            conn,
            replies,
            settings,
        };
        ensure_stream(&inner)?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The connection, for the snapshot store to share.
    pub fn connection(&self) -> &nats::Connection {
        &self.inner.conn
    }
}

/// Creates the stream unless it exists; warns when an existing one has
/// another replica count.
fn ensure_stream(inner: &Inner) -> Result<(), LogError> {
    let name = &inner.settings.stream;
    let wanted = inner.settings.replicas;
    match api(inner, &format!("$JS.API.STREAM.INFO.{name}"), &json!({})) {
        Ok(info) => {
            let replicas = info["config"]["num_replicas"].as_u64().unwrap_or(1);
            if replicas != wanted as u64 {
                warn!(
                    "stream {name} keeps {replicas} replica(s) but --cluster-replicas asks for \
                     {wanted}; it is left as it is (change one of them to match)"
                );
            }
            let subjects = &info["config"]["subjects"];
            if !subjects
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s.as_str() == Some(inner.subject.as_str())))
            {
                return Err(LogError::Protocol(format!(
                    "stream {name} exists but does not take the subject {}: it is not a \
                     kv-store log; pick another --cluster-stream",
                    inner.subject
                )));
            }
            Ok(())
        }
        Err(LogError::Protocol(detail)) if detail.contains("(404)") => {
            let config = json!({
                "name": name,
                "subjects": [inner.subject],
                "retention": "limits",
                "storage": "file",
                "num_replicas": wanted,
                "discard": "old",
                "duplicate_window": DUPLICATE_WINDOW.as_nanos() as u64,
            });
            api(inner, &format!("$JS.API.STREAM.CREATE.{name}"), &config)?;
            info!("created stream {name} with {wanted} replica(s)");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

impl JetStreamLog {
    /// Publishes `payload` on `subject` (a subject of some stream) with
    /// `headers`; `done` gets the stream's acknowledgement, as for
    /// [`ReplicatedLog::append`].
    pub(crate) fn publish_acked(
        &self,
        subject: &str,
        headers: &nats::header::HeaderMap,
        payload: &[u8],
        done: AppendDone,
    ) {
        let timeout = self.inner.settings.ack_timeout;
        // Called by whichever comes first: the reply (or its expiry), or a
        // failure to send.
        let slot = Arc::new(Mutex::new(Some(done)));
        let on_reply = Arc::clone(&slot);
        let sent = self.inner.replies.send(
            subject,
            Some(headers),
            payload,
            timeout,
            Box::new(move |reply| {
                if let Some(done) = take(&on_reply) {
                    done(acknowledgement(reply, timeout));
                }
            }),
        );
        if let Err(e) = sent {
            if let Some(done) = take(&slot) {
                done(Err(AppendError::NotStored(format!("not sent: {e}"))));
            }
        }
    }

    /// A JetStream API request on this log's connection: the answer, or the
    /// API's error (`(404)` in its text when the thing asked for does not
    /// exist).
    pub(crate) fn api_request(&self, subject: &str, body: &Value) -> Result<Value, LogError> {
        api(&self.inner, subject, body)
    }

    /// A name no other process picks (the random part of a new inbox).
    pub(crate) fn unique_name(&self) -> String {
        let inbox = self.inner.conn.new_inbox();
        inbox.rsplit('.').next().unwrap_or(&inbox).to_owned()
    }
}

impl ReplicatedLog for JetStreamLog {
    fn append(&self, msg_id: &str, payload: &[u8], done: AppendDone) {
        let mut headers = nats::header::HeaderMap::new();
        headers.insert(nats::header::NATS_MSG_ID, msg_id.to_owned());
        self.publish_acked(&self.inner.subject, &headers, payload, done);
    }

    fn bounds(&self) -> Result<LogBounds, LogError> {
        let info = api(
            &self.inner,
            &format!("$JS.API.STREAM.INFO.{}", self.inner.settings.stream),
            &json!({}),
        )?;
        let state = &info["state"];
        let number = |field: &str| {
            state[field]
                .as_u64()
                .ok_or_else(|| LogError::Protocol(format!("stream info without state.{field}")))
        };
        Ok(LogBounds {
            first_seq: number("first_seq")?,
            last_seq: number("last_seq")?,
        })
    }

    fn reader(&self, from_seq: u64) -> Box<dyn LogReader> {
        Box::new(JetStreamReader {
            log: self.clone(),
            next_seq: from_seq.max(1),
            consumer: None,
        })
    }

    fn trim_before(&self, seq: u64) -> Result<(), LogError> {
        api(
            &self.inner,
            &format!("$JS.API.STREAM.PURGE.{}", self.inner.settings.stream),
            &json!({ "seq": seq }),
        )
        .map(drop)
    }

    fn max_message_bytes(&self) -> usize {
        self.inner.conn.max_payload()
    }
}

fn take(slot: &Mutex<Option<AppendDone>>) -> Option<AppendDone> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// The outcome of an append from its acknowledgement (or its absence).
fn acknowledgement(
    reply: Result<nats::Message, Expired>,
    timeout: Duration,
) -> Result<Stored, AppendError> {
    let message = reply.map_err(|Expired| {
        AppendError::Unknown(format!("no acknowledgement within {timeout:?}"))
    })?;
    if message.is_no_responders() {
        return Err(AppendError::NotStored(
            "no stream took it (no responders)".into(),
        ));
    }
    let value: Value = serde_json::from_slice(&message.data)
        .map_err(|e| AppendError::Unknown(format!("unreadable acknowledgement: {e}")))?;
    if let Some(error) = value.get("error") {
        return Err(AppendError::NotStored(
            error["description"]
                .as_str()
                .unwrap_or("refused")
                .to_owned(),
        ));
    }
    let seq = value["seq"]
        .as_u64()
        .ok_or_else(|| AppendError::Unknown(format!("acknowledgement without seq: {value}")))?;
    Ok(Stored {
        seq,
        duplicate: value["duplicate"].as_bool().unwrap_or(false),
    })
}

/// Reads the stream from a sequence on through ephemeral push consumers.
#[derive(Debug)]
pub struct JetStreamReader {
    log: JetStreamLog,
    next_seq: u64,
    consumer: Option<Consumer>,
}

/// A live consumer: its delivery subscription and when it last spoke.
#[derive(Debug)]
struct Consumer {
    subscription: nats::Subscription,
    heard: Instant,
}

impl JetStreamReader {
    /// Creates a consumer delivering from `next_seq`; `Ok(false)` when the
    /// stream is unavailable (the caller waits and tries again).
    fn open_consumer(&mut self) -> Result<bool, LogError> {
        let inner = &self.log.inner;
        let deliver = inner.conn.new_inbox();
        let subscription = match inner.conn.subscribe(&deliver) {
            Ok(s) => s,
            Err(_) => return Ok(false),
        };
        let stream = &inner.settings.stream;
        let config = json!({
            "stream_name": stream,
            "config": {
                "deliver_subject": deliver,
                "deliver_policy": "by_start_sequence",
                "opt_start_seq": self.next_seq,
                "ack_policy": "none",
                "replay_policy": "instant",
                "flow_control": true,
                "idle_heartbeat": HEARTBEAT.as_nanos() as u64,
                "inactive_threshold": INACTIVE_THRESHOLD.as_nanos() as u64,
                "mem_storage": true,
                "num_replicas": 1,
            }
        });
        match api(inner, &format!("$JS.API.CONSUMER.CREATE.{stream}"), &config) {
            Ok(_) => {
                self.consumer = Some(Consumer {
                    subscription,
                    heard: Instant::now(),
                });
                Ok(true)
            }
            Err(LogError::Protocol(detail)) => Err(LogError::Protocol(detail)),
            Err(e) => {
                warn!("replicated log: cannot read from {}: {e}", self.next_seq);
                Ok(false)
            }
        }
    }

    /// Drops the consumer; the next read makes a new one from `next_seq`,
    /// unless the log no longer holds it.
    fn reopen(&mut self, why: &str) -> Result<(), LogError> {
        warn!(
            "replicated log: {why}; reading again from {}",
            self.next_seq
        );
        self.consumer = None;
        match self.log.bounds() {
            Ok(bounds)
                if bounds.first_seq > self.next_seq && bounds.last_seq >= bounds.first_seq =>
            {
                Err(LogError::Trimmed {
                    wanted: self.next_seq,
                    first_seq: bounds.first_seq,
                })
            }
            _ => Ok(()),
        }
    }
}

impl LogReader for JetStreamReader {
    fn next(&mut self, timeout: Duration) -> Result<Option<LogMessage>, LogError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            if self.consumer.is_none() && !self.open_consumer()? {
                std::thread::sleep(RETRY_PAUSE.min(left));
                continue;
            }
            let Some(consumer) = self.consumer.as_mut() else {
                continue;
            };
            let message = match consumer.subscription.next_timeout(left.min(HEARTBEAT)) {
                Ok(message) => message,
                Err(e) if e.kind() != std::io::ErrorKind::TimedOut => {
                    self.reopen(&format!("the consumer's subscription ended: {e}"))?;
                    continue;
                }
                Err(_) if consumer.heard.elapsed() > SILENCE_LIMIT => {
                    self.reopen("the consumer went silent")?;
                    continue;
                }
                Err(_) => continue,
            };
            consumer.heard = Instant::now();
            if let Some(info) = message.jetstream_message_info() {
                let seq = info.stream_seq;
                if seq < self.next_seq {
                    continue;
                }
                if seq > self.next_seq {
                    self.reopen(&format!("message {seq} came before {}", self.next_seq))?;
                    continue;
                }
                let time_ms =
                    u64::try_from(info.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
                let pending = info.pending;
                self.next_seq += 1;
                return Ok(Some(LogMessage {
                    seq,
                    time_ms,
                    pending,
                    payload: message.data,
                }));
            }
            if let Some(why) = control(&self.log.inner.conn, &message, self.next_seq) {
                self.reopen(&why)?;
            }
        }
    }

    fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// Handles a consumer's control message (flow control, heartbeat); returns
/// why the consumer must be replaced, if it must.
fn control(conn: &nats::Connection, message: &nats::Message, next_seq: u64) -> Option<String> {
    let headers = message.headers.as_ref()?;
    if headers.get(nats::header::STATUS).map(String::as_str) != Some("100") {
        return None;
    }
    if message.reply.is_some() {
        // Flow control: the server sends no more until this is answered.
        let _ = message.respond(b"");
    }
    if let Some(stalled) = headers.get(nats::header::NATS_CONSUMER_STALLED) {
        let _ = conn.publish(stalled, b"");
    }
    let last = headers
        .get("Nats-Last-Stream")
        .and_then(|s| s.parse::<u64>().ok())?;
    (last >= next_seq).then(|| format!("a heartbeat reports message {last}, not received"))
}
