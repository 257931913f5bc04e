//! The operations routes: `GET /` (up, writable), `/healthz` and `/readyz`
//! (probes), `/metrics`, `/v1/snapshot` (a backup), and the answer to any
//! unknown route.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::{Data, Json};
use actix_web::{FromRequest as _, HttpRequest, HttpResponse};
use kv_core::api::{HealthResponse, ProbeResponse, StatusResponse};

use crate::auth::{Principal, Right};
use crate::error::ServerError;
use crate::http::error::refused;
use crate::http::extract::Ready;
use crate::http::gate::{ConnectionHandle, REFUSED_PATH};
use crate::http::headers::REVISION_HEADER;
use crate::http::schemas::Binary;
use crate::observe::metrics::CONTENT_TYPE;
use crate::service::context::ServerContext;

/// `GET /`: the server is up; whether it takes writes; its fsync policy.
#[utoipa::path(get, path = "/", tag = "basic",
    responses((status = 200, description = "Up", body = HealthResponse)))]
pub async fn health(state: Ready) -> Json<HealthResponse> {
    Json(state.health())
}

/// `GET /healthz`: the process is alive and serving HTTP (liveness).
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = ProbeResponse)))]
pub async fn healthz() -> Json<ProbeResponse> {
    Json(ProbeResponse {
        status: "alive".into(),
        reason: None,
    })
}

/// `GET /readyz`: 200 when the server should get traffic; 503 while it
/// recovers its data, shuts down, or refuses writes after a disk error.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = ProbeResponse),
        (status = 503, description = "Not ready, and why", body = ProbeResponse)))]
pub async fn readyz(shared: Data<ServerContext>) -> HttpResponse {
    let readiness = match shared.state() {
        Some(state) => state.readiness(),
        None => Err(ProbeResponse {
            status: "recovering".into(),
            reason: Some("the server is loading its data".into()),
        }),
    };
    match readiness {
        Ok(()) => HttpResponse::Ok().json(ProbeResponse {
            status: "ready".into(),
            reason: None,
        }),
        Err(not_ready) => HttpResponse::ServiceUnavailable().json(not_ready),
    }
}

/// `GET /metrics`. With authentication on, any valid token may read it.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus metrics (OpenMetrics text)",
        body = String, content_type = "application/openmetrics-text")))]
pub async fn metrics(
    _principal: Principal,
    shared: Data<ServerContext>,
) -> Result<HttpResponse, ServerError> {
    let text = shared
        .metrics()
        .encode()
        .map_err(|e| ServerError::Internal(format!("cannot encode metrics: {e}")))?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(text))
}

/// `GET /v1/status`: the state's revision and digest, and in replicated
/// mode where this replica is in the log. Any valid token may read it.
#[utoipa::path(get, path = "/v1/status", tag = "operations",
    responses((status = 200, description = "Where this server's state stands",
        body = StatusResponse)))]
pub async fn status(_principal: Principal, state: Ready) -> Json<StatusResponse> {
    Json(state.status().await)
}

/// `GET /v1/snapshot`: a consistent backup of the whole store, streamed.
#[utoipa::path(get, path = "/v1/snapshot", tag = "operations",
    responses((status = 200, description = "A snapshot file; X-Kv-Revision names its revision",
        body = Binary, content_type = "application/octet-stream")))]
pub async fn snapshot(principal: Principal, state: Ready) -> Result<HttpResponse, ServerError> {
    principal.require(Right::Backup, "")?;
    let (rev, body) = state.backup().await?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((REVISION_HEADER, rev))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"kv-store-{rev}.snap\""),
        ))
        .streaming(body))
}

/// Any unknown route -> 404; and the request the connection gate puts in
/// place of a head it refused -> that refusal (see [`crate::http::gate`]).
pub async fn not_found(request: HttpRequest) -> Result<HttpResponse, ServerError> {
    if request.path() == REFUSED_PATH {
        let refusal = request
            .conn_data::<Arc<ConnectionHandle>>()
            .and_then(|connection| connection.take_refusal());
        if let Some(refusal) = refusal {
            return Err(refused(refusal));
        }
    }
    // Without a valid token, an unknown route is 401 like a known one: an
    // anonymous caller cannot tell which routes exist.
    Principal::extract(&request).await?;
    Err(ServerError::NotFound(format!(
        "{} {}",
        request.method(),
        request.path()
    )))
}
