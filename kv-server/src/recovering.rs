//! Answers on the listening socket while the data is being recovered, so
//! that probes see a live process that is not ready yet instead of a
//! refused connection: `GET /healthz` 200, everything else (`/readyz`
//! included) 503 `recovering` with `Retry-After: 1`.

use std::io;
use std::net::TcpListener;
use std::sync::mpsc;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpResponse, HttpServer};
use kv_core::api::{ErrorBody, ErrorDetail, ProbeResponse};
use log::warn;

use crate::handlers;

async fn recovering() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((header::RETRY_AFTER, "1"))
        .json(ErrorBody {
            error: ErrorDetail {
                code: "recovering".into(),
                message: "the server is loading its data; retry shortly".into(),
                oldest_rev: None,
                mod_rev: None,
                rev: None,
            },
        })
}

async fn readyz() -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(ProbeResponse {
        status: "recovering".into(),
        reason: Some("the server is loading its data".into()),
    })
}

/// Runs `work` (the recovery) while a one-worker server answers on a copy
/// of `listener`; stops that server when `work` returns. Connections that
/// arrive as it stops wait in the listen backlog for the real server.
///
/// # Errors
///
/// The listener could not be copied; a failure to start the interim
/// server is logged and recovery goes on without it.
pub fn serve_while<T>(
    listener: &TcpListener,
    tls: Option<rustls::ServerConfig>,
    work: impl FnOnce() -> T,
) -> io::Result<T> {
    let copy = listener.try_clone()?;
    let (handle_tx, handle_rx) = mpsc::channel::<ServerHandle>();
    let thread = std::thread::Builder::new()
        .name("kv-recovering".into())
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(|| {
                    App::new()
                        .route("/healthz", web::get().to(handlers::healthz))
                        .route("/readyz", web::get().to(readyz))
                        .default_service(web::to(recovering))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(1);
                let server = match tls {
                    Some(tls) => server.listen_rustls_0_23(copy, tls),
                    None => server.listen(copy),
                };
                match server {
                    Ok(server) => {
                        let server = server.run();
                        let _ = handle_tx.send(server.handle());
                        let _ = server.await;
                    }
                    Err(e) => warn!("cannot answer probes during recovery: {e}"),
                }
            });
        })?;
    let result = work();
    if let Ok(handle) = handle_rx.recv() {
        actix_web::rt::System::new().block_on(handle.stop(false));
    }
    let _ = thread.join();
    Ok(result)
}
