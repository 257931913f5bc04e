//! The route table, in one function used by [`run`](crate::run) and by tests.

use actix_web::error::{JsonPayloadError, PayloadError, QueryPayloadError};
use actix_web::web::{self, JsonConfig, QueryConfig, ServiceConfig};
use actix_web::HttpRequest;
use actix_web::Resource;

use crate::auth::Principal;
use crate::config::Config;
use crate::error::ServerError;
use crate::{handlers, kv_routes, list_routes, metrics, openapi, txn_routes, watch};

/// Every route `configure` registers, with its methods. Tests check it
/// against the running routes and against `/openapi.json`; `/metrics`
/// labels requests with these paths.
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/", &["GET"]),
    ("/healthz", &["GET"]),
    ("/readyz", &["GET"]),
    ("/metrics", &["GET"]),
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

/// A resource named after its [`ROUTES`] entry that anyone may call,
/// answering 405 with `allow` to other methods.
fn public(pattern: &str, name: &str, allow: &'static str) -> Resource {
    web::resource(pattern)
        .name(name)
        .default_service(web::to(move || method_not_allowed(allow)))
}

/// A resource named after its [`ROUTES`] entry that needs a token when
/// authentication is on, answering 405 with `allow` to other methods only
/// once the caller is authenticated: without a valid token every method is
/// 401, so an anonymous caller cannot map the routes.
fn protected(pattern: &str, name: &str, allow: &'static str) -> Resource {
    web::resource(pattern)
        .name(name)
        .default_service(web::to(move |_caller: Principal| method_not_allowed(allow)))
}

/// Registers every route, the body limits and the JSON error mapping.
pub fn configure(cfg: &mut ServiceConfig, config: &Config) {
    cfg.app_data(
        JsonConfig::default()
            .limit(config.max_body_bytes())
            .error_handler(json_error),
    )
    .app_data(QueryConfig::default().error_handler(query_error))
    .service(public("/", "/", "GET").route(web::get().to(handlers::health)))
    .service(public("/healthz", "/healthz", "GET").route(web::get().to(handlers::healthz)))
    .service(public("/readyz", "/readyz", "GET").route(web::get().to(handlers::readyz)))
    .service(protected("/metrics", "/metrics", "GET").route(web::get().to(metrics::metrics)))
    .service(protected("/set", "/set", "POST").route(web::post().to(handlers::set)))
    .service(protected("/get", "/get", "GET").route(web::get().to(handlers::get)))
    .service(
        protected("/rm", "/rm", "DELETE, POST")
            .route(web::delete().to(handlers::rm))
            .route(web::post().to(handlers::rm_by_post)),
    )
    .service(
        public("/openapi.json", "/openapi.json", "GET").route(web::get().to(openapi::openapi_json)),
    )
    .service(
        protected("/v1/snapshot", "/v1/snapshot", "GET").route(web::get().to(handlers::snapshot)),
    )
    .service(
        protected("/v1/kv", "/v1/kv", "GET, DELETE")
            .route(web::get().to(list_routes::list))
            .route(web::delete().to(list_routes::delete_prefix)),
    )
    .service(
        protected("/v1/kv/{key:.*}", "/v1/kv/{key}", "GET, PUT, DELETE")
            .route(web::get().to(kv_routes::get))
            .route(web::put().to(kv_routes::put))
            .route(web::delete().to(kv_routes::delete)),
    )
    .service(protected("/v1/txn", "/v1/txn", "POST").route(web::post().to(txn_routes::txn)))
    .service(protected("/v1/watch", "/v1/watch", "GET").route(web::get().to(watch::watch)))
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
