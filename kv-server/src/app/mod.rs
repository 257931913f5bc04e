//! [`run`]: serve a bound listener until a shutdown signal, then drain;
//! [`ServerBuilder`] starts it on a thread of its own, with its data loaded
//! in the background, and hands back a [`RunningServer`].
//!
//! The server is assembled from actix's parts rather than `HttpServer`, so
//! that every connection passes through the [`Gate`] (which gives every
//! refusal of a request head the JSON error shape, and lets a handler tune
//! its socket) between the socket (or TLS) and the HTTP layer.
//!
//! - `embedded.rs`: [`ServerBuilder`], the settings and the start.
//! - `running.rs`: [`RunningServer`], the handle: address, readiness,
//!   graceful shutdown.
//! - `start_error.rs`: [`StartError`].
//! - `tls.rs`: the rustls configuration from the PEM files.

mod embedded;
mod running;
mod start_error;
mod tls;

pub use embedded::ServerBuilder;
pub use running::RunningServer;
pub use start_error::StartError;

use std::future::Future;
use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_http::{HttpService, KeepAlive, Protocol};
use actix_server::Server;
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt as _};
use actix_web::dev::AppConfig;
use actix_web::middleware::{from_fn, Condition, Logger};
use actix_web::rt::net::TcpStream;
use actix_web::{web, App};
use log::info;

use crate::auth::Authenticator;
use crate::commit::scheduling::WorkerScheduling;
use crate::config::Config;
use crate::http::gate::{ConnectionHandle, Gate, GateSettings, OnTcp};
use crate::http::middleware::track;
use crate::observe::metrics::Metrics;
use crate::service::context::ServerContext;

