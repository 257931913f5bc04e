//! [`Shared`]: what the routes share from the moment the server listens,
//! before its data is loaded, and [`Ready`], the extractor that gives a
//! handler the loaded [`AppState`].
//!
//! The server listens first and recovers its data in the background, so
//! that a restart refuses no connection: `/healthz` answers at once,
//! `/readyz` answers 503 `recovering`, and every other request waits for the
//! data (up to `--recovery-wait-ms`, then 503 `recovering`) and is then
//! served.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use tokio::sync::watch;

use crate::auth::Authenticator;
use crate::error::ServerError;
use crate::metrics::Metrics;
use crate::state::AppState;

/// Shared by every worker from the start: the tokens, the metrics, and the
/// state once recovery has produced it.
#[derive(Debug)]
pub struct Shared {
    state: OnceLock<Arc<AppState>>,
    ready: watch::Sender<bool>,
    auth: Authenticator,
    metrics: Metrics,
    wait: Duration,
}

impl Shared {
    /// Nothing loaded yet; requests wait up to `wait` for [`attach`](Self::attach).
    pub fn new(auth: Authenticator, wait: Duration) -> Self {
        Self {
            state: OnceLock::new(),
            ready: watch::Sender::new(false),
            auth,
            metrics: Metrics::new(),
            wait,
        }
    }

    /// The data is loaded: serve it. Requests waiting for it go on.
    pub fn attach(&self, state: AppState) {
        self.metrics.attach(state.live_state());
        if self.state.set(Arc::new(state)).is_ok() {
            self.ready.send_replace(true);
        }
    }

    /// The loaded state, if recovery has finished.
    pub fn state(&self) -> Option<&Arc<AppState>> {
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
    async fn wait_ready(&self) -> Option<Arc<AppState>> {
        let mut ready = self.ready.subscribe();
        let _ = tokio::time::timeout(self.wait, ready.wait_for(|loaded| *loaded)).await;
        self.state.get().cloned()
    }
}

/// The loaded [`AppState`], for handlers: extraction waits while the data
/// is being recovered. Dereferences to the state.
#[derive(Debug, Clone)]
pub struct Ready(Arc<AppState>);

impl std::ops::Deref for Ready {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.0
    }
}

fn recovering() -> ServerError {
    ServerError::Recovering("the server is still loading its data; retry shortly".into())
}

/// [`Ready`]'s extraction: at once when the data is loaded, else a wait.
pub enum ReadyFuture {
    /// The data was loaded (or the app is misconfigured).
    Now(std::future::Ready<Result<Ready, ServerError>>),
    /// Waiting for recovery.
    Waiting(Pin<Box<dyn Future<Output = Result<Ready, ServerError>>>>),
}

impl std::fmt::Debug for ReadyFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReadyFuture::Now(_) => "ReadyFuture::Now",
            ReadyFuture::Waiting(_) => "ReadyFuture::Waiting",
        })
    }
}

impl Future for ReadyFuture {
    type Output = Result<Ready, ServerError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            ReadyFuture::Now(now) => Pin::new(now).poll(cx),
            ReadyFuture::Waiting(waiting) => waiting.as_mut().poll(cx),
        }
    }
}

impl FromRequest for Ready {
    type Error = ServerError;
    type Future = ReadyFuture;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let Some(shared) = request.app_data::<Data<Shared>>() else {
            return ReadyFuture::Now(std::future::ready(Err(ServerError::Internal(
                "no shared state".into(),
            ))));
        };
        if let Some(state) = shared.state() {
            return ReadyFuture::Now(std::future::ready(Ok(Ready(Arc::clone(state)))));
        }
        let shared = Data::clone(shared);
        ReadyFuture::Waiting(Box::pin(async move {
            shared.wait_ready().await.map(Ready).ok_or_else(recovering)
        }))
    }
}
