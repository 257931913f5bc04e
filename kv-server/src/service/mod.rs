//! [`Service`]: the operations behind the routes, shared by every worker.

pub mod body_stream;
pub mod bulk;
pub mod context;
mod open;
pub mod watch;
pub mod watch_outbox;

pub use watch::{WatchSettings, WatchStart};

use std::sync::Arc;

use kv_core::api::{
    DeletePrefixResponse, DeleteResponse, GetResponse, HealthResponse, ProbeResponse, PutResponse,
    RmRequest, RmResponse, SetRequest, SetResponse, StatusResponse,
};
use kv_core::command::Condition;
use kv_core::store::listing::{ListPage, ListQuery};
use kv_core::txn::{Txn, TxnResult};
use kv_core::value_text::to_text;
use kv_core::{Command, Entry, Outcome, Store};
use kv_pubsub::Feed;
use log::warn;

use crate::cluster::snapshots::digest_hex;
use crate::cluster::Cluster;
use crate::commit::clock::{deadline_after, now_ms};
use crate::commit::expiry::ExpiryScheduler;
use crate::commit::pipeline::CommitPipeline;
use crate::error::ServerError;
use crate::observe::metrics::LiveState;
use crate::service::body_stream::{body_channel, BodyStream};
use crate::service::watch_outbox::WatchBudget;
use crate::storage::backup::{copy_consistent, encode_backup};
use crate::storage::StorageStatus;

/// The store's read handle, the writer's queue, the storage status and the
/// change feed. Built once per server and shared by all workers.
#[derive(Debug)]
pub struct Service {
    store: Store,
    pipeline: Arc<CommitPipeline>,
    expiry: ExpiryScheduler,
    storage: Arc<StorageStatus>,
    feed: Arc<dyn Feed>,
    /// Replicated mode's replica, when `--cluster` is given.
    cluster: Option<Cluster>,
    watch: WatchSettings,
    list_max_bytes: usize,
    max_txn_ops: usize,
    watch_budget: Arc<WatchBudget>,
    max_watchers: usize,
    /// Turns `true` when the server starts shutting down; watch streams
    /// end on it so that they do not hold the shutdown up.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Service {
    /// What `/metrics` reads at each scrape.
    pub fn live_state(&self) -> LiveState {
        LiveState {
            store: self.store.clone(),
            storage: Arc::clone(&self.storage),
            feed: Arc::clone(&self.feed),
            watch: Arc::clone(&self.watch_budget.counters),
        }
    }

    /// `GET /readyz`: `Ok` when the server should get traffic; otherwise
    /// why not (shutting down, or writes refused after a storage failure).
    pub fn readiness(&self) -> Result<(), ProbeResponse> {
        if *self.stopping.borrow() {
            return Err(ProbeResponse {
                status: "stopping".into(),
                reason: Some("the server is shutting down".into()),
            });
        }
        if let Some(failure) = self.storage.failure() {
            return Err(ProbeResponse {
                status: "writes_refused".into(),
                reason: Some(failure.to_owned()),
            });
        }
        match &self.cluster {
            Some(cluster) => cluster.readiness(),
            None => Ok(()),
        }
    }

    /// `GET /`: up, whether writes are accepted, and the NATS publisher's
    /// state when there is one.
    pub fn health(&self) -> HealthResponse {
        let failure = self.storage.failure();
        HealthResponse {
            up: true,
            writable: failure.is_none(),
            storage: match (&self.cluster, self.storage.policy()) {
                (Some(_), _) => "replicated",
                (None, Some(policy)) => policy.as_str(),
                (None, None) => "memory",
            }
            .to_owned(),
            error: failure.map(str::to_owned),
            nats: self.feed.stats().nats_state(),
        }
    }

    /// `POST /set`: stores the value and returns the one it replaced.
    ///
    /// # Errors
    ///
    /// Invalid key or value, or the write could not be committed.
    pub async fn set(
        &self,
        request: SetRequest,
        idempotency: Option<String>,
    ) -> Result<SetResponse, ServerError> {
        let expires_at = match &request.ttl {
            None => None,
            Some(ttl) => {
                let ttl = ttl.duration().map_err(ServerError::BadRequest)?;
                Some(deadline_after(ttl))
            }
        };
        let command = Command::Set {
            key: request.key,
            value: request.val.into_bytes(),
            content_type: None,
            expires_at,
            condition: Condition::Always,
        };
        match self.commit(command, idempotency).await? {
            Outcome::Set { rev, prev } => {
                let (ejected_val, encoding) = value_text(prev.as_ref());
                Ok(SetResponse {
                    inserted: true,
                    ejected_val,
                    encoding,
                    rev,
                })
            }
            other => Err(mismatch(&other)),
        }
    }