/// How long to let the accept thread stop accepting before the workers
/// stop, at shutdown.
const ACCEPT_PAUSE_GRACE: Duration = Duration::from_millis(100);
/// How long a closing connection may take to be shut down cleanly.
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Log target of the access log (one line per request at `info`, with
/// `--access-log`).
pub const ACCESS_LOG_TARGET: &str = "kv_server::access";

/// Serves `listener` with `shared` until `shutdown` resolves, then stops
/// accepting connections, lets in-flight requests finish (up to the
/// configured timeout), commits what the writer has queued, syncs the log,
/// and returns. Until [`ServerContext::attach`] gives it the loaded state, requests
/// wait for it (see [`crate::service::context`]).
///
/// Serves HTTPS with `tls` (see [`crate::app::tls::server_config`]), HTTP without.
///
/// # Errors
///
/// The HTTP server could not be started.
pub async fn run(
    listener: TcpListener,
    shared: web::Data<ServerContext>,
    config: Config,
    tls: Option<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + 'static,
) -> io::Result<()> {
    let server = build(listener, &shared, &config, tls)?.run();
    let handle = server.handle();
    let stopping = shared.clone();
    actix_web::rt::spawn(async move {
        shutdown.await;
        info!("shutdown requested: finishing in-flight requests, ending watch streams");
        if let Some(state) = stopping.state() {
            state.begin_shutdown();
        }
        // Stop accepting before the workers stop: actix stops both at
        // once, and the accept thread hands a few last connections to
        // workers that are already gone, which drops them unanswered. With
        // the socket held across restarts (LISTEN_FDS), connections left
        // unaccepted wait for the next server instead. `pause` returns
        // before the accept thread has acted on it, hence the short wait.
        handle.pause().await;
        actix_web::rt::time::sleep(ACCEPT_PAUSE_GRACE).await;
        handle.stop(true).await;
    });
    server.await?;
    if let Some(state) = shared.state() {
        state.shutdown().await;
    }
    info!("stopped cleanly");
    Ok(())
}

/// The server on `listener`: its workers, each connection (through TLS
/// when given) gated and served by the HTTP layer.
fn build(
    listener: TcpListener,
    shared: &web::Data<ServerContext>,
    config: &Config,
    tls: Option<rustls::ServerConfig>,
) -> io::Result<actix_server::ServerBuilder> {
    let workers = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let builder = Server::build()
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(config.shutdown_timeout)
        // The limit is per worker in actix; ours is for the whole server.
        .max_concurrent_connections(config.max_connections.div_ceil(workers).max(1));
    let parts = Parts {
        shared: shared.clone(),
        config: config.clone(),
        gate: GateSettings {
            max_head_bytes: config.max_header_bytes,
            head_timeout: config.header_timeout(),
        },
        graceful: Arc::new(builder.graceful_shutdown_signal()),
        access_log: access_log(config),
    };
    let name = format!("kv-store-{}", listener.local_addr()?);
    let nodelay = || {
        fn_service(|io: TcpStream| async move {
            let _ = io.set_nodelay(true);
            Ok::<_, io::Error>(io)
        })
    };
    match tls {
        None => builder.listen(name, listener, move || {
            parts.worker_start();
            nodelay().and_then(parts.http_service())
        }),
        Some(tls) => {
            let acceptor = actix_tls::accept::rustls_0_23::Acceptor::new(tls);
            builder.listen(name, listener, move || {
                parts.worker_start();
                let tls = acceptor
                    .clone()
                    .map_err(|e| io::Error::other(e.to_string()));
                nodelay().and_then(tls).and_then(parts.http_service())
            })
        }
    }
}

/// Whether to write the access log: only with `--access-log` (it costs
/// about a third of the read throughput), and only when the log level lets
/// its lines through (it formats every request even when they would be
/// filtered out).
fn access_log(config: &Config) -> bool {
    let shown = log::log_enabled!(target: ACCESS_LOG_TARGET, log::Level::Info);
    if config.access_log && !shown {
        log::warn!(
            "--access-log is set but the log level hides its lines: \
             set RUST_LOG=info (or {ACCESS_LOG_TARGET}=info)"
        );
    }
    config.access_log && shown
}

/// What every request can reach from the moment the server listens: the
/// tokens, the metrics (labelling requests with the route table's names),
/// and, once recovery attaches it, the service.
pub fn context(auth: Authenticator, config: &Config) -> ServerContext {
    ServerContext::new(
        auth,
        Metrics::new(crate::http::ROUTE_NAMES),
        config.recovery_wait(),
    )
    .replicated(config.cluster.is_some())
}

/// What each worker's service is built from.
#[derive(Clone)]
struct Parts {
    shared: web::Data<ServerContext>,
    config: Config,
    gate: GateSettings,
    graceful: Arc<actix_server::GracefulShutdownSignal>,
    access_log: bool,
}

impl Parts {
    /// Runs once on each worker thread as it starts.
    fn worker_start(&self) {
        let scheduling: WorkerScheduling = self.config.worker_scheduling;
        scheduling.apply_to_current_thread();
    }

    /// The HTTP/1 service for one worker, on gated streams of `T`.
    fn http_service<T>(
        &self,
    ) -> impl actix_service::ServiceFactory<
        T,
        Config = (),
        Response = (),
        Error = io::Error,
        InitError = (),
    >
    where
        T: OnTcp + actix_codec::AsyncRead + actix_codec::AsyncWrite + Unpin + 'static,
    {
        let gate = self.gate;
        let config = self.config.clone();
        let shared = self.shared.clone();
        let access_log = self.access_log;
        let app = App::new()
            .wrap(from_fn(track))
            .wrap(Condition::new(
                access_log,
                Logger::default().log_target(ACCESS_LOG_TARGET),
            ))
            .app_data(shared)
            .configure(move |cfg| crate::http::configure(cfg, &config));
        let graceful = Arc::clone(&self.graceful);
        let service = HttpService::build()
            .keep_alive(match self.config.keep_alive_secs {
                0 => KeepAlive::Disabled,
                secs => KeepAlive::Timeout(Duration::from_secs(secs)),
            })
            // The gate times request heads out, with a JSON answer.
            .client_request_timeout(Duration::ZERO)
            .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
            .h1_allow_half_closed(true)
            .graceful_shutdown_signal(move || {
                let graceful = Arc::clone(&graceful);
                async move { graceful.notified().await }
            })
            .on_connect_ext(|io: &Gate<T>, data: &mut actix_http::Extensions| {
                data.insert::<Arc<ConnectionHandle>>(io.handle());
            })
            .finish(map_config(app.into_factory(), |()| AppConfig::default()));
        fn_service(move |io: T| async move {
            let peer = io.tcp().peer_addr().ok();
            Ok::<_, io::Error>((Gate::new(io, gate), Protocol::Http1, peer))
        })
        .and_then(service.map_err(|e| io::Error::other(e.to_string())))
    }
}
