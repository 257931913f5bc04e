//! The `/v1` routes of [`KvClient`]: keys in the path with raw values and
//! conditions, listing, prefix deletes, transactions and the watch stream.

use kv_core::api::{
    key_path, DeletePrefixResponse, DeleteResponse, KvEntry, ListResponse, PutResponse, TxnResponse,
};
use kv_core::command::Condition;

use super::{decode, unreachable, KvClient};
use crate::error::{ClientError, Result};
use crate::watch::{WatchParams, WatchStream};

impl KvClient {
    /// `PUT /v1/kv/{key}`: stores `value` (any bytes) with an optional
    /// content type and time to live (`30s`, `1500ms`, …), if `condition`
    /// holds.
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// use kv_client::ClientError;
    /// use kv_core::command::Condition;
    ///
    /// // Create only if absent, with a content type and a time to live.
    /// let created = client.put("jobs/1", b"{}", Some("application/json"), Some("1h"), Condition::Absent)?;
    /// assert!(created.created);
    /// // Replace only if nobody changed it since (compare-and-swap on the revision).
    /// let updated = client.put("jobs/1", b"{\"done\":true}", None, None, Condition::ModRev(created.rev))?;
    /// // The old revision no longer matches: refused, nothing written.
    /// let stale = client.put("jobs/1", b"{}", None, None, Condition::ModRev(created.rev));
    /// assert!(matches!(stale, Err(ClientError::ConditionFailed { .. })));
    /// assert!(updated.rev > created.rev);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`]; [`ClientError::ConditionFailed`] when the
    /// condition does not hold.
    pub fn put(
        &self,
        key: &str,
        value: &[u8],
        content_type: Option<&str>,
        ttl: Option<&str>,
        condition: Condition,
    ) -> Result<PutResponse> {
        let url = self.url(&key_path(key));
        let mut request = self.agent.put(&url);
        if let Some(ttl) = ttl {
            request = request.query("ttl", ttl);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = match condition_header(condition) {
            Some((name, value)) => request.header(name, value),
            None => request,
        };
        decode(&url, request.send(value))
    }

    /// `GET /v1/kv/{key}` as JSON: the entry with its metadata, or `None`
    /// when the key does not exist.
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// client.put("bin/blob", &[0xff, 0x00], None, None, Default::default())?;
    /// let entry = client.entry("bin/blob")?.expect("just written");
    /// // Bytes that are not UTF-8 come as base64, and say so.
    /// assert_eq!((entry.value.as_str(), entry.encoding.as_str()), ("/wA=", "base64"));
    /// assert_eq!(entry.create_rev, entry.mod_rev);
    /// assert!(client.entry("missing")?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn entry(&self, key: &str) -> Result<Option<KvEntry>> {
        let url = self.url(&key_path(key));
        let result = self.read(&url).header("accept", "application/json").call();
        not_found_as_none(decode(&url, result))
    }

