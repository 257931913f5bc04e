//! [`ServerContext`]: what the routes share from the moment the server listens,
//! before its data is loaded, and [`Ready`](crate::http::extract::Ready), the extractor that gives a
//! handler the loaded [`Service`].
//!
//! The server listens first and recovers its data in the background, so
//! that a restart refuses no connection: `/healthz` answers at once,
//! `/readyz` answers 503 `recovering`, and every other request waits for the
//! data (up to `--recovery-wait-ms`, then 503 `recovering`) and is then
//! served.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::auth::Authenticator;
use crate::observe::metrics::Metrics;
use crate::service::Service;

/// ServerContext by every worker from the start: the tokens, the metrics, and the
/// state once recovery has produced it.
#[derive(Debug)]
pub struct ServerContext {
    state: OnceLock<Arc<Service>>,
    ready: watch::Sender<bool>,
    auth: Authenticator,
    metrics: Metrics,
    wait: Duration,
    replicated: bool,
}

impl ServerContext {
    /// Nothing loaded yet; requests wait up to `wait` for [`attach`](Self::attach).
    pub fn new(auth: Authenticator, metrics: Metrics, wait: Duration) -> Self {
        Self {
            state: OnceLock::new(),
            ready: watch::Sender::new(false),
            auth,
            metrics,
            wait,
            replicated: false,
        }
    }

    /// The server runs in replicated mode (`--cluster`): its OpenAPI
    /// document says so.
    pub fn replicated(mut self, replicated: bool) -> Self {
        self.replicated = replicated;
        self
    }

    /// Whether the server runs in replicated mode.
    pub fn is_replicated(&self) -> bool {
        self.replicated
    }

    /// The data is loaded: serve it. Requests waiting for it go on.
    pub fn attach(&self, state: Service) {
        self.metrics.attach(state.live_state());
        if self.state.set(Arc::new(state)).is_ok() {
            self.ready.send_replace(true);
        }
    }

    /// The loaded state, if recovery has finished.
    pub fn state(&self) -> Option<&Arc<Service>> {
        self.state.get()
    }

    /// The configured bearer tokens.
    pub fn auth(&self) -> &Authenticator {
        &self.auth
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Waits until the data is loaded, at most the configured time.
    pub(crate) async fn wait_ready(&self) -> Option<Arc<Service>> {
        let mut ready = self.ready.subscribe();
        let _ = tokio::time::timeout(self.wait, ready.wait_for(|loaded| *loaded)).await;
        self.state.get().cloned()
    }
}
