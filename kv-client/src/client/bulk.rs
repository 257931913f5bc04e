//! Bulk transfers, streamed both ways with no overall time limit: a backup
//! (`GET /v1/snapshot`), an export (`GET /v1/export`) and an import
//! (`POST /v1/import`).

use std::io::{Read, Write};

use kv_core::api::{ImportResponse, NDJSON};
use ureq::http::Response;
use ureq::Body;

use crate::client::{decode, unreachable, KvClient, REVISION_HEADER};
use crate::error::{ClientError, Result};

/// A download: the revision it was taken at and its body.
pub struct Download {
    /// The store's revision the download shows.
    pub rev: u64,
    /// The body, as it arrives.
    pub body: Box<dyn Read + Send>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("rev", &self.rev)
            .finish_non_exhaustive()
    }
}

impl KvClient {
    /// `GET /v1/snapshot`: streams a consistent backup of the whole store
    /// into `out`. Returns the backup's revision and its size in bytes.
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// client.set("greeting", "hello")?;
    /// let mut file = Vec::new(); // or a std::fs::File
    /// let (rev, bytes) = client.backup(&mut file)?;
    /// assert_eq!(bytes, file.len() as u64);
    /// assert!(rev >= 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`]; a download cut short is [`ClientError::Protocol`].
    pub fn backup(&self, out: &mut dyn Write) -> Result<(u64, u64)> {
        let url = self.url("/v1/snapshot");
        let mut download = self.download(&url, self.agent.get(&url))?;
        let bytes = std::io::copy(&mut download.body, out).map_err(|e| ClientError::Protocol {
            url,
            detail: format!("the download stopped: {e}"),
        })?;
        Ok((download.rev, bytes))
    }

    /// `GET /v1/export?prefix=`: every key under `prefix`, at one revision,
    /// in key order, as NDJSON (one [`ExportRecord`](kv_core::api::ExportRecord)
    /// per line), to read from the returned body.
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// use std::io::Read;
    ///
    /// client.set("app/a", "1")?;
    /// client.set("app/b", "2")?;
    /// let mut export = client.export("app/")?;
    /// let mut ndjson = String::new();
    /// export.body.read_to_string(&mut ndjson)?;
    /// assert_eq!(ndjson.lines().count(), 2);
    /// // Load the same records into another server.
    /// # let other_server = kv_server::ServerBuilder::new().start()?;
    /// # let other = kv_client::KvClient::new(&other_server.url().parse()?);
    /// let imported = other.import(&mut ndjson.as_bytes())?;
    /// assert_eq!(imported.imported, 2);
    /// assert_eq!(other.get("app/b")?.inserted_val.as_deref(), Some("2"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn export(&self, prefix: &str) -> Result<Download> {
        let url = self.url("/v1/export");
        self.download(&url, self.agent.get(&url).query("prefix", prefix))
    }

    /// `POST /v1/import`: sends the NDJSON records read from `records`; the
    /// server stores each chunk of up to 1024 consecutive records
    /// atomically and skips those whose expiry has passed.
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// let records = concat!(
    ///     r#"{"key":"a","value":"1"}"#, "\n",
    ///     r#"{"key":"b","value":"/wA=","encoding":"base64","content_type":"application/octet-stream"}"#, "\n",
    /// );
    /// let answer = client.import(&mut records.as_bytes())?;
    /// assert_eq!(answer.imported, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`]; a bad record is a 400 naming its line (the
    /// records before it were stored).
    pub fn import(&self, records: &mut dyn Read) -> Result<ImportResponse> {
        let url = self.url("/v1/import");
        let result = self
            .agent
            .post(&url)
            .header("content-type", NDJSON)
            .config()
            .timeout_send_body(None)
            .timeout_recv_response(None)
            .build()
            .send(ureq::SendBody::from_reader(records));
        decode(&url, result)
    }

    /// Sends `request` with no time limit on the body, and checks that
    /// the answer is a success with a revision.
    fn download(
        &self,
        url: &str,
        request: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    ) -> Result<Download> {
        let protocol = |detail: String| ClientError::Protocol {
            url: url.to_owned(),
            detail,
        };
        let result = request.config().timeout_recv_body(None).build().call();
        let response: Response<Body> = result.map_err(|e| unreachable(url, &e))?;
        if !response.status().is_success() {
            return decode::<serde_json::Value>(url, Ok(response))
                .and_then(|_| Err(protocol("an error status with a success body".into())));
        }
        let rev = response
            .headers()
            .get(REVISION_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| protocol(format!("no {REVISION_HEADER} header")))?;
        Ok(Download {
            rev,
            body: Box::new(response.into_body().into_reader()),
        })
    }
}
