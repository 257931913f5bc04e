//! [`Proposer`]: replicated mode's [`BatchSink`]. Each batch the writer
//! gathers becomes one message of the replicated log (commands, not
//! results), sent without waiting; the answers come from
//! [`Pending`] once the log acknowledged
//! the message and this replica's applier applied it.
//!
//! Commands that break a limit are refused here, before they cost a
//! message. A command with an `Idempotency-Key` goes in a message of its
//! own whose id is the key, so the log stores a retried request once. A
//! failed attempt is sent again, with the same id, until
//! `--cluster-timeout-ms` runs out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kv_core::codec::commands::CommandBatch;
use kv_core::{Command, Limits};
use kv_pubsub::replicated::{AppendError, ReplicatedLog};
use log::warn;
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use crate::cluster::applier::ApplierHandle;
use crate::cluster::pending::{batch_id, idempotent_id, Pending, IDEMPOTENT_PREFIX};
use crate::commit::pipeline::{BatchSink, Exclusive, Reply, Submission};
use crate::error::ServerError;

/// Pause before resending a message the log surely did not store.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How often the retry thread looks for due proposals.
const RETRY_TICK: Duration = Duration::from_millis(20);
/// How long shutdown waits for the proposals on their way.
const CLOSE_WAIT: Duration = Duration::from_secs(3);
/// Messages on their way to the log at most; then the writer waits, and
/// gathers. Measured with bench/cluster.sh (see docs/performance.md, Replicated mode).
const MAX_UNACKNOWLEDGED: usize = 4;

