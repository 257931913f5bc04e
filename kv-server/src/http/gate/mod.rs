//! [`Gate`]: every connection's bytes pass through it on their way to the
//! HTTP layer, so that every refusal of a request head gets the JSON error
//! shape, and so that a handler can tune its connection's socket.
//!
//! The HTTP layer (actix-http) answers some requests itself with a bare
//! status and no body: a head over its 128 KiB ceiling or with more than 96
//! headers (431), a malformed head or one it will not accept (400), a head
//! that does not arrive in time (408). The gate holds each head back until
//! it is complete and checks it first ([`crate::http::gate::request_head::inspect`]),
//! with our own limit on its size and time. A head it refuses never reaches
//! the HTTP layer: in its place the gate hands on a short request for
//! [`REFUSED_PATH`] and records the refusal on the connection, and the
//! application answers that request with the JSON error and closes the
//! connection. Bodies pass through as they come; the gate follows their
//! framing (`Content-Length` or chunked) to know where the next head
//! starts. If the framing turns out malformed, the gate stops looking and
//! lets the rest through as it is.
//!
//! Each connection has a [`ConnectionHandle`] in its connection data
//! (`HttpRequest::conn_data`): a watch stream asks through it that the
//! kernel queue little unsent data on its socket (`TCP_NOTSENT_LOWAT`), so
//! that a watcher that stops reading fills the server's own budgeted buffer
//! instead of megabytes of kernel memory.

pub mod chunked_body;
pub mod request_head;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_codec::{AsyncRead, AsyncWrite, ReadBuf};
use actix_web::rt::net::TcpStream;
use actix_web::web::{Bytes, BytesMut};
use tokio::time::{sleep, Sleep};

use crate::http::gate::chunked_body::ChunkedBody;
use crate::http::gate::request_head::{inspect, Framing, Head, Refusal};

/// The path of the request the gate hands on in place of a refused head.
pub const REFUSED_PATH: &str = "/.kv-gate/refused";

/// What the HTTP layer reads in place of a refused head.
const REFUSED_REQUEST: &[u8] =
    b"GET /.kv-gate/refused HTTP/1.1\r\nHost: gate\r\nConnection: close\r\n\r\n";

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// The limits every head is held to.
#[derive(Debug, Clone, Copy)]
pub struct GateSettings {
    /// Most bytes of a request line and headers.
    pub max_head_bytes: usize,
    /// Time a client has to send a head: from the connection's start for
    /// the first, from its first byte for later ones.
    pub head_timeout: Duration,
}

/// A connection's side of the gate that handlers reach through
/// `HttpRequest::conn_data::<Arc<ConnectionHandle>>()`.
#[derive(Debug, Default)]
pub struct ConnectionHandle {
    /// `TCP_NOTSENT_LOWAT` wanted on the socket (0: the system default).
    unsent_limit: AtomicU32,
    /// Why the gate refused a head, for the request it put in its place.
    refusal: Mutex<Option<Refusal>>,
}

impl ConnectionHandle {
    /// Asks that the kernel queue at most about `bytes` of data not yet sent
    /// on this connection (on Linux; applied before the next write).
    pub fn limit_unsent(&self, bytes: u32) {
        self.unsent_limit.store(bytes, Ordering::Relaxed);
    }

    /// The refusal the gate recorded, once: for the request at
    /// [`REFUSED_PATH`] it handed on.
    pub fn take_refusal(&self) -> Option<Refusal> {
        self.refusal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// A stream that is a TCP socket underneath (plain, or under TLS).
pub trait OnTcp {
    /// The TCP socket.
    fn tcp(&self) -> &TcpStream;
}

impl OnTcp for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl OnTcp for actix_tls::accept::rustls_0_23::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// Where the gate is in the byte stream.
#[derive(Debug)]
enum State {
    /// Gathering a head.
    Head,
    /// In a body of this many more bytes.
    Length(u64),
    /// In a chunked body.
    Chunked(ChunkedBody),
    /// Not following the stream any more (an upgrade, or framing it could
    /// not follow): everything passes.
    Open,
    /// A head was refused: nothing more is read.
    Refused,
}

/// A connection's stream, gated: see the module documentation.
pub struct Gate<T> {
    io: T,
    handle: Arc<ConnectionHandle>,
    settings: GateSettings,
    state: State,
    /// Read from the socket, not yet handed on.
    held: BytesMut,
    /// Handed on, not yet read by the HTTP layer.
    ready: Bytes,
    /// When the head being gathered is due.
    deadline: Option<Pin<Box<Sleep>>>,
    /// The unsent limit set on the socket.
    applied_limit: u32,
}

impl<T> std::fmt::Debug for Gate<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("state", &self.state)
            .field("held", &self.held.len())
            .finish_non_exhaustive()
    }
}

