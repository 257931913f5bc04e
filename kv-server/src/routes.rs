//! The route table, in one function used by [`run`](crate::run) and by tests.

use actix_web::error::{JsonPayloadError, PayloadError, QueryPayloadError};
use actix_web::web::{self, JsonConfig, QueryConfig, ServiceConfig};
use actix_web::HttpRequest;

use crate::config::Config;
use crate::error::ServerError;
use crate::{handlers, kv_routes, list_routes, openapi, txn_routes, watch};

/// Every route `configure` registers, with its methods. Tests check it
/// against the running routes and against `/openapi.json`.
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/", &["GET"]),
    ("/set", &["POST"]),
    ("/get", &["GET"]),
    ("/rm", &["DELETE", "POST"]),
    ("/openapi.json", &["GET"]),
    ("/v1/snapshot", &["GET"]),
    ("/v1/kv", &["GET", "DELETE"]),
    ("/v1/kv/{key}", &["GET", "PUT", "DELETE"]),
    ("/v1/txn", &["POST"]),
    ("/v1/watch", &["GET"]),
];

/// Registers every route, the body limits and the JSON error mapping.
pub fn configure(cfg: &mut ServiceConfig, config: &Config) {
    cfg.app_data(
        JsonConfig::default()
            .limit(config.max_body_bytes())
            .error_handler(json_error),
    )
    .app_data(QueryConfig::default().error_handler(query_error))
    .service(
        web::resource("/")
            .route(web::get().to(handlers::health))
            .default_service(web::to(|| method_not_allowed("GET"))),
    )
    .service(
        web::resource("/set")
            .route(web::post().to(handlers::set))
            .default_service(web::to(|| method_not_allowed("POST"))),
    )
    .service(
        web::resource("/get")
            .route(web::get().to(handlers::get))
            .default_service(web::to(|| method_not_allowed("GET"))),
    )
    .service(
        web::resource("/rm")
            .route(web::delete().to(handlers::rm))
            .route(web::post().to(handlers::rm_by_post))
            .default_service(web::to(|| method_not_allowed("DELETE, POST"))),
    )
    .service(
        web::resource("/openapi.json")
            .route(web::get().to(openapi::openapi_json))
            .default_service(web::to(|| method_not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/snapshot")
            .route(web::get().to(handlers::snapshot))
            .default_service(web::to(|| method_not_allowed("GET"))),
    )
    .service(
        web::resource("/v1/kv")
            .route(web::get().to(list_routes::list))
            .route(web::delete().to(list_routes::delete_prefix))
            .default_service(web::to(|| method_not_allowed("GET, DELETE"))),
    )
    .service(
        web::resource("/v1/kv/{key:.*}")
            .route(web::get().to(kv_routes::get))
            .route(web::put().to(kv_routes::put))
            .route(web::delete().to(kv_routes::delete))
            .default_service(web::to(|| method_not_allowed("GET, PUT, DELETE"))),
    )
    .service(
        web::resource("/v1/txn")
            .route(web::post().to(txn_routes::txn))
            .default_service(web::to(|| method_not_allowed("POST"))),
    )
    .service(
        web::resource("/v1/watch")
            .route(web::get().to(watch::watch))
            .default_service(web::to(|| method_not_allowed("GET"))),
    )
    .default_service(web::to(handlers::not_found));
}

async fn method_not_allowed(allow: &'static str) -> Result<&'static str, ServerError> {
    Err(ServerError::MethodNotAllowed { allow })
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let mapped = match err {
        JsonPayloadError::OverflowKnownLength { length, limit } => ServerError::PayloadTooLarge(
            format!("request body of {length} bytes is over the limit of {limit} bytes"),
        ),
        JsonPayloadError::Overflow { limit } => {
            ServerError::PayloadTooLarge(format!("request body is over the limit of {limit} bytes"))
        }
        JsonPayloadError::Payload(PayloadError::Overflow) => {
            ServerError::PayloadTooLarge("request body is over the limit".into())
        }
        JsonPayloadError::ContentType => {
            ServerError::UnsupportedMediaType("expected Content-Type: application/json".into())
        }
        JsonPayloadError::Deserialize(e) => {
            ServerError::BadRequest(format!("invalid JSON body: {e}"))
        }
        other => ServerError::BadRequest(format!("could not read the request body: {other}")),
    };
    mapped.into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ServerError::BadRequest(format!("invalid query string: {err}")).into()
}
