//! [`run`]: serve a bound listener until a shutdown signal, then drain.

use std::future::Future;
use std::io;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::http::KeepAlive;
use actix_web::middleware::{from_fn, Logger};
use actix_web::{web, App, HttpServer};
use log::info;

use crate::config::Config;
use crate::state::AppState;
use crate::{metrics, request_head, routes, tls};

/// Log target of the access log (one line per request at `info`).
pub const ACCESS_LOG_TARGET: &str = "kv_server::access";

/// Serves `listener` with `state` until `shutdown` resolves, then stops
/// accepting connections, lets in-flight requests finish (up to the
/// configured timeout), commits what the writer has queued, syncs the log,
/// and returns.
///
/// Serves HTTPS when the configuration names a certificate and key.
///
/// # Errors
///
/// The HTTP server could not be started, or the TLS files are unusable.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    config: Config,
    shutdown: impl Future<Output = ()> + 'static,
) -> io::Result<()> {
    let state = web::Data::new(state);
    let app_state = state.clone();
    let app_config = config.clone();
    let max_head = config.max_header_bytes;
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(move |request, next| {
                request_head::limit_head(max_head, request, next)
            }))
            .wrap(from_fn(metrics::track))
            .wrap(Logger::default().log_target(ACCESS_LOG_TARGET))
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
    let server = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = tls::server_config(cert, key).map_err(io::Error::other)?;
            server.listen_rustls_0_23(listener, tls)?
        }
        _ => server.listen(listener)?,
    }
    .run();
    let handle = server.handle();
    let stopping = state.clone();
    actix_web::rt::spawn(async move {
        shutdown.await;
        info!("shutdown requested: finishing in-flight requests, ending watch streams");
        stopping.begin_shutdown();
        handle.stop(true).await;
    });
    server.await?;
    state.shutdown().await;
    info!("stopped cleanly");
    Ok(())
}