    /// `DELETE /v1/kv/{key}` if `condition` holds; `None` when the key did
    /// not exist.
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// use kv_core::command::Condition;
    ///
    /// let put = client.put("lock", b"me", None, None, Condition::Absent)?;
    /// // Release the lock only if it is still the one we took.
    /// assert!(client.delete("lock", Condition::ModRev(put.rev))?.is_some());
    /// assert!(client.delete("lock", Condition::Always)?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn delete(&self, key: &str, condition: Condition) -> Result<Option<DeleteResponse>> {
        let url = self.url(&key_path(key));
        let request = self.agent.delete(&url);
        let request = match condition_header(condition) {
            Some((name, value)) => request.header(name, value),
            None => request,
        };
        not_found_as_none(decode(&url, request.call()))
    }

    /// `GET /v1/kv?prefix=`: one page of keys after `start_after`, in
    /// order; follow `next` for the rest.
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// for n in 0..5 {
    ///     client.set(&format!("users/{n}"), "x")?;
    /// }
    /// let mut keys = Vec::new();
    /// let mut after = None;
    /// loop {
    ///     let page = client.list("users/", after.as_deref(), Some(2), true)?;
    ///     keys.extend(page.entries.into_iter().map(|entry| entry.key));
    ///     match page.next {
    ///         Some(next) => after = Some(next),
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(keys, ["users/0", "users/1", "users/2", "users/3", "users/4"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: Option<usize>,
        keys_only: bool,
    ) -> Result<ListResponse> {
        let url = self.url("/v1/kv");
        let mut request = self.read(&url).query("prefix", prefix);
        if let Some(after) = start_after {
            request = request.query("start_after", after);
        }
        if let Some(limit) = limit {
            request = request.query("limit", limit.to_string());
        }
        if keys_only {
            request = request.query("keys_only", "true");
        }
        decode(&url, request.call())
    }

    /// `DELETE /v1/kv?prefix=`: removes every key under `prefix` (`all`
    /// is required for an empty prefix).
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// client.set("tmp/a", "1")?;
    /// client.set("tmp/b", "2")?;
    /// client.set("keep", "3")?;
    /// assert_eq!(client.delete_prefix("tmp/", false)?.deleted, 2);
    /// assert!(client.get("keep")?.found);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn delete_prefix(&self, prefix: &str, all: bool) -> Result<DeletePrefixResponse> {
        let url = self.url("/v1/kv");
        let mut request = self.agent.delete(&url).query("prefix", prefix);
        if all {
            request = request.query("all", "true");
        }
        decode(&url, request.call())
    }

    /// `POST /v1/txn` with a transaction given as JSON.
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// client.set("stock", "10")?;
    /// let rev = client.entry("stock")?.expect("just set").mod_rev;
    /// // Take one from stock, if nobody changed it meanwhile, and record the order.
    /// let answer = client.txn(&serde_json::json!({
    ///     "compare": [{"key": "stock", "target": "mod_rev", "op": "==", "value": rev}],
    ///     "success": [{"put": {"key": "stock", "value": "9"}},
    ///                 {"put": {"key": "orders/1", "value": "1"}}],
    ///     "failure": [{"get": {"key": "stock"}}],
    /// }))?;
    /// assert!(answer.succeeded);
    /// assert_eq!(client.get("stock")?.inserted_val.as_deref(), Some("9"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn txn(&self, txn: &serde_json::Value) -> Result<TxnResponse> {
        let url = self.url("/v1/txn");
        decode(&url, self.agent.post(&url).send_json(txn))
    }

    /// `GET /v1/watch`: a stream of changes from revision `from`
    /// (inclusive; only new changes when `None`). The request has no
    /// overall time limit.
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// use kv_client::watch::{WatchItem, WatchParams};
    ///
    /// let first = client.put("jobs/1", b"queued", None, None, Default::default())?;
    /// client.set("other", "x")?;
    /// client.set("jobs/1", "running")?;
    /// // Everything under jobs/ since the first write, as it happened.
    /// let params = WatchParams { prefix: Some("jobs/".into()), ..Default::default() };
    /// let mut seen = Vec::new();
    /// for item in client.watch(&params, Some(first.rev))? {
    ///     if let WatchItem::Event(event) = item? {
    ///         seen.push(event.val.unwrap_or_default());
    ///         if seen.len() == 2 {
    ///             break;
    ///         }
    ///     }
    /// }
    /// assert_eq!(seen, ["queued", "running"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`]; [`ClientError::Gone`] when `from` is older than
    /// the server keeps.
    pub fn watch(&self, params: &WatchParams, from: Option<u64>) -> Result<WatchStream> {
        let url = self.url("/v1/watch");
        let mut request = self.agent.get(&url);
        for (name, value) in params.query() {
            request = request.query(name, value);
        }
        if let Some(from) = from {
            request = request.query("from_rev", from.to_string());
        }
        let result = request.config().timeout_recv_body(None).build().call();
        let response = result.map_err(|e| unreachable(&url, &e))?;
        if !response.status().is_success() {
            return decode::<serde_json::Value>(&url, Ok(response)).and_then(|_| {
                Err(ClientError::Protocol {
                    url,
                    detail: "an error status with a success body".into(),
                })
            });
        }
        Ok(WatchStream::new(Box::new(
            response.into_body().into_reader(),
        )))
    }
}

/// The HTTP header that expresses `condition`.
fn condition_header(condition: Condition) -> Option<(&'static str, String)> {
    match condition {
        Condition::Always => None,
        Condition::Absent => Some(("if-none-match", "*".into())),
        Condition::Exists => Some(("if-match", "*".into())),
        Condition::ModRev(rev) => Some(("if-match", format!("\"{rev}\""))),
    }
}

/// A 404 `key_not_found` as `None`.
fn not_found_as_none<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ClientError::Server {
            status: 404, code, ..
        }) if code == "key_not_found" => Ok(None),
        Err(e) => Err(e),
    }
}
