//! [`AppState`]: the operations behind the routes, shared by every worker.

use std::io;

use kv_core::api::{GetResponse, RmRequest, RmResponse, SetRequest, SetResponse};
use kv_core::{Command, Outcome, Store};

use crate::commit_log::CommitLog;
use crate::config::Config;
use crate::error::ServerError;
use crate::pipeline::CommitPipeline;

/// The store's read handle and the writer's queue. Built once per server and
/// shared by all workers.
#[derive(Debug)]
pub struct AppState {
    store: Store,
    pipeline: CommitPipeline,
}

impl AppState {
    /// Creates the store and starts the commit pipeline over `log`.
    ///
    /// # Errors
    ///
    /// An invalid shard count, or the writer thread could not be started.
    pub fn new(config: &Config, log: Box<dyn CommitLog>) -> io::Result<Self> {
        let (store, writer) = Store::new(config.shards, config.limits())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let pipeline = CommitPipeline::start(writer, log, config.max_batch, config.queue_depth)?;
        Ok(Self { store, pipeline })
    }

    /// `POST /set`: stores the value and returns the one it replaced.
    ///
    /// # Errors
    ///
    /// Invalid key or value, or the write could not be committed.
    pub async fn set(&self, request: SetRequest) -> Result<SetResponse, ServerError> {
        let command = Command::Set {
            key: request.key,
            value: request.val.into_bytes(),
        };
        match self.pipeline.submit(command).await? {
            Outcome::Set { rev, prev } => Ok(SetResponse {
                inserted: true,
                ejected_val: prev.map(|e| e.value_lossy()),
                rev,
            }),
            other => Err(mismatch(&other)),
        }
    }

    /// `GET /get`: the current value of a key.
    ///
    /// # Errors
    ///
    /// Invalid key.
    pub fn get(&self, key: &str) -> Result<GetResponse, ServerError> {
        let entry = self.store.get(key)?;
        Ok(GetResponse {
            found: entry.is_some(),
            mod_rev: entry.as_ref().map(|e| e.mod_rev),
            inserted_val: entry.map(|e| e.value_lossy()),
        })
    }

    /// `/rm`: removes a key and returns its value.
    ///
    /// # Errors
    ///
    /// Invalid key, or the removal could not be committed.
    pub async fn rm(&self, request: RmRequest) -> Result<RmResponse, ServerError> {
        match self
            .pipeline
            .submit(Command::Rm { key: request.key })
            .await?
        {
            Outcome::Rm { rev, removed } => Ok(RmResponse {
                found: removed.is_some(),
                removed: removed.is_some(),
                ejected_val: removed.map(|e| e.value_lossy()),
                rev,
            }),
            other => Err(mismatch(&other)),
        }
    }

    /// Commits what is queued and stops the writer.
    pub async fn shutdown(&self) {
        self.pipeline.shutdown().await;
    }
}

fn mismatch(outcome: &Outcome) -> ServerError {
    ServerError::Internal(format!("the writer answered with {outcome:?}"))
}