fn lock(pending: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    pending.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends the writer's batches to the log.
#[derive(Debug)]
pub struct Proposer {
    node: u64,
    next_batch: u64,
    sender: Sender,
    limits: Limits,
    timeout: Duration,
    /// Jobs for the applier thread, which alone changes the store.
    applier_jobs: mpsc::Sender<Exclusive>,
    /// Stopped (and waited for) when the writer stops.
    applier: Option<ApplierHandle>,
    retry: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

/// What sending needs, shared with the retry thread.
#[derive(Debug, Clone)]
struct Sender {
    log: Arc<dyn ReplicatedLog>,
    pending: Arc<Mutex<Pending>>,
    /// Signalled when a proposal is acknowledged or given up on.
    room: Arc<Condvar>,
}

impl Sender {
    /// Appends the message; its acknowledgement updates `pending`.
    fn send(&self, msg_id: String, payload: &[u8]) {
        let pending = Arc::clone(&self.pending);
        let room = Arc::clone(&self.room);
        let log_id = msg_id.clone();
        self.log.append(
            &log_id,
            payload,
            Box::new(move |result| {
                let key = msg_id.strip_prefix(IDEMPOTENT_PREFIX);
                let mut pending = lock(&pending);
                match result {
                    Ok(stored) => pending.acknowledged(&msg_id, stored.seq, key),
                    Err(AppendError::NotStored(why)) => {
                        pending.attempt_failed(&msg_id, false, why, RETRY_PAUSE);
                    }
                    Err(AppendError::Unknown(why)) => {
                        pending.attempt_failed(&msg_id, true, why, Duration::ZERO);
                    }
                }
                room.notify_all();
            }),
        );
    }
}

/// What the proposer needs to start.
#[derive(Debug)]
pub struct ProposerParts {
    /// This server's id in the log's messages.
    pub node: u64,
    /// The log.
    pub log: Arc<dyn ReplicatedLog>,
    /// The proposals waiting for answers, shared with the applier.
    pub pending: Arc<Mutex<Pending>>,
    /// The key and value limits.
    pub limits: Limits,
    /// How long a write may take before it is answered with an error.
    pub timeout: Duration,
    /// Jobs for the applier thread.
    pub applier_jobs: mpsc::Sender<Exclusive>,
}

impl Proposer {
    /// Starts the retry thread.
    ///
    /// # Errors
    ///
    /// The thread could not be started.
    pub fn start(parts: ProposerParts, applier: ApplierHandle) -> std::io::Result<Self> {
        let sender = Sender {
            log: parts.log,
            pending: parts.pending,
            room: Arc::default(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let retry = {
            let sender = sender.clone();
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("kv-cluster-retry".into())
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        std::thread::sleep(RETRY_TICK);
                        let due = lock(&sender.pending).due(Instant::now());
                        sender.room.notify_all();
                        for (msg_id, payload) in due {
                            sender.send(msg_id, &payload);
                        }
                    }
                })?
        };
        Ok(Self {
            node: parts.node,
            next_batch: 0,
            sender,
            limits: parts.limits,
            timeout: parts.timeout,
            applier_jobs: parts.applier_jobs,
            applier: Some(applier),
            retry: Some((stop, retry)),
        })
    }

    /// Waits while [`MAX_UNACKNOWLEDGED`] messages are on their way (at most
    /// the write timeout): meanwhile the writer's queue fills, and the next
    /// batch goes as one larger message, one sync on every node for many
    /// writes instead of one each.
    fn wait_for_room(&self) {
        let deadline = Instant::now() + self.timeout;
        let mut pending = lock(&self.sender.pending);
        while pending.unacknowledged() >= MAX_UNACKNOWLEDGED {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            pending = self
                .sender
                .room
                .wait_timeout(pending, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Proposes `commands` as one message (split in two while it is over
    /// the log's message limit).
    fn propose(
        &mut self,
        commands: Vec<Command>,
        replies: Vec<oneshot::Sender<Reply>>,
        permits: Vec<OwnedSemaphorePermit>,
        idempotency_key: Option<String>,
    ) {
        let batch = self.next_batch;
        self.next_batch += 1;
        let msg_id = match &idempotency_key {
            Some(key) => idempotent_id(key),
            None => batch_id(self.node, batch),
        };
        let message = CommandBatch {
            proposer: self.node,
            batch,
            idempotency_key,
            commands,
        };
        let payload = message.encode();
        let max = self.sender.log.max_message_bytes();
        if payload.len() > max {
            let mut commands = message.commands;
            if commands.len() == 1 {
                let error = format!(
                    "in replicated mode a write is one log message of at most {max} bytes \
                     (the NATS servers' max_payload); this one takes {} bytes",
                    payload.len()
                );
                for reply in replies {
                    let _ = reply.send(Err(ServerError::PayloadTooLarge(error.clone())));
                }
                return;
            }
            let (mut replies, mut permits) = (replies, permits);
            let half = commands.len() / 2;
            let rest = commands.split_off(half);
            let rest_replies = replies.split_off(half);
            let rest_permits = permits.split_off(half.min(permits.len()));
            self.propose(commands, replies, permits, None);
            self.propose(rest, rest_replies, rest_permits, None);
            return;
        }
        let payload = Arc::new(payload);
        self.wait_for_room();
        let fresh = lock(&self.sender.pending).propose(
            &msg_id,
            Arc::clone(&payload),
            replies,
            permits,
            self.timeout,
        );
        if fresh {
            self.sender.send(msg_id, &payload);
        }
    }
}

impl BatchSink for Proposer {
    fn commit(&mut self, batch: &mut Vec<Submission>) {
        let mut commands = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        let mut permits = Vec::with_capacity(batch.len());
        for submission in batch.drain(..) {
            if let Err(e) = self.limits.check_command(&submission.command) {
                let _ = submission.reply.send(Err(e.into()));
                continue;
            }
            match submission.idempotency_key {
                Some(key) => self.propose(
                    vec![submission.command],
                    vec![submission.reply],
                    vec![submission.permit],
                    Some(key),
                ),
                None => {
                    commands.push(submission.command);
                    replies.push(submission.reply);
                    permits.push(submission.permit);
                }
            }
        }
        if !commands.is_empty() {
            self.propose(commands, replies, permits, None);
        }
    }

    fn run_exclusive(&mut self, job: Exclusive) {
        // If the applier is gone the job is dropped, and its caller told.
        let _ = self.applier_jobs.send(job);
    }

    fn close(&mut self) {
        let deadline = Instant::now() + CLOSE_WAIT;
        while !lock(&self.sender.pending).is_empty() && Instant::now() < deadline {
            std::thread::sleep(RETRY_TICK);
        }
        if let Some((stop, thread)) = self.retry.take() {
            stop.store(true, Ordering::Release);
            let _ = thread.join();
        }
        let left = lock(&self.sender.pending).len();
        if left > 0 {
            warn!("stopping with {left} write(s) whose outcome is not known yet");
        }
        lock(&self.sender.pending).give_up_all();
        if let Some(applier) = self.applier.take() {
            applier.stop();
        }
    }
}
