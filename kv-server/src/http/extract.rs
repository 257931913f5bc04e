//! The extractors the handlers take: [`Principal`] (who is asking; its
//! token checked before the body is read), [`Ready`] (the loaded
//! service; waits while the data is recovered) and [`IdempotencyKey`] (a
//! write's `Idempotency-Key` header).

use std::future::{ready, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};

use crate::auth::Principal;
use crate::error::ServerError;
use crate::service::context::ServerContext;
use crate::service::Service;

impl FromRequest for Principal {
    type Error = ServerError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let Some(shared) = request.app_data::<Data<ServerContext>>() else {
            return ready(Err(ServerError::Internal("no shared state".into())));
        };
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        ready(shared.auth().authenticate(header))
    }
}

/// The loaded [`Service`], for handlers: extraction waits while the data
/// is being recovered. Dereferences to the state.
#[derive(Debug, Clone)]
pub struct Ready(Arc<Service>);

impl std::ops::Deref for Ready {
    type Target = Service;

    fn deref(&self) -> &Service {
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
        let Some(shared) = request.app_data::<Data<ServerContext>>() else {
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

/// The request header that makes a write safe to retry in replicated mode.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// The longest `Idempotency-Key` accepted, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 128;

/// A write's `Idempotency-Key`, if it has one: 1 to 128 visible ASCII
/// characters (400 otherwise). In replicated mode the write is the log
/// message with that id, so a retry of it (to any server, within two
/// minutes) is committed once and answered with the first one's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub Option<String>);

/// Whether `bytes` make a valid `Idempotency-Key`: 1 to 128 visible ASCII
/// characters (they become a NATS header value in replicated mode).
pub fn is_idempotency_key(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.len() <= MAX_IDEMPOTENCY_KEY_BYTES
        && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

impl FromRequest for IdempotencyKey {
    type Error = ServerError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let Some(value) = request.headers().get(IDEMPOTENCY_KEY_HEADER) else {
            return ready(Ok(IdempotencyKey(None)));
        };
        ready(
            match (is_idempotency_key(value.as_bytes()), value.to_str()) {
                (true, Ok(key)) => Ok(IdempotencyKey(Some(key.to_owned()))),
                _ => Err(ServerError::BadRequest(format!(
                "{IDEMPOTENCY_KEY_HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} visible ASCII \
                 characters"
            ))),
            },
        )
    }
}
