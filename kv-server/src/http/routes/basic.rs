//! The original routes: `POST /set`, `GET /get`, `/rm` (DELETE or POST),
//! with their bodies exactly as the original contract has them.

use actix_web::web::{Json, Query};
use actix_web::HttpResponse;
use kv_core::api::{
    ErrorBody, GetQuery, GetResponse, RmRequest, RmResponse, SetRequest, SetResponse,
};

use crate::auth::{Principal, Right};
use crate::error::ServerError;
use crate::http::extract::{IdempotencyKey, Ready};
use crate::http::routes::CONSISTENT;
use crate::http::schemas::Key;

/// `POST /set` -> 201 `{"inserted", "ejected_val", "rev"}`.
#[utoipa::path(post, path = "/set", tag = "basic", request_body = SetRequest,
    responses((status = 201, description = "Stored", body = SetResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 413, description = "Value over --max-value-bytes, or body over twice that",
            body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn set(
    principal: Principal,
    state: Ready,
    idempotency: IdempotencyKey,
    body: Json<SetRequest>,
) -> Result<HttpResponse, ServerError> {
    principal.require(Right::Write, &body.key)?;
    let answer = state.set(body.into_inner(), idempotency.0).await?;
    Ok(HttpResponse::Created().json(answer))
}

/// `GET /get?key=` -> 200 `{"found", "inserted_val"}`.
#[utoipa::path(get, path = "/get", tag = "basic",
    params(("key" = inline(Key), Query),
        ("consistent" = Option<bool>, Query, description = CONSISTENT)),
    responses((status = 200, description = "Found or not", body = GetResponse),
        (status = 400, description = "Bad input", body = ErrorBody)))]
pub async fn get(
    principal: Principal,
    state: Ready,
    query: Query<GetQuery>,
) -> Result<Json<GetResponse>, ServerError> {
    principal.require(Right::Read, &query.key)?;
    if query.consistent {
        state.consistent().await?;
    }
    state.get(&query.key).map(Json)
}

/// `DELETE /rm` -> 200 `{"found", "removed", "ejected_val", "rev"}`.
#[utoipa::path(delete, path = "/rm", tag = "basic", request_body = RmRequest,
    responses((status = 200, description = "Removed or not found", body = RmResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 413, description = "Body over twice --max-value-bytes", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn rm(
    principal: Principal,
    state: Ready,
    idempotency: IdempotencyKey,
    body: Json<RmRequest>,
) -> Result<Json<RmResponse>, ServerError> {
    principal.require(Right::Write, &body.key)?;
    state.rm(body.into_inner(), idempotency.0).await.map(Json)
}

/// `POST /rm`: the same as `DELETE /rm`, for clients that cannot send a
/// body with DELETE.
#[utoipa::path(post, path = "/rm", tag = "basic", request_body = RmRequest,
    responses((status = 200, description = "Removed or not found", body = RmResponse),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 413, description = "Body over twice --max-value-bytes", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn rm_by_post(
    principal: Principal,
    state: Ready,
    idempotency: IdempotencyKey,
    body: Json<RmRequest>,
) -> Result<Json<RmResponse>, ServerError> {
    rm(principal, state, idempotency, body).await
}
