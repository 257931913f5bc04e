//! [`LocalCommit`]: a single node's commits. Each batch is evaluated
//! against the store, appended to the [`CommitLog`] (and synced per the
//! fsync policy), applied, handed to the feed and the expiry queue, and
//! answered, all on the writer thread.

use std::io;
use std::sync::Arc;

use kv_core::{ChangeKind, CoreError, Outcome, StoreWriter};
use kv_pubsub::Feed;
use log::error;

use crate::commit::clock::now_ms;
use crate::commit::expiry::ExpiryQueue;
use crate::commit::pipeline::{BatchSink, Submission};
use crate::error::ServerError;
use crate::storage::commit_log::CommitLog;

/// Where an applied batch goes besides the store.
#[derive(Debug, Clone)]
pub struct Downstream {
    /// The change feed.
    pub feed: Arc<dyn Feed>,
    /// The deadlines of writes that expire.
    pub expiry: Arc<ExpiryQueue>,
}

impl Downstream {
    /// Publishes an applied batch's changes and records their deadlines.
    pub fn applied(&self, changes: &[kv_core::Change]) {
        self.feed.publish(changes);
        for change in changes {
            if let ChangeKind::Put(entry) = &change.kind {
                if let Some(at) = entry.expires_at() {
                    self.expiry.add(at, change.rev, Arc::clone(&change.key));
                }
            }
        }
    }
}

/// The writer thread's state on a single node: the store's writer, the
/// log, and where applied batches go.
pub struct LocalCommit {
    writer: StoreWriter,
    log: Box<dyn CommitLog>,
    downstream: Downstream,
}

impl std::fmt::Debug for LocalCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCommit")
            .field("revision", &self.writer.store().revision())
            .finish_non_exhaustive()
    }
}

impl LocalCommit {
    /// Commits into `writer`'s store through `log`.
    pub fn new(writer: StoreWriter, log: Box<dyn CommitLog>, downstream: Downstream) -> Self {
        Self {
            writer,
            log,
            downstream,
        }
    }
}

impl BatchSink for LocalCommit {
    /// Evaluates, persists and applies one batch, and answers its submitters.
    fn commit(&mut self, batch: &mut Vec<Submission>) {
        let mut replies = Vec::with_capacity(batch.len());
        // Given back once their commands are answered.
        let mut permits = Vec::with_capacity(batch.len());
        let commands = batch.drain(..).map(|submission| {
            replies.push(submission.reply);
            permits.push(submission.permit);
            submission.command
        });
        let prepared = self.writer.prepare(commands, now_ms());
        let durable = self.log.commit(&prepared);
        if let Err(e) = &durable {
            error!(
                "batch of {} changes not committed: {e}",
                prepared.changes.len()
            );
        } else {
            self.writer.apply(&prepared);
            // Durable and visible: now the feed may carry it.
            self.downstream.applied(&prepared.changes);
        }
        for (reply, outcome) in replies.into_iter().zip(prepared.outcomes) {
            let answer = match &durable {
                Ok(()) => outcome.map_err(ServerError::from),
                Err(e) => Err(not_durable(outcome, e)),
            };
            // The submitter may have gone away (client disconnected); the
            // write is committed all the same.
            let _ = reply.send(answer);
        }
    }

    fn waits_for_more(&self) -> bool {
        self.log.syncs_each_batch()
    }

    fn close(&mut self) {
        if let Err(e) = self.log.close() {
            error!("the log could not be synced on shutdown: {e}");
        }
        self.downstream.feed.close();
    }
}

/// The answer for a command whose batch failed to persist: its own validation
/// error if it had one, otherwise 503.
fn not_durable(outcome: Result<Outcome, CoreError>, e: &io::Error) -> ServerError {
    match outcome {
        Err(invalid) => invalid.into(),
        Ok(_) => ServerError::StorageFailed(format!("the write was not committed: {e}")),
    }
}