    /// `GET /get`: the current value of a key.
    ///
    /// # Errors
    ///
    /// Invalid key.
    pub fn get(&self, key: &str) -> Result<GetResponse, ServerError> {
        let entry = self.store.get(key, now_ms())?;
        let (inserted_val, encoding) = value_text(entry.as_ref());
        Ok(GetResponse {
            found: entry.is_some(),
            mod_rev: entry.as_ref().map(Entry::mod_rev),
            inserted_val,
            encoding,
        })
    }

    /// `GET /v1/kv/{key}`: the entry, if any, and the store revision.
    ///
    /// # Errors
    ///
    /// Invalid key.
    pub fn entry(&self, key: &str) -> Result<(Option<Entry>, u64), ServerError> {
        let entry = self.store.get(key, now_ms())?;
        // The writer makes a batch's entries visible before it advances the
        // revision: never report a revision older than the value returned.
        let rev = self
            .store
            .revision()
            .max(entry.as_ref().map_or(0, Entry::mod_rev));
        Ok((entry, rev))
    }

    /// `PUT /v1/kv/{key}`: stores `value` with its content type if
    /// `condition` holds.
    ///
    /// # Errors
    ///
    /// Invalid key or value, a failed condition, or the write could not be
    /// committed.
    pub async fn put(
        &self,
        key: String,
        value: Vec<u8>,
        content_type: Option<Arc<str>>,
        expires_at: Option<u64>,
        condition: Condition,
        idempotency: Option<String>,
    ) -> Result<PutResponse, ServerError> {
        let command = Command::Set {
            key,
            value,
            content_type,
            expires_at,
            condition,
        };
        match self.commit(command, idempotency).await? {
            Outcome::Set { rev, prev } => Ok(PutResponse {
                rev,
                created: prev.is_none(),
            }),
            other => Err(mismatch(&other)),
        }
    }

    /// `DELETE /v1/kv/{key}`: removes the key if `condition` holds.
    ///
    /// # Errors
    ///
    /// [`ServerError::KeyNotFound`] when it does not exist; invalid key, a
    /// failed condition, or the removal could not be committed.
    pub async fn delete(
        &self,
        key: String,
        condition: Condition,
        idempotency: Option<String>,
    ) -> Result<DeleteResponse, ServerError> {
        let command = Command::Rm {
            key: key.clone(),
            condition,
        };
        match self.commit(command, idempotency).await? {
            Outcome::Rm {
                rev,
                removed: Some(_),
            } => Ok(DeleteResponse { rev }),
            Outcome::Rm { removed: None, .. } => Err(ServerError::KeyNotFound(key)),
            other => Err(mismatch(&other)),
        }
    }

    /// `GET /v1/kv?prefix=`: one page of keys, in order.
    pub fn list(&self, mut query: ListQuery) -> ListPage {
        query.max_bytes = self.list_max_bytes;
        self.store.list(&query, now_ms())
    }

    /// `DELETE /v1/kv?prefix=`: removes every key under `prefix` at one
    /// revision.
    ///
    /// # Errors
    ///
    /// The removal could not be committed.
    pub async fn delete_prefix(
        &self,
        prefix: String,
        idempotency: Option<String>,
    ) -> Result<DeletePrefixResponse, ServerError> {
        match self
            .commit(Command::RmPrefix { prefix }, idempotency)
            .await?
        {
            Outcome::RmPrefix { rev, removed } => Ok(DeletePrefixResponse {
                deleted: removed,
                rev,
            }),
            other => Err(mismatch(&other)),
        }
    }

    /// `POST /v1/txn`: runs a transaction; returns its revision, whether the
    /// comparisons held, and the results of the branch that ran.
    ///
    /// # Errors
    ///
    /// An invalid key, value or transaction, or it could not be committed.
    pub async fn txn(
        &self,
        txn: Txn,
        idempotency: Option<String>,
    ) -> Result<(u64, bool, Vec<TxnResult>), ServerError> {
        match self.commit(Command::Txn(txn), idempotency).await? {
            Outcome::Txn {
                rev,
                succeeded,
                results,
            } => Ok((rev, succeeded, results)),
            other => Err(mismatch(&other)),
        }
    }

