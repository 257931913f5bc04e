//! Thin HTTP handlers: extract, call [`AppState`], answer. Extraction errors
//! are mapped to [`ServerError`] in [`routes`](crate::routes).

use actix_web::http::header;
use actix_web::web::{Data, Json, Query};
use actix_web::{FromRequest as _, HttpRequest, HttpResponse};
use kv_core::api::{
    ErrorBody, GetQuery, GetResponse, HealthResponse, ProbeResponse, RmRequest, RmResponse,
    SetRequest, SetResponse,
};

use std::sync::Arc;

use crate::api_schemas::{Binary, Key};
use crate::auth::{Principal, Right};
use crate::conn_gate::{ConnectionHandle, REFUSED_PATH};
use crate::error::ServerError;

/// Response header carrying the store revision an answer reflects.
pub const REVISION_HEADER: &str = "X-Kv-Revision";
use crate::startup::{Ready, Shared};

/// `GET /`: the server is up; whether it takes writes; its fsync policy.
#[utoipa::path(get, path = "/", tag = "seed",
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
pub async fn readyz(shared: Data<Shared>) -> HttpResponse {
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

/// `POST /set` -> 201 `{"inserted", "ejected_val", "rev"}`.
#[utoipa::path(post, path = "/set", tag = "seed", request_body = SetRequest,
    responses((status = 201, description = "Stored", body = SetResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 413, description = "Value over --max-value-bytes, or body over twice that",
            body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn set(
    principal: Principal,
    state: Ready,
    body: Json<SetRequest>,
) -> Result<HttpResponse, ServerError> {
    principal.require(Right::Write, &body.key)?;
    let answer = state.set(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(answer))
}

/// `GET /get?key=` -> 200 `{"found", "inserted_val"}`.
#[utoipa::path(get, path = "/get", tag = "seed",
    params(("key" = inline(Key), Query)),
    responses((status = 200, description = "Found or not", body = GetResponse),
        (status = 400, description = "Bad input", body = ErrorBody)))]
pub async fn get(
    principal: Principal,
    state: Ready,
    query: Query<GetQuery>,
) -> Result<Json<GetResponse>, ServerError> {
    principal.require(Right::Read, &query.key)?;
    state.get(&query.key).map(Json)
}

/// `DELETE /rm` -> 200 `{"found", "removed", "ejected_val", "rev"}`.
#[utoipa::path(delete, path = "/rm", tag = "seed", request_body = RmRequest,
    responses((status = 200, description = "Removed or not found", body = RmResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 413, description = "Body over twice --max-value-bytes", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn rm(
    principal: Principal,
    state: Ready,
    body: Json<RmRequest>,
) -> Result<Json<RmResponse>, ServerError> {
    principal.require(Right::Write, &body.key)?;
    state.rm(body.into_inner()).await.map(Json)
}

/// `POST /rm`: the same as `DELETE /rm`, for clients that cannot send a
/// body with DELETE.
#[utoipa::path(post, path = "/rm", tag = "seed", request_body = RmRequest,
    responses((status = 200, description = "Removed or not found", body = RmResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 413, description = "Body over twice --max-value-bytes", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn rm_by_post(
    principal: Principal,
    state: Ready,
    body: Json<RmRequest>,
) -> Result<Json<RmResponse>, ServerError> {
    rm(principal, state, body).await
}

/// Any unknown route -> 404; and the request the connection gate puts in
/// place of a head it refused -> that refusal (see [`crate::conn_gate`]).
pub async fn not_found(request: HttpRequest) -> Result<HttpResponse, ServerError> {
    if request.path() == REFUSED_PATH {
        let refusal = request
            .conn_data::<Arc<ConnectionHandle>>()
            .and_then(|connection| connection.take_refusal());
        if let Some(refusal) = refusal {
            return Err(refusal.into());
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
