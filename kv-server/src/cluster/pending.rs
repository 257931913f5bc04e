//! [`Pending`]: the proposals of this server that are not answered yet,
//! shared by the proposer (which sends them and hears the log's
//! acknowledgements) and the applier (which computes their outcomes).
//!
//! A proposal is answered when both have happened: the log acknowledged it
//! and this replica applied it. It is answered with an error when its time
//! runs out: 503 `cluster_unavailable` if no attempt may have reached the
//! log, 504 `outcome_unknown` otherwise.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_core::{CoreError, Outcome};
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use crate::commit::pipeline::Reply;
use crate::error::ServerError;

/// How long the outcomes of requests with an `Idempotency-Key` are kept
/// for their retries (JetStream's duplicate window).
pub const IDEMPOTENT_OUTCOMES_KEPT: Duration = Duration::from_secs(120);

/// What evaluating a message's commands gave, one per command.
pub type Outcomes = Vec<Result<Outcome, CoreError>>;

/// One message of this server's, on its way.
#[derive(Debug)]
pub struct Proposal {
    /// Where each command's outcome goes (several for a request retried
    /// with its `Idempotency-Key` while the first try is still on its way).
    replies: Vec<oneshot::Sender<Reply>>,
    /// Their places in `--queue-depth`.
    permits: Vec<OwnedSemaphorePermit>,
    /// The message, for retries.
    pub payload: Arc<Vec<u8>>,
    /// When it is answered with an error if not done.
    deadline: Instant,
    /// An attempt was sent and not surely refused: it may be in the log.
    maybe_stored: bool,
    /// An attempt awaits its acknowledgement.
    in_flight: bool,
    /// When to send it again, after a failed attempt.
    retry_at: Option<Instant>,
    /// What the last failed attempt said.
    last_failure: Option<String>,
    /// The log's sequence for it, once acknowledged.
    acked: Option<u64>,
    /// Its commands' outcomes, once applied here.
    outcomes: Option<Outcomes>,
}

/// An outcome kept for a retry of an idempotent request.
#[derive(Debug, Clone)]
struct Remembered {
    seq: u64,
    time_ms: u64,
    outcomes: Outcomes,
}

/// Every unanswered proposal by message id, and the outcomes of recent
/// idempotent requests by key.
#[derive(Debug, Default)]
pub struct Pending {
    proposals: HashMap<String, Proposal>,
    idempotent: HashMap<String, Remembered>,
    /// The highest sequence applied here, for duplicates of requests whose
    /// outcome is no longer kept.
    applied_seq: u64,
}

/// A proposal to (re)send: its message id and bytes.
pub type Resend = (String, Arc<Vec<u8>>);

impl Pending {
    /// Adds a proposal (in flight). Returns `false` when a proposal with the
    /// same id is already on its way: `reply` then joins it (a retry of an
    /// idempotent request), and nothing needs sending.
    pub fn propose(
        &mut self,
        msg_id: &str,
        payload: Arc<Vec<u8>>,
        replies: Vec<oneshot::Sender<Reply>>,
        permits: Vec<OwnedSemaphorePermit>,
        timeout: Duration,
    ) -> bool {
        if let Some(existing) = self.proposals.get_mut(msg_id) {
            existing.replies.extend(replies);
            existing.permits.extend(permits);
            return false;
        }
        self.proposals.insert(
            msg_id.to_owned(),
            Proposal {
                replies,
                permits,
                payload,
                deadline: Instant::now() + timeout,
                maybe_stored: false,
                in_flight: true,
                retry_at: None,
                last_failure: None,
                acked: None,
                outcomes: None,
            },
        );
        true
    }

    /// The log stored the message at `seq` (or, for a duplicate, had it
    /// already). For an idempotent request stored earlier, the outcome
    /// kept for its key answers it.
    pub fn acknowledged(&mut self, msg_id: &str, seq: u64, idempotency_key: Option<&str>) {
        let Some(proposal) = self.proposals.get_mut(msg_id) else {
            return;
        };
        proposal.in_flight = false;
        proposal.acked = Some(seq);
        if proposal.outcomes.is_none() {
            if let Some(kept) = idempotency_key.and_then(|k| self.idempotent.get(k)) {
                if kept.seq == seq {
                    proposal.outcomes = Some(kept.outcomes.clone());
                }
            } else if idempotency_key.is_some() && seq <= self.applied_seq {
                // Applied here before this server kept outcomes (it
                // restarted from a snapshot since).
                self.fail(msg_id, || {
                    ServerError::OutcomeUnknown(format!(
                        "this Idempotency-Key was committed at log sequence {seq}; its \
                         result is no longer known here"
                    ))
                });
                return;
            }
        }
        self.finish_if_done(msg_id);
    }

