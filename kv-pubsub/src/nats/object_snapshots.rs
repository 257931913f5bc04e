//! [`ObjectSnapshots`]: the snapshot replicas share, as the object
//! `latest` of a JetStream Object Store bucket (`<stream>-snapshots`),
//! described by the text the uploader gives.
//!
//! An upload replaces the object (its metadata is rolled up) and then
//! purges the chunks of the one it replaced, which the `nats` crate leaves
//! behind (it looks the old object up under a doubly encoded name).

use std::io::Read;

use log::info;

use crate::nats::jetstream::JetStreamLog;
use crate::replicated::{LogError, SharedSnapshot, SnapshotStore};

/// The name of the one object kept.
const OBJECT: &str = "latest";

/// A bucket holding the newest uploaded snapshot.
pub struct ObjectSnapshots {
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
        let store = match js.object_store(&bucket) {
            Ok(store) => store,
            Err(_) => {
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
        Ok(Self { js, store, bucket })
    }

    /// The current object's metadata, `None` when there is none (or it was
    /// deleted).
    fn info(&self) -> Result<Option<nats::object_store::ObjectInfo>, LogError> {
        match self.store.info(OBJECT) {
            Ok(info) if !info.deleted => Ok(Some(info)),
            Ok(_) => Ok(None),
            // The server says "no message found" when nothing was uploaded.
            Err(e) if e.to_string().contains("no message found") => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
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
        let meta = nats::object_store::ObjectMeta {
            name: OBJECT.into(),
            description: Some(description.to_owned()),
            link: None,
        };
        let mut data = data;
        let stored = self.store.put(meta, &mut data).map_err(unavailable)?;
        if let Some(old) = replaced.filter(|old| old.nuid != stored.nuid) {
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