    /// Most comparisons plus operations in one transaction.
    pub fn max_txn_ops(&self) -> usize {
        self.max_txn_ops
    }

    /// The key and value limits.
    pub fn limits(&self) -> &kv_core::Limits {
        self.store.limits()
    }

    /// `/rm`: removes a key and returns its value.
    ///
    /// # Errors
    ///
    /// Invalid key, or the removal could not be committed.
    pub async fn rm(
        &self,
        request: RmRequest,
        idempotency: Option<String>,
    ) -> Result<RmResponse, ServerError> {
        match self.commit(Command::rm(request.key), idempotency).await? {
            Outcome::Rm { rev, removed } => {
                let (ejected_val, encoding) = value_text(removed.as_ref());
                Ok(RmResponse {
                    found: removed.is_some(),
                    removed: removed.is_some(),
                    ejected_val,
                    encoding,
                    rev,
                })
            }
            other => Err(mismatch(&other)),
        }
    }

    /// `GET /v1/snapshot`: a consistent backup, streamed. Returns its
    /// revision and the body. Writes pause only while the entries are copied
    /// in memory; encoding and sending happen after.
    ///
    /// # Errors
    ///
    /// The server is shutting down.
    pub async fn backup(&self) -> Result<(u64, BodyStream), ServerError> {
        let store = self.store.clone();
        let copy = self
            .pipeline
            .exclusive(move || copy_consistent(&store))
            .await?;
        let rev = copy.rev;
        let (mut writer, body) = body_channel();
        std::thread::Builder::new()
            .name("kv-backup".into())
            .spawn(move || {
                if let Err(e) = encode_backup(&copy, &mut writer) {
                    warn!("backup at revision {} not completed: {e}", copy.rev);
                    writer.fail(e);
                }
            })
            .map_err(|e| ServerError::Internal(format!("cannot start a backup thread: {e}")))?;
        Ok((rev, body))
    }

    /// Commits `command`, alone and under its key when the request carries
    /// an `Idempotency-Key`.
    async fn commit(
        &self,
        command: Command,
        idempotency: Option<String>,
    ) -> Result<Outcome, ServerError> {
        match idempotency {
            Some(key) => self.pipeline.submit_idempotent(command, key).await,
            None => self.pipeline.submit(command).await,
        }
    }

    /// For a read with `consistent=true`: in replicated mode, waits until
    /// this replica has applied everything committed before the call (a
    /// single node's reads are always linearizable).
    ///
    /// # Errors
    ///
    /// [`ServerError::ClusterUnavailable`] when that cannot be learned or
    /// reached in time.
    pub async fn consistent(&self) -> Result<(), ServerError> {
        match &self.cluster {
            Some(cluster) => cluster.consistent().await,
            None => Ok(()),
        }
    }

    /// `GET /v1/status`: the revision and digest of the state, and in
    /// replicated mode where this replica is in the log.
    pub async fn status(&self) -> StatusResponse {
        let summary = self.store.summary();
        let mut status = StatusResponse {
            mode: if self.cluster.is_some() {
                "replica"
            } else {
                "single"
            }
            .into(),
            rev: summary.rev,
            digest: digest_hex(summary.digest),
            keys: self.store.len() as u64,
            node: None,
            stream: None,
            applied_seq: None,
            stream_seq: None,
            lag: None,
            publisher: None,
        };
        if let Some(cluster) = &self.cluster {
            let view = cluster.view().await;
            status.node = Some(view.node);
            status.stream = Some(view.stream);
            status.applied_seq = Some(view.applied_seq);
            status.stream_seq = Some(view.stream_seq);
            status.lag = Some(view.lag);
            status.publisher = view.publisher;
        }
        status
    }

    /// Tells watch streams to end: the server is shutting down.
    pub fn begin_shutdown(&self) {
        self.stopping.send_replace(true);
    }

    /// Commits what is queued, syncs the log and stops the writer.
    pub async fn shutdown(&self) {
        self.expiry.stop();
        self.pipeline.shutdown().await;
    }
}

/// The value of `entry` as the basic routes carry it: its text, or base64
/// with `Some("base64")` when it is not UTF-8.
fn value_text(entry: Option<&Entry>) -> (Option<String>, Option<String>) {
    let (text, encoding) = entry.map(|e| to_text(e.value())).unzip();
    (text, encoding.flatten())
}

fn mismatch(outcome: &Outcome) -> ServerError {
    ServerError::Internal(format!("the writer answered with {outcome:?}"))
}