impl<T> Gate<T> {
    /// Gates `io`; its first head is due within the timeout from now.
    pub fn new(io: T, settings: GateSettings) -> Self {
        Self {
            io,
            handle: Arc::default(),
            settings,
            state: State::Head,
            held: BytesMut::new(),
            ready: Bytes::new(),
            deadline: Some(Box::pin(sleep(settings.head_timeout))),
            applied_limit: 0,
        }
    }

    /// The connection's handle, for its connection data.
    pub fn handle(&self) -> Arc<ConnectionHandle> {
        Arc::clone(&self.handle)
    }

    /// Moves what `held` allows from it to `ready`; whether anything moved
    /// (or the state changed).
    fn release(&mut self) -> bool {
        if self.held.is_empty() {
            return false;
        }
        match &mut self.state {
            State::Head => match inspect(&self.held, self.settings.max_head_bytes) {
                Ok(Head::Partial) => return false,
                Ok(Head::Complete(len, framing)) => {
                    self.ready = self.held.split_to(len).freeze();
                    self.deadline = None;
                    self.state = match framing {
                        Framing::None => State::Head,
                        Framing::Length(n) => State::Length(n),
                        Framing::Chunked => State::Chunked(ChunkedBody::default()),
                        Framing::Upgrade => State::Open,
                    };
                }
                Err(refusal) => self.refuse(refusal),
            },
            State::Length(left) => {
                let take = (*left).min(self.held.len() as u64);
                self.ready = self.held.split_to(take as usize).freeze();
                *left -= take;
                if *left == 0 {
                    self.state = State::Head;
                }
            }
            State::Chunked(body) => match body.advance(&self.held) {
                Ok(Some(end)) => {
                    self.ready = self.held.split_to(end).freeze();
                    self.state = State::Head;
                }
                Ok(None) => self.ready = self.held.split().freeze(),
                Err(_) => {
                    self.ready = self.held.split().freeze();
                    self.state = State::Open;
                }
            },
            State::Open => self.ready = self.held.split().freeze(),
            State::Refused => self.held.clear(),
        }
        true
    }

    /// Hands on the request for [`REFUSED_PATH`] and reads nothing more.
    fn refuse(&mut self, refusal: Refusal) {
        *self
            .handle
            .refusal
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(refusal);
        self.held.clear();
        self.ready = Bytes::from_static(REFUSED_REQUEST);
        self.deadline = None;
        self.state = State::Refused;
    }

    /// Whether the head being gathered is overdue (registering the timer
    /// otherwise).
    fn overdue(&mut self, cx: &mut Context<'_>) -> bool {
        if !matches!(self.state, State::Head) {
            return false;
        }
        if self.deadline.is_none() && !self.held.is_empty() {
            self.deadline = Some(Box::pin(sleep(self.settings.head_timeout)));
        }
        self.deadline
            .as_mut()
            .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready())
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Gate<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                if this.ready.len() <= buf.remaining() {
                    // Taken whole, so that `held`'s buffer is no longer
                    // shared and its next read reuses it.
                    buf.put_slice(&std::mem::take(&mut this.ready));
                } else {
                    buf.put_slice(&this.ready.split_to(buf.remaining()));
                }
                return Poll::Ready(Ok(()));
            }
            if this.release() {
                continue;
            }
            match this.state {
                // The HTTP layer answers the refusal and closes.
                State::Refused => return Poll::Pending,
                State::Open => return Pin::new(&mut this.io).poll_read(cx, buf),
                _ => {}
            }
            if this.overdue(cx) {
                this.refuse(Refusal::timed_out(format!(
                    "the request line and headers did not arrive within {} ms \
                     (--header-timeout-ms)",
                    this.settings.head_timeout.as_millis()
                )));
                continue;
            }
            this.held.reserve(READ_CHUNK);
            match actix_codec::poll_read_buf(Pin::new(&mut this.io), cx, &mut this.held) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // The end: what is held (a partial head) goes on as it is.
                Poll::Ready(Ok(0)) => {
                    this.state = State::Open;
                    if this.held.is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Ok(_)) => {}
            }
        }
    }
}

impl<T: AsyncWrite + OnTcp + Unpin> Gate<T> {
    /// Applies the unsent limit a handler asked for, once it changes.
    fn tune(&mut self) {
        let wanted = self.handle.unsent_limit.load(Ordering::Relaxed);
        if wanted == self.applied_limit {
            return;
        }
        self.applied_limit = wanted;
        #[cfg(target_os = "linux")]
        if let Err(e) = socket2::SockRef::from(self.io.tcp()).set_tcp_notsent_lowat(wanted) {
            log::debug!("cannot set TCP_NOTSENT_LOWAT: {e}");
        }
    }
}

impl<T: AsyncWrite + OnTcp + Unpin> AsyncWrite for Gate<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.tune();
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.tune();
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
