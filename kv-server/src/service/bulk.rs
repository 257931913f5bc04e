//! Bulk loads: `GET /v1/export` streams every key at one revision as NDJSON,
//! and an [`Importer`] commits the records of `POST /v1/import` in chunks.
//!
//! An export is copied while the writer is paused (as a backup is: the
//! entries are shared, not duplicated), then sorted and encoded on a thread
//! of its own while reads and writes go on. An import commits each chunk of
//! up to [`IMPORT_CHUNK_RECORDS`] consecutive records as one transaction,
//! several chunks in flight at once, so the writer commits them together
//! (one fsync for several chunks) while the next lines are read.

use std::collections::{HashSet, VecDeque};
use std::io::{BufWriter, Write};
use std::sync::Arc;

use kv_core::api::{ExportRecord, IMPORT_CHUNK_RECORDS};
use kv_core::txn::{Txn, TxnOp};
use kv_core::{Command, Entry, Outcome};
use log::warn;
use tokio::task::JoinHandle;

use crate::commit::clock::now_ms;
use crate::commit::pipeline::CommitPipeline;
use crate::error::ServerError;
use crate::service::body_stream::{body_channel, BodyStream, BodyWriter};
use crate::service::Service;
use crate::storage::backup::copy_consistent;

/// Chunks committing at once during an import.
const CHUNKS_IN_FLIGHT: usize = 8;
/// Bytes of values in one chunk, at most (a chunk of large values closes
/// before [`IMPORT_CHUNK_RECORDS`]).
const CHUNK_BYTES: usize = 4 << 20;
/// Bytes the export's encoder hands to the connection at a time.
const EXPORT_BUFFER_BYTES: usize = 256 << 10;

impl Service {
    /// `GET /v1/export`: every key under `prefix` at one revision, in key
    /// order, one [`ExportRecord`] per line. Returns the revision and the
    /// body.
    ///
    /// # Errors
    ///
    /// The server is shutting down.
    pub async fn export(&self, prefix: String) -> Result<(u64, BodyStream), ServerError> {
        let store = self.store.clone();
        let copy = self
            .pipeline
            .exclusive(move || copy_consistent(&store))
            .await?;
        let (rev, now) = (copy.rev, now_ms());
        let (writer, body) = body_channel();
        std::thread::Builder::new()
            .name("kv-export".into())
            .spawn(move || {
                let mut entries: Vec<Entry> = copy.entries;
                let prefix = prefix.as_bytes();
                entries.retain(|e| e.key_bytes().starts_with(prefix) && !e.is_expired(now));
                // Bytes order UTF-8 as its text, without checking it again.
                entries.sort_unstable_by(|a, b| a.key_bytes().cmp(b.key_bytes()));
                let mut out = BufWriter::with_capacity(EXPORT_BUFFER_BYTES, writer);
                if let Err(e) = write_records(&entries, &mut out) {
                    warn!("export at revision {rev} not completed: {e}");
                    if let Ok(writer) = out.into_inner().map_err(|e| e.into_parts().0) {
                        writer.fail(e);
                    }
                }
            })
            .map_err(|e| ServerError::Internal(format!("cannot start an export thread: {e}")))?;
        Ok((rev, body))
    }

    /// An importer committing through this service's writer.
    pub fn importer(&self) -> Importer {
        Importer {
            pipeline: Arc::clone(&self.pipeline),
            limits: *self.store.limits(),
            chunk: Vec::new(),
            chunk_keys: HashSet::new(),
            chunk_bytes: 0,
            in_flight: VecDeque::new(),
            imported: 0,
            expired: 0,
            rev: self.store.revision(),
        }
    }
}

