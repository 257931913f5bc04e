//! [`RunningServer`]: the handle on a server started by
//! [`ServerBuilder`](crate::ServerBuilder): its address, whether its data is
//! loaded, and its graceful shutdown. And [`Lifecycle`], where the server
//! is between loading and stopping, which the handle, the recovery thread
//! and the server's thread share.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::watch;

use crate::app::start_error::StartError;
use crate::service::context::ServerContext;
use crate::service::Service;
use crate::storage::StorageError;

/// A server running on threads of its own in this process. Dropping it
/// shuts the server down as [`shutdown`](Self::shutdown) does, ignoring
/// errors.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    scheme: &'static str,
    lifecycle: Arc<Lifecycle>,
    /// The thread that serves; `None` once joined.
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl RunningServer {
    pub(crate) fn new(
        addr: SocketAddr,
        scheme: &'static str,
        lifecycle: Arc<Lifecycle>,
        thread: JoinHandle<io::Result<()>>,
    ) -> Self {
        Self {
            addr,
            scheme,
            lifecycle,
            thread: Some(thread),
        }
    }

    /// The address the server listens on (with its port, when port 0 was
    /// asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's base URL, such as `http://127.0.0.1:41234` (`https`
    /// with TLS): what [`kv_core::address::ServerAddr`] parses.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Waits until the data is loaded (at once after
    /// [`ServerBuilder::start`](crate::ServerBuilder::start)). Requests
    /// that arrive before wait for it too.
    ///
    /// # Errors
    ///
    /// [`StartError::Load`] (once) when the data could not be loaded: the
    /// server is then stopping. [`StartError::Stopped`] when the server
    /// stopped before its data was loaded.
    pub fn wait_ready(&self) -> Result<(), StartError> {
        self.lifecycle.wait_ready()
    }

    /// Shuts the server down gracefully and waits until it has: it stops
    /// accepting connections, lets requests in flight finish (up to
    /// [`Config::shutdown_timeout`](crate::Config::shutdown_timeout)
    /// seconds), ends watch streams, commits what the writer has queued,
    /// syncs the log and releases the data directory.
    ///
    /// If the data is still loading, the load finishes in the background
    /// and is then closed without being served.
    ///
    /// # Errors
    ///
    /// The HTTP server failed.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.lifecycle.request_stop();
        self.join()
    }

    /// Waits until the server stops by itself: when the future given to
    /// [`ServerBuilder::shutdown_on`](crate::ServerBuilder::shutdown_on)
    /// resolves, or its data could not be loaded. Then as
    /// [`shutdown`](Self::shutdown).
    ///
    /// # Errors
    ///
    /// The HTTP server failed.
    pub fn wait(mut self) -> io::Result<()> {
        self.join()
    }

    fn join(&mut self) -> io::Result<()> {
        match self.thread.take() {
            None => Ok(()),
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the server thread panicked"))),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.lifecycle.request_stop();
            let _ = self.join();
        }
    }
}

/// Where a started server is.
#[derive(Debug)]
enum Phase {
    /// Listening; the data is being loaded.
    Loading,
    /// The data is loaded and served.
    Ready,
    /// The data could not be loaded (until the handle reports it).
    Failed(StorageError),
    /// Stopping, or stopped, before the data was loaded.
    Stopping,
}

/// The phase of a started server, and the request to stop it. A load that
/// finishes after the stop began is closed rather than served: the phase
/// decides, under its lock, which of the two happens.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    phase: Mutex<Phase>,
    changed: Condvar,
    stop: watch::Sender<bool>,
}

impl Lifecycle {
    /// Loading, with no stop requested.
    pub(crate) fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::Loading),
            changed: Condvar::new(),
            stop: watch::Sender::new(false),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        // Every change of the phase is one assignment: nothing half-done.
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, mut phase: MutexGuard<'_, Phase>, next: Phase) {
        *phase = next;
        self.changed.notify_all();
    }

    /// Asks the server to stop. Calling it again does nothing.
    pub(crate) fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Resolves once a stop is requested.
    pub(crate) async fn stop_requested(&self) {
        let mut stop = self.stop.subscribe();
        // Fails only if the sender is gone, and `self` holds it.
        let _ = stop.wait_for(|stop| *stop).await;
    }

    /// The server has begun to stop: a load still running is not served.
    pub(crate) fn stopping(&self) {
        let phase = self.phase();
        if matches!(*phase, Phase::Loading) {
            self.set(phase, Phase::Stopping);
        }
    }

    /// The data is loaded: attaches it to `shared`, unless the server has
    /// begun to stop, in which case it is handed back to be closed.
    pub(crate) fn loaded(&self, shared: &ServerContext, service: Service) -> Option<Service> {
        let phase = self.phase();
        if !matches!(*phase, Phase::Loading) {
            return Some(service);
        }
        shared.attach(service);
        self.set(phase, Phase::Ready);
        None
    }

    /// The data could not be loaded: the server stops.
    pub(crate) fn failed(&self, error: StorageError) {
        let phase = self.phase();
        if matches!(*phase, Phase::Loading) {
            self.set(phase, Phase::Failed(error));
        }
        self.request_stop();
    }

    fn wait_ready(&self) -> Result<(), StartError> {
        let mut phase = self
            .changed
            .wait_while(self.phase(), |phase| matches!(phase, Phase::Loading))
            .unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *phase, Phase::Stopping) {
            Phase::Ready => {
                *phase = Phase::Ready;
                Ok(())
            }
            Phase::Failed(error) => Err(StartError::Load(error)),
            Phase::Loading | Phase::Stopping => Err(StartError::Stopped),
        }
    }
}
