//! The applier: the thread that owns the store's writer in replicated mode
//! and applies the log's messages in order, on every replica alike.
//!
//! Each message is a [`CommandBatch`](kv_core::codec::commands::CommandBatch)
//! or a publisher mark (see [`crate::cluster::publisher`]); a batch's commands are evaluated by the
//! same kv-core code a single node runs, at the message's log time (never
//! going back), so conditions, revisions and expiries come out the same on
//! every replica. The changes go to the feed and the expiry queue; the
//! outcomes answer this server's own proposals (and are kept for retries
//! of idempotent requests). A message that does not decode is skipped by
//! every replica alike, with an error logged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use kv_core::codec::commands::LogEntry;
use kv_core::{Command, Outcome, StoreWriter};
use kv_pubsub::replicated::{LogError, LogMessage, LogReader};
use log::{error, info, warn};

use crate::cluster::pending::Pending;
use crate::cluster::proposer::{batch_id, idempotent_id};
use crate::cluster::publisher::Lease;
use crate::cluster::snapshots::Snapshotter;
use crate::cluster::status::ReplicaStatus;
use crate::commit::clock::now_ms;
use crate::commit::local::Downstream;
use crate::commit::pipeline::Exclusive;

/// How long one read of the log may wait before jobs are looked at again.
const READ_WAIT: Duration = Duration::from_millis(50);
/// How long after a proposed expiry found the key not yet expired (the
/// log's clock behind this server's) it is proposed again.
const EXPIRY_RETRY: Duration = Duration::from_millis(250);

/// The applier's state.
pub struct Applier {
    /// This server's id in the messages it proposes.
    pub node: u64,
    /// The store's writer (the applier is its only user).
    pub writer: StoreWriter,
    /// Where applied changes go.
    pub downstream: Downstream,
    /// This server's proposals waiting for their outcomes.
    pub pending: Arc<Mutex<Pending>>,
    /// Where this replica is in the log.
    pub status: Arc<ReplicaStatus>,
    /// The log, from the first message not applied.
    pub reader: Box<dyn LogReader>,
    /// The log time reached.
    pub time_ms: u64,
    /// Local and shared snapshots.
    pub snapshots: Snapshotter,
    /// Who publishes the feed to NATS, as the log's marks decide.
    pub lease: Arc<Mutex<Lease>>,
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("node", &self.node)
            .field("applied_seq", &self.status.applied_seq())
            .finish_non_exhaustive()
    }
}

/// Stops the applier thread (and the threads that stop with it) and
/// waits for them.
#[derive(Debug)]
pub struct ApplierHandle {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    companions: Vec<JoinHandle<()>>,
}

impl ApplierHandle {
    /// The flag that stops the applier: a companion thread watches it too.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// A thread that stops with the applier (it watches
    /// [`stop_flag`](Self::stop_flag)) and is waited for.
    pub fn add_companion(&mut self, thread: JoinHandle<()>) {
        self.companions.push(thread);
    }

    /// Stops the thread after the message it is applying, and waits for it
    /// (it writes a last local snapshot and closes the feed).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        for thread in self.companions {
            let _ = thread.join();
        }
        if self.thread.join().is_err() {
            error!("the applier thread panicked");
        }
    }
}

