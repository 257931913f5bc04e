//! [`run`]: serve a bound listener until a shutdown signal, then drain.

use std::future::Future;
use std::io;
use std::net::TcpListener;

use actix_web::middleware::Logger;
use actix_web::{web, App, HttpServer};
use log::info;

use crate::config::Config;
use crate::routes;
use crate::state::AppState;

/// Log target of the access log (one line per request at `info`).
pub const ACCESS_LOG_TARGET: &str = "kv_server::access";

/// Serves `listener` with `state` until `shutdown` resolves, then stops
/// accepting connections, lets in-flight requests finish (up to the
/// configured timeout), commits what the writer has queued, syncs the log,
/// and returns.
///
/// # Errors
///
/// The HTTP server could not be started.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    config: Config,
    shutdown: impl Future<Output = ()> + 'static,
) -> io::Result<()> {
    let state = web::Data::new(state);
    let app_state = state.clone();
    let app_config = config.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(Logger::default().log_target(ACCESS_LOG_TARGET))
            .app_data(app_state.clone())
            .configure(|cfg| routes::configure(cfg, &app_config))
    })
    .disable_signals()
    .shutdown_timeout(config.shutdown_timeout);
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    let server = server.listen(listener)?.run();
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
