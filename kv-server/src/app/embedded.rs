//! [`ServerBuilder`]: a server started from a program or a test, serving on
//! threads of its own, and stopped through its [`RunningServer`] handle.
//! The `server` binary starts through it too.
//!
//! Starting checks the settings that can fail (tokens, protected mode, TLS)
//! before anything long, listens, then loads the data on a recovery thread
//! while the server's thread already accepts connections: requests wait
//! for the data, as after a restart of the binary.

use std::fmt;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::web::Data;
use kv_core::address::ServerAddr;
use log::{info, warn};

use crate::app::running::{Lifecycle, RunningServer};
use crate::app::start_error::StartError;
use crate::app::{context, run, tls};
use crate::config::Config;
use crate::service::context::ServerContext;
use crate::service::Service;

/// A future that stops the server when it resolves.
type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Settings for a server to start in this process.
///
/// [`new`](Self::new) starts from an in-memory server on `127.0.0.1:0` (a
/// free port) with every other setting at its default
/// ([`Config::defaults`]); [`from_config`](Self::from_config) from any
/// [`Config`].
///
/// ```
/// use kv_server::ServerBuilder;
///
/// let server = ServerBuilder::new()
///     .configure(|config| config.max_batch = 64)
///     .start()?;
/// println!("serving {}", server.url());
/// server.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ServerBuilder {
    config: Config,
    listener: Option<TcpListener>,
    stop_on: Option<StopSignal>,
}

impl ServerBuilder {
    /// An in-memory server on `127.0.0.1:0`, every other setting at its
    /// default. Reads no environment variable.
    pub fn new() -> Self {
        let mut config = Config::defaults();
        config.in_memory = true;
        Self::from_config(config).addr(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// A server with exactly these settings, as the `server` binary would
    /// run with them (only [`Config::command`] is not looked at).
    pub fn from_config(config: Config) -> Self {
        Self {
            config,
            listener: None,
            stop_on: None,
        }
    }

    /// Listens on `addr`; port 0 picks a free port
    /// ([`RunningServer::addr`] tells which). Without a token, only a
    /// loopback address is served (protected mode).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        let host = match addr {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        };
        self.config.host = ServerAddr {
            scheme: "http",
            host,
            port: addr.port(),
        };
        self
    }

    /// Keeps everything in memory: nothing survives the server.
    pub fn in_memory(mut self) -> Self {
        self.config.in_memory = true;
        self
    }

    /// Keeps the data in `dir` (created if missing, locked while the server
    /// runs), recovered from it at start.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.data_dir = dir.into();
        self.config.in_memory = false;
        self
    }

    /// Changes any other setting.
    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// Serves `listener`, already bound (such as a socket a service manager
    /// passed), instead of listening on the configured address.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Also stops the server gracefully when `signal` resolves (the binary
    /// passes SIGINT and SIGTERM); [`RunningServer::wait`] waits for it. It
    /// is polled on the server's thread, in its async runtime.
    pub fn shutdown_on(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.stop_on = Some(Box::pin(signal));
        self
    }

    /// Starts the server and waits until its data is loaded.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), and [`StartError::Load`] when the data
    /// cannot be loaded.
    pub fn start(self) -> Result<RunningServer, StartError> {
        let server = self.spawn()?;
        server.wait_ready()?;
        Ok(server)
    }

    /// Starts the server and returns once it listens; the data loads in the
    /// background ([`RunningServer::wait_ready`]) and requests wait for it.
    ///
    /// # Errors
    ///
    /// A setting is refused ([`StartError::Config`]: tokens, TLS files,
    /// protected mode), or the address cannot be listened on
    /// ([`StartError::Io`]).
    pub fn spawn(self) -> Result<RunningServer, StartError> {
        let Self {
            config,
            listener,
            stop_on,
        } = self;
        // Settings that can fail are checked before the (possibly long) recovery.
        let auth = crate::auth::from_config(&config).map_err(StartError::Config)?;
        if auth.enabled() {
            info!("authentication on: {} bearer token(s)", auth.token_count());
        }
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(config.host.authority()).map_err(StartError::io(format!(
                "cannot listen on {}",
                config.host.authority()
            )))?,
        };
        let addr = listener
            .local_addr()
            .map_err(StartError::io("no local address"))?;
        if let Some(refusal) = auth.protected_mode_error(addr, config.insecure_no_auth) {
            return Err(StartError::Config(refusal));
        }
        if config.insecure_no_auth && !auth.enabled() {
            warn!("authentication is off (--insecure-no-auth): anyone who can reach {addr} can read and change every key");
        }
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                Some(tls::server_config(cert, key).map_err(StartError::Config)?)
            }
            _ => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        info!("accepting connections on {scheme}://{addr}; loading data");
        let shared = Data::new(context(auth, &config));
        let lifecycle = Arc::new(Lifecycle::new());
        let serving = Arc::clone(&lifecycle);
        let loading = shared.clone();
        let serve_config = config.clone();
        let thread = std::thread::Builder::new()
            .name("kv-server".into())
            .spawn(move || {
                let stop = async move {
                    let requested = serving.stop_requested();
                    match stop_on {
                        Some(signal) => tokio::select! {
                            () = requested => {}
                            () = signal => {}
                        },
                        None => requested.await,
                    }
                    serving.stopping();
                };
                actix_web::rt::System::new().block_on(run(
                    listener,
                    shared,
                    serve_config,
                    tls,
                    stop,
                ))
            })
            .map_err(StartError::io("cannot start the server thread"))?;
        // Dropped on an error below, the handle stops the server.
        let server = RunningServer::new(addr, scheme, Arc::clone(&lifecycle), thread);
        load_in_background(config, loading, lifecycle, server.url())?;
        Ok(server)
    }
}

/// Recovers the data on a thread of its own and attaches it to `shared`;
/// a load that fails stops the server, and one that finishes after the
/// server began to stop is closed.
fn load_in_background(
    config: Config,
    shared: Data<ServerContext>,
    lifecycle: Arc<Lifecycle>,
    url: String,
) -> Result<(), StartError> {
    std::thread::Builder::new()
        .name("kv-recovery".into())
        .spawn(move || match Service::open(&config) {
            Ok(service) => match lifecycle.loaded(&shared, service) {
                None => info!("ready on {url}"),
                Some(unserved) => actix_web::rt::System::new().block_on(unserved.shutdown()),
            },
            Err(e) => lifecycle.failed(e),
        })
        .map(drop)
        .map_err(StartError::io("cannot start the recovery thread"))
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("listener", &self.listener)
            .field("shutdown_on", &self.stop_on.is_some())
            .finish()
    }
}
