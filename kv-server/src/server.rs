//! [`run`]: serve a bound listener until a shutdown signal, then drain.

use std::future::Future;
use std::io;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::http::KeepAlive;
use actix_web::middleware::{from_fn, Condition, Logger};
use actix_web::{web, App, HttpServer};
use log::info;

use crate::config::Config;
use crate::startup::Shared;
use crate::{metrics, request_head, routes};

/// How long to let the accept thread stop accepting before the workers
/// stop, at shutdown.
const ACCEPT_PAUSE_GRACE: Duration = Duration::from_millis(100);

/// Log target of the access log (one line per request at `info`).
pub const ACCESS_LOG_TARGET: &str = "kv_server::access";

/// Serves `listener` with `shared` until `shutdown` resolves, then stops
/// accepting connections, lets in-flight requests finish (up to the
/// configured timeout), commits what the writer has queued, syncs the log,
/// and returns. Until [`Shared::attach`] gives it the loaded state, requests
/// wait for it (see [`crate::startup`]).
///
/// Serves HTTPS with `tls` (see [`crate::tls::server_config`]), HTTP without.
///
/// # Errors
///
/// The HTTP server could not be started.
pub async fn run(
    listener: TcpListener,
    shared: web::Data<Shared>,
    config: Config,
    tls: Option<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + 'static,
) -> io::Result<()> {
    let app_state = shared.clone();
    let app_config = config.clone();
    let max_head = config.max_header_bytes;
    // The access log formats every request even when its lines would be
    // filtered out; leave it out when its level is off (RUST_LOG=warn).
    let access_log = log::log_enabled!(target: ACCESS_LOG_TARGET, log::Level::Info);
    let scheduling = config.worker_scheduling;
    // The factory runs once on each worker thread as it starts.
    let mut server = HttpServer::new(move || {
        scheduling.apply_to_current_thread();
        App::new()
            .wrap(from_fn(move |request, next| {
                request_head::limit_head(max_head, request, next)
            }))
            .wrap(from_fn(metrics::track))
            .wrap(Condition::new(
                access_log,
                Logger::default().log_target(ACCESS_LOG_TARGET),
            ))
            .app_data(app_state.clone())
            .configure(|cfg| routes::configure(cfg, &app_config))
    })
    .disable_signals()
    .shutdown_timeout(config.shutdown_timeout)
    .client_request_timeout(config.header_timeout())
    .keep_alive(match config.keep_alive_secs {
        0 => KeepAlive::Disabled,
        secs => KeepAlive::Timeout(Duration::from_secs(secs)),
    });
    let workers = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // The limit is per worker in actix; ours is for the whole server.
    server = server
        .workers(workers)
        .max_connections(config.max_connections.div_ceil(workers).max(1));
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    }
    .run();
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