    /// An attempt failed: surely not stored (`maybe_stored` false), or
    /// perhaps stored. It is sent again after `pause`.
    pub fn attempt_failed(
        &mut self,
        msg_id: &str,
        maybe_stored: bool,
        why: String,
        pause: Duration,
    ) {
        if let Some(proposal) = self.proposals.get_mut(msg_id) {
            proposal.in_flight = false;
            proposal.maybe_stored |= maybe_stored;
            proposal.last_failure = Some(why);
            proposal.retry_at = Some(Instant::now() + pause);
        }
    }

    /// This replica applied the message `msg_id` at `seq` (stored at
    /// `time_ms`, the log's clock), with these outcomes.
    pub fn applied(
        &mut self,
        msg_id: Option<&str>,
        idempotency_key: Option<&str>,
        seq: u64,
        time_ms: u64,
        outcomes: Outcomes,
    ) {
        self.applied_seq = seq;
        if let Some(key) = idempotency_key {
            self.idempotent.insert(
                key.to_owned(),
                Remembered {
                    seq,
                    time_ms,
                    outcomes: outcomes.clone(),
                },
            );
            let window = IDEMPOTENT_OUTCOMES_KEPT.as_millis() as u64;
            if self.idempotent.len().is_multiple_of(1024) {
                self.idempotent
                    .retain(|_, kept| kept.time_ms + window >= time_ms);
            }
        }
        if let Some(proposal) = msg_id.and_then(|id| self.proposals.get_mut(id)) {
            proposal.outcomes = Some(outcomes);
            if let Some(id) = msg_id {
                self.finish_if_done(id);
            }
        }
    }

    /// Proposals to send again now (marked in flight), and those whose time
    /// ran out (removed and answered).
    pub fn due(&mut self, now: Instant) -> Vec<Resend> {
        let expired: Vec<String> = self
            .proposals
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(proposal) = self.proposals.get(&id) {
                let (kind, message) = timed_out(proposal);
                self.fail(&id, || kind(message.clone()));
            }
        }
        self.proposals
            .iter_mut()
            .filter(|(_, p)| {
                !p.in_flight && p.acked.is_none() && p.retry_at.is_some_and(|t| t <= now)
            })
            .map(|(id, p)| {
                p.in_flight = true;
                p.retry_at = None;
                (id.clone(), Arc::clone(&p.payload))
            })
            .collect()
    }

    /// Answers every proposal as if its time had run out (shutting down).
    pub fn give_up_all(&mut self) {
        let ids: Vec<String> = self.proposals.keys().cloned().collect();
        for id in ids {
            if let Some(proposal) = self.proposals.get(&id) {
                let (kind, message) = timed_out(proposal);
                self.fail(&id, || kind(message.clone()));
            }
        }
    }

    /// Unanswered proposals.
    pub fn len(&self) -> usize {
        self.proposals.len()
    }

    /// Whether every proposal is answered.
    pub fn is_empty(&self) -> bool {
        self.proposals.is_empty()
    }

    fn finish_if_done(&mut self, msg_id: &str) {
        let done = self
            .proposals
            .get(msg_id)
            .is_some_and(|p| p.acked.is_some() && p.outcomes.is_some());
        if !done {
            return;
        }
        if let Some(proposal) = self.proposals.remove(msg_id) {
            let outcomes = proposal.outcomes.unwrap_or_default();
            if proposal.replies.len() == outcomes.len() {
                for (reply, outcome) in proposal.replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome.map_err(ServerError::from));
                }
            } else {
                // Several tries of one idempotent request: one command,
                // the same answer for each.
                let outcome = outcomes.into_iter().next();
                for reply in proposal.replies {
                    let answer = match &outcome {
                        Some(o) => o.clone().map_err(ServerError::from),
                        None => Err(ServerError::Internal("a message without commands".into())),
                    };
                    let _ = reply.send(answer);
                }
            }
        }
    }

    fn fail(&mut self, msg_id: &str, error: impl Fn() -> ServerError) {
        if let Some(proposal) = self.proposals.remove(msg_id) {
            for reply in proposal.replies {
                let _ = reply.send(Err(error()));
            }
        }
    }
}

/// The error for a proposal whose time ran out, as its kind and message
/// (made once for each waiting reply).
fn timed_out(proposal: &Proposal) -> (fn(String) -> ServerError, String) {
    let last = proposal
        .last_failure
        .as_deref()
        .unwrap_or("no acknowledgement yet");
    if let Some(seq) = proposal.acked {
        (
            ServerError::OutcomeUnknown,
            format!(
                "committed at log sequence {seq}, but not yet applied by this server \
                 within --cluster-timeout-ms; it will take effect"
            ),
        )
    } else if proposal.maybe_stored || proposal.in_flight {
        (
            ServerError::OutcomeUnknown,
            format!(
                "no quorum confirmed the write within --cluster-timeout-ms ({last}); it may \
                 still take effect: retry with the same Idempotency-Key to be sure it applies \
                 once"
            ),
        )
    } else {
        (
            ServerError::ClusterUnavailable,
            format!("the write was not committed: no quorum within --cluster-timeout-ms ({last})"),
        )
    }
}
