//! Thin HTTP handlers: extract, call [`AppState`], answer. Extraction errors
//! are mapped to [`ServerError`] in [`routes`](crate::routes).

use actix_web::http::header;
use actix_web::web::{Data, Json, Query};
use actix_web::{HttpRequest, HttpResponse};
use kv_core::api::{GetQuery, GetResponse, HealthResponse, RmRequest, RmResponse, SetRequest};

use crate::error::ServerError;

/// Response header carrying the store revision an answer reflects.
pub const REVISION_HEADER: &str = "X-Kv-Revision";
use crate::state::AppState;

/// `GET /`: the server is up; whether it takes writes; its fsync policy.
pub async fn health(state: Data<AppState>) -> Json<HealthResponse> {
    Json(state.health())
}

/// `GET /v1/snapshot`: a consistent backup of the whole store, streamed.
pub async fn snapshot(state: Data<AppState>) -> Result<HttpResponse, ServerError> {
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
pub async fn set(
    state: Data<AppState>,
    body: Json<SetRequest>,
) -> Result<HttpResponse, ServerError> {
    let answer = state.set(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(answer))
}

/// `GET /get?key=` -> 200 `{"found", "inserted_val"}`.
pub async fn get(
    state: Data<AppState>,
    query: Query<GetQuery>,
) -> Result<Json<GetResponse>, ServerError> {
    state.get(&query.key).map(Json)
}

/// `DELETE /rm` or `POST /rm` -> 200 `{"found", "removed", "ejected_val", "rev"}`.
pub async fn rm(
    state: Data<AppState>,
    body: Json<RmRequest>,
) -> Result<Json<RmResponse>, ServerError> {
    state.rm(body.into_inner()).await.map(Json)
}

/// Any unknown route -> 404.
pub async fn not_found(request: HttpRequest) -> Result<HttpResponse, ServerError> {
    Err(ServerError::NotFound(format!(
        "{} {}",
        request.method(),
        request.path()
    )))
}