impl Applier {
    /// Starts the thread; `jobs` run on it between messages.
    ///
    /// # Errors
    ///
    /// The thread could not be started.
    pub fn start(self, jobs: mpsc::Receiver<Exclusive>) -> std::io::Result<ApplierHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("kv-applier".into())
            .spawn(move || self.run(&jobs, &stopping))?;
        Ok(ApplierHandle {
            stop,
            thread,
            companions: Vec::new(),
        })
    }

    fn run(mut self, jobs: &mpsc::Receiver<Exclusive>, stop: &AtomicBool) {
        while !stop.load(Ordering::Acquire) {
            while let Ok(job) = jobs.try_recv() {
                job();
            }
            match self.reader.next(READ_WAIT) {
                Ok(Some(message)) => self.apply(message),
                Ok(None) => {}
                Err(e @ LogError::Trimmed { .. }) => {
                    let why = format!(
                        "{e}; this replica cannot go on: restart it to load the shared snapshot"
                    );
                    error!("{why}");
                    self.status.fail(why);
                    break;
                }
                Err(e) => {
                    warn!("replicated log: {e}");
                    std::thread::sleep(READ_WAIT);
                }
            }
        }
        // Jobs queued meanwhile are dropped: their callers are told.
        let store = self.writer.store();
        self.snapshots
            .on_stop(&store, self.status.applied_seq(), self.time_ms);
        self.downstream.feed.close();
        info!(
            "applier stopped at log sequence {}",
            self.status.applied_seq()
        );
    }

    /// Applies one message.
    fn apply(&mut self, message: LogMessage) {
        self.time_ms = self.time_ms.max(message.time_ms);
        let (msg_id, key, outcomes) = match LogEntry::decode(&message.payload) {
            Ok(LogEntry::Publisher(mark)) => {
                self.lease
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .apply(mark);
                (None, None, Vec::new())
            }
            Ok(LogEntry::Commands(batch)) => {
                let own = batch.proposer == self.node;
                let msg_id = match &batch.idempotency_key {
                    Some(key) => Some(idempotent_id(key)),
                    None if own => Some(batch_id(self.node, batch.batch)),
                    None => None,
                };
                let expiries: Vec<(usize, String, u64)> = if own {
                    proposed_expiries(&batch.commands)
                } else {
                    Vec::new()
                };
                let prepared = self.writer.prepare(batch.commands, self.time_ms);
                self.writer.apply(&prepared);
                self.downstream.applied(&prepared.changes);
                self.retry_early_expiries(&expiries, &prepared.outcomes);
                (msg_id, batch.idempotency_key, prepared.outcomes)
            }
            Err(e) => {
                error!(
                    "log message {} is not a kv-store message ({e}); skipped, as on every \
                     replica",
                    message.seq
                );
                (None, None, Vec::new())
            }
        };
        if msg_id.is_some() || key.is_some() {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .applied(
                    msg_id.as_deref(),
                    key.as_deref(),
                    message.seq,
                    message.time_ms,
                    outcomes,
                );
        }
        self.status.record_applied(message.seq, message.pending);
        let store = self.writer.store();
        self.snapshots
            .after_apply(&store, message.seq, self.time_ms);
    }

    /// An expiry this server proposed found the key not yet expired by the
    /// log's clock (behind this server's): propose it again shortly, while
    /// the key is still that write.
    fn retry_early_expiries(
        &self,
        expiries: &[(usize, String, u64)],
        outcomes: &[Result<Outcome, kv_core::CoreError>],
    ) {
        for (index, key, mod_rev) in expiries {
            if !matches!(
                outcomes.get(*index),
                Some(Ok(Outcome::Expire { expired: false, .. }))
            ) {
                continue;
            }
            // As of time 0 nothing has expired: the entry whatever its
            // deadline.
            let still = self
                .writer
                .store()
                .get(key, 0)
                .ok()
                .flatten()
                .is_some_and(|entry| entry.mod_rev() == *mod_rev);
            if still {
                let at = now_ms() + EXPIRY_RETRY.as_millis() as u64;
                self.downstream
                    .expiry
                    .add(at, *mod_rev, Arc::from(key.as_str()));
            }
        }
    }
}

/// The expiries among `commands`: their index, key and write.
fn proposed_expiries(commands: &[Command]) -> Vec<(usize, String, u64)> {
    commands
        .iter()
        .enumerate()
        .filter_map(|(i, command)| match command {
            Command::Expire { key, mod_rev } => Some((i, key.clone(), *mod_rev)),
            _ => None,
        })
        .collect()
}
