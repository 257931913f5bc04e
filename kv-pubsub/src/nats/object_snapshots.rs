//! [`ObjectSnapshots`]: the snapshot replicas share, as the object
//! `latest` of a JetStream Object Store bucket (`<stream>-snapshots`),
//! described by the text the uploader gives.
//!
//! Uploads are written here rather than with the `nats` crate's `put`,
//! which publishes each chunk with its slow request path, looks the
//! replaced object up under a doubly encoded name (so it never purges its
//! chunks) and logs that failed lookup as an error every time. Here the
//! chunks are published with their acknowledgements in flight together,
//! then the metadata (rolled up: it replaces the old object's), then the
//! replaced object's chunks are purged. The layout is the Object Store's
//! own (chunks on `$O.<bucket>.C.<nuid>`, metadata on
//! `$O.<bucket>.M.<name in base64>` with the SHA-256 of the content), so
//! the crate's `get` reads it and checks the digest.

use std::io::Read;
use std::sync::mpsc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;

use log::info;
use serde_json::json;

use crate::nats::jetstream::JetStreamLog;
use crate::replicated::{LogError, SharedSnapshot, SnapshotStore};

/// The name of the one object kept.
const OBJECT: &str = "latest";
/// Bytes in each chunk (the Object Store's usual size).
const CHUNK_BYTES: usize = 128 * 1024;

/// A bucket holding the newest uploaded snapshot.
pub struct ObjectSnapshots {
    log: JetStreamLog,
    js: nats::jetstream::JetStream,
    store: nats::object_store::ObjectStore,
    bucket: String,
}

impl std::fmt::Debug for ObjectSnapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectSnapshots")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: std::io::Error) -> LogError {
    LogError::Unavailable(e.to_string())
}

impl ObjectSnapshots {
    /// Opens the bucket `<stream>-snapshots` on `log`'s connection,
    /// creating it (with `replicas` copies) when missing.
    ///
    /// # Errors
    ///
    /// [`LogError::Unavailable`] when JetStream cannot be reached or the
    /// bucket cannot be created.
    pub fn open(log: &JetStreamLog, stream: &str, replicas: usize) -> Result<Self, LogError> {
        let js = nats::jetstream::new(log.connection().clone());
        let bucket = format!("{stream}-snapshots");
        // Asked here first: the crate logs a missing stream as an error.
        let exists = match log.api_request(&format!("$JS.API.STREAM.INFO.OBJ_{bucket}"), &json!({}))
        {
            Ok(_) => true,
            Err(LogError::Protocol(detail)) if detail.contains("(404)") => false,
            Err(e) => return Err(e),
        };
        let store = match exists {
            true => js.object_store(&bucket).map_err(unavailable)?,
            false => {
                let store = js
                    .create_object_store(&nats::object_store::Config {
                        bucket: bucket.clone(),
                        description: Some("kv-store: the newest snapshot of the replicas".into()),
                        num_replicas: replicas,
                        ..Default::default()
                    })
                    .map_err(unavailable)?;
                info!("created snapshot bucket {bucket}");
                store
            }
        };
        Ok(Self {
            log: log.clone(),
            js,
            store,
            bucket,
        })
    }

    /// The current object's metadata, `None` when there is none (or it was
    /// deleted). Asked here: the crate logs a missing object as an error.
    fn info(&self) -> Result<Option<nats::object_store::ObjectInfo>, LogError> {
        let subject = format!("$O.{}.M.{}", self.bucket, URL_SAFE.encode(OBJECT));
        let answer = match self.log.api_request(
            &format!("$JS.API.STREAM.MSG.GET.OBJ_{}", self.bucket),
            &json!({ "last_by_subj": subject }),
        ) {
            Ok(answer) => answer,
            Err(LogError::Protocol(detail)) if detail.contains("(404)") => return Ok(None),
            Err(e) => return Err(e),
        };
        let data = answer["message"]["data"].as_str().unwrap_or_default();
        let bytes = STANDARD
            .decode(data)
            .map_err(|e| LogError::Protocol(format!("snapshot metadata: {e}")))?;
        let info: nats::object_store::ObjectInfo = serde_json::from_slice(&bytes)
            .map_err(|e| LogError::Protocol(format!("snapshot metadata: {e}")))?;
        Ok((!info.deleted).then_some(info))
    }
}

impl SnapshotStore for ObjectSnapshots {
    fn newest(&self) -> Result<Option<String>, LogError> {
        Ok(self
            .info()?
            .map(|info| info.description.unwrap_or_default()))
    }

    fn download(&self) -> Result<Option<SharedSnapshot>, LogError> {
        let Some(info) = self.info()? else {
            return Ok(None);
        };
        let object = self.store.get(OBJECT).map_err(unavailable)?;
        Ok(Some((
            info.description.unwrap_or_default(),
            Box::new(object),
        )))
    }

    fn upload(&self, description: &str, data: &mut dyn Read) -> Result<(), LogError> {
        let replaced = self.info()?;
        let nuid = self.log.unique_name();
        let chunk_subject = format!("$O.{}.C.{nuid}", self.bucket);
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buffer = vec![0; CHUNK_BYTES];
        let (acks, answers) = mpsc::channel();
        let (mut size, mut chunks) = (0, 0);
        loop {
            let n = read_full(data, &mut buffer).map_err(unavailable)?;
            if n == 0 {
                break;
            }
            digest.update(&buffer[..n]);
            size += n;
            chunks += 1;
            let acks = acks.clone();
            self.log.publish_acked(
                &chunk_subject,
                &nats::header::HeaderMap::new(),
                &buffer[..n],
                Box::new(move |outcome| drop(acks.send(outcome))),
            );
        }
        drop(acks);
        for outcome in answers {
            outcome.map_err(|e| LogError::Unavailable(format!("snapshot chunk: {e}")))?;
        }
        let info = nats::object_store::ObjectInfo {
            name: OBJECT.into(),
            description: Some(description.to_owned()),
            link: None,
            bucket: self.bucket.clone(),
            nuid: nuid.clone(),
            size,
            chunks,
            modified: nats::jetstream::DateTime::now_utc(),
            digest: format!("SHA-256={}", URL_SAFE.encode(digest.finish())),
            deleted: false,
        };
        let meta = serde_json::to_vec(&info).map_err(|e| LogError::Protocol(e.to_string()))?;
        let mut headers = nats::header::HeaderMap::new();
        headers.insert("Nats-Rollup", "sub".to_owned());
        let (done, answer) = mpsc::channel();
        self.log.publish_acked(
            &format!("$O.{}.M.{}", self.bucket, URL_SAFE.encode(OBJECT)),
            &headers,
            &meta,
            Box::new(move |outcome| drop(done.send(outcome))),
        );
        answer
            .recv()
            .map_err(|_| LogError::Unavailable("no acknowledgement".into()))?
            .map_err(|e| LogError::Unavailable(format!("snapshot metadata: {e}")))?;
        if let Some(old) = replaced.filter(|old| old.nuid != nuid) {
            self.js
                .purge_stream_subject(
                    format!("OBJ_{}", self.bucket),
                    &format!("$O.{}.C.{}", self.bucket, old.nuid),
                )
                .map_err(unavailable)?;
        }
        Ok(())
    }
}

/// Reads until `buffer` is full or `data` ends; the bytes read.
fn read_full(data: &mut dyn Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match data.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
