//! A streamed response body fed through a bounded channel by a blocking
//! thread (a backup), so a large download never sits whole in memory and a
//! slow client slows only its own producer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::mpsc;

/// Chunks in flight between the producer and the connection.
const CHANNEL_CHUNKS: usize = 8;

/// The producer side: an [`io::Write`] for a blocking thread.
#[derive(Debug)]
pub struct BodyWriter {
    chunks: mpsc::Sender<io::Result<Bytes>>,
}

/// The response side: a [`Stream`] of chunks for `HttpResponse::streaming`.
#[derive(Debug)]
pub struct BodyStream {
    chunks: mpsc::Receiver<io::Result<Bytes>>,
}

/// A connected writer and stream.
pub fn body_channel() -> (BodyWriter, BodyStream) {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    (BodyWriter { chunks: tx }, BodyStream { chunks: rx })
}

impl BodyWriter {
    /// Ends the body with an error: the connection is aborted, so the client
    /// sees a failed download, never a short one that looks complete.
    pub fn fail(self, error: io::Error) {
        let _ = self.chunks.blocking_send(Err(error));
    }
}

impl io::Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.chunks
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for BodyStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.chunks.poll_recv(cx)
    }
}