/// Writes `entries` as NDJSON, then flushes.
fn write_records(entries: &[Entry], out: &mut BufWriter<BodyWriter>) -> std::io::Result<()> {
    for entry in entries {
        serde_json::to_writer(&mut *out, &ExportRecord::new(entry.key().to_owned(), entry))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Commits imported records in chunks, several in flight. Records are
/// committed in the order given; a key given twice ends up with its last
/// value (a chunk closes early rather than hold a key twice).
#[derive(Debug)]
pub struct Importer {
    pipeline: Arc<CommitPipeline>,
    limits: kv_core::Limits,
    chunk: Vec<TxnOp>,
    chunk_keys: HashSet<String>,
    chunk_bytes: usize,
    /// Chunks committing, oldest first, with their record counts.
    in_flight: VecDeque<(u64, JoinHandle<Result<u64, ServerError>>)>,
    imported: u64,
    expired: u64,
    rev: u64,
}

impl Importer {
    /// Adds one record, committing a chunk when it is full.
    ///
    /// # Errors
    ///
    /// The record's key or value is not within the limits, its encoding
    /// or content type is invalid, or an earlier chunk failed to commit.
    pub async fn add(&mut self, record: ExportRecord) -> Result<(), ServerError> {
        let value = kv_core::value_text::from_text(&record.value, record.encoding.as_deref())
            .map_err(ServerError::BadRequest)?;
        self.limits
            .check_key(&record.key)
            .map_err(|e| ServerError::BadRequest(e.to_string()))?;
        self.limits
            .check_value(&value)
            .map_err(|e| ServerError::PayloadTooLarge(e.to_string()))?;
        if record.expires_at.is_some_and(|at| at <= now_ms()) {
            self.expired += 1;
            return Ok(());
        }
        if self.chunk_keys.contains(&record.key) {
            self.commit_chunk().await?;
        }
        self.chunk_bytes += record.key.len() + value.len();
        self.chunk_keys.insert(record.key.clone());
        self.chunk.push(TxnOp::Put {
            key: record.key,
            value,
            content_type: record.content_type.map(Arc::from),
            expires_at: record.expires_at,
        });
        if self.chunk.len() >= IMPORT_CHUNK_RECORDS || self.chunk_bytes >= CHUNK_BYTES {
            self.commit_chunk().await?;
        }
        Ok(())
    }

    /// Commits what is left and waits for every chunk: how many records
    /// were stored, how many had expired, and the last revision.
    ///
    /// # Errors
    ///
    /// A chunk failed to commit (it and every later one are not stored).
    pub async fn finish(&mut self) -> Result<(u64, u64, u64), ServerError> {
        self.commit_chunk().await?;
        while self.settle_oldest().await? {}
        Ok((self.imported, self.expired, self.rev))
    }

    /// Sends the current chunk to the writer, first waiting for the oldest
    /// in flight when [`CHUNKS_IN_FLIGHT`] are.
    async fn commit_chunk(&mut self) -> Result<(), ServerError> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        if self.in_flight.len() >= CHUNKS_IN_FLIGHT {
            self.settle_oldest().await?;
        }
        let txn = Txn {
            success: std::mem::take(&mut self.chunk),
            ..Txn::default()
        };
        self.chunk_keys.clear();
        self.chunk_bytes = 0;
        let records = txn.success.len() as u64;
        let pipeline = Arc::clone(&self.pipeline);
        // Spawned in order on this thread, they reach the writer in order.
        let commit = tokio::task::spawn_local(async move {
            match pipeline.submit(Command::Txn(txn)).await? {
                Outcome::Txn { rev, .. } => Ok(rev),
                other => Err(ServerError::Internal(format!(
                    "the writer answered an import chunk with {other:?}"
                ))),
            }
        });
        self.in_flight.push_back((records, commit));
        Ok(())
    }

    /// Waits for the oldest chunk in flight; `false` when there is none.
    async fn settle_oldest(&mut self) -> Result<bool, ServerError> {
        let Some((records, commit)) = self.in_flight.pop_front() else {
            return Ok(false);
        };
        let rev = commit
            .await
            .map_err(|e| ServerError::Internal(format!("an import chunk was lost: {e}")))??;
        self.imported += records;
        self.rev = self.rev.max(rev);
        Ok(true)
    }
}
