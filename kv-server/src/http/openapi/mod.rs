//! `GET /openapi.json`: the OpenAPI 3.1 document of every route, generated
//! from the handlers' annotations and the wire types (utoipa), and exact:
//! every status an operation can answer, and the constraints the server
//! enforces on what it reads.
//!
//! # Layout
//!
//! - [`common_responses`]: 401, 403, 431 and 503, attached by route guard.
//! - The exact schemas of inputs are in [`crate::http::schemas`], which the
//!   handlers' annotations name.
//!
//! The document depends on one setting: with tokens configured, guarded
//! operations require the bearer token and may answer 401 and 403.

pub mod common_responses;

use actix_web::web::Data;
use actix_web::HttpResponse;
use kv_core::api::{
    DeletePrefixResponse, DeleteResponse, ErrorBody, ErrorDetail, GetResponse, HealthResponse,
    ImportResponse, KvEntry, ListEntry, ListResponse, NatsState, ProbeResponse, PutResponse,
    RmRequest, RmResponse, SetRequest, SetResponse, StatusResponse, Ttl, TxnDeleteResult,
    TxnGetResult, TxnOpResult, TxnPutResult, TxnResponse, WatchCut, WatchEvent, WatchProgress,
};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::config::Config;
use crate::http::console::CONSOLE_ROUTES;
use crate::http::schemas::txn::ImportRecord;
use crate::http::schemas::{self, Binary, IdempotencyKeyText};
use crate::http::RoutePaths;
use crate::service::context::ServerContext;
use common_responses::{replicated_writes, require_token, CommonResponses};

/// Replaces the `Ttl` component derived from [`Ttl`] with the exact one:
/// the derive cannot bound the seconds or give the text its pattern.
#[derive(Debug)]
struct ExactTtl;

impl Modify for ExactTtl {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .insert(Ttl::name().into_owned(), schemas::ttl());
    }
}

/// The document's description and components; its operations come from
/// the route table ([`RoutePaths`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "kv-store",
        description = "A key-value store over HTTP/JSON with a live change feed. When the \
            server has tokens configured, every route but /, /healthz, /readyz and \
            /openapi.json needs `Authorization: Bearer <token>`: 401 without a valid token, \
            403 outside its rights. This document is the one of the server that serves it: \
            it names the bearer requirement only when that server has tokens."
    ),
    components(schemas(
        SetRequest,
        SetResponse,
        GetResponse,
        RmRequest,
        RmResponse,
        HealthResponse,
        ProbeResponse,
        StatusResponse,
        ErrorBody,
        ErrorDetail,
        KvEntry,
        PutResponse,
        DeleteResponse,
        ListEntry,
        ListResponse,
        DeletePrefixResponse,
        TxnResponse,
        TxnOpResult,
        TxnPutResult,
        TxnDeleteResult,
        TxnGetResult,
        WatchEvent,
        WatchProgress,
        WatchCut,
        Ttl,
        Binary,
        IdempotencyKeyText,
        NatsState,
        ImportResponse,
        ImportRecord
    ))
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The document of a server with (or without) tokens configured, in
/// replicated mode (or not).
pub fn openapi(tokens_configured: bool, replicated: bool) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(RoutePaths::openapi());
    // The console's routes serve a page, not an API operation (see
    // `CONSOLE_ROUTES`).
    doc.paths
        .paths
        .retain(|path, _| !CONSOLE_ROUTES.contains(&path.as_str()));
    CommonResponses.modify(&mut doc);
    ExactTtl.modify(&mut doc);
    require_token(&mut doc, tokens_configured);
    replicated_writes(&mut doc, replicated);
    doc
}

/// The document as pretty JSON.
pub fn document(tokens_configured: bool, replicated: bool) -> String {
    openapi(tokens_configured, replicated)
        .to_pretty_json()
        .unwrap_or_else(|e| unreachable!("the OpenAPI document always serializes: {e}"))
}

/// The OpenAPI document (pretty JSON) that a server with `config` serves
/// at `GET /openapi.json`: which operations need a token is decided, as
/// everywhere, from the tokens `config` loads. `server openapi` prints it.
///
/// # Errors
///
/// The tokens cannot be loaded (see [`Config::auth_file`]).
pub fn openapi_document(config: &Config) -> Result<String, String> {
    let auth = crate::auth::from_config(config)?;
    Ok(document(auth.enabled(), config.cluster.is_some()))
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document",
        content_type = "application/json", body = Object)))]
pub async fn openapi_json(shared: Data<ServerContext>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document(shared.auth().enabled(), shared.is_replicated()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{configure, ROUTES};
    use crate::observe::metrics::Metrics;
    use crate::service::context::ServerContext;
    use crate::service::Service;
    use crate::Config;
    use actix_web::http::Method;
    use actix_web::{test as actix_test, web, App};

    #[test]
    fn the_document_names_exactly_the_routes() {
        let doc = openapi(false, false);
        let mut documented: Vec<(String, Vec<String>)> = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let json = serde_json::to_value(item).expect("serializes");
                let mut methods: Vec<String> = json
                    .as_object()
                    .expect("a path item")
                    .keys()
                    .filter(|k| {
                        matches!(
                            k.as_str(),
                            "get" | "put" | "post" | "delete" | "patch" | "head"
                        )
                    })
                    .map(|k| k.to_uppercase())
                    .collect();
                methods.sort();
                (path.clone(), methods)
            })
            .collect();
        documented.sort();
        let mut expected: Vec<(String, Vec<String>)> = ROUTES
            .iter()
            .filter(|(path, _)| !CONSOLE_ROUTES.contains(path))
            .map(|(path, methods)| {
                let mut methods: Vec<String> = methods.iter().map(|m| m.to_string()).collect();
                methods.sort();
                (path.to_string(), methods)
            })
            .collect();
        expected.sort();
        assert_eq!(documented, expected);
        // What is left out is exactly the console's rows of the table.
        for console_route in CONSOLE_ROUTES {
            assert!(ROUTES.iter().any(|(path, _)| path == console_route));
            assert!(!doc.paths.paths.contains_key(*console_route));
        }
    }

    #[actix_web::test]
    async fn the_route_table_is_what_the_server_serves() {
        let config = Config::parse_from(["server", "--in-memory"]).expect("valid flags");
        let auth = crate::auth::Authenticator::new(None, Vec::new()).expect("no tokens");
        let shared = web::Data::new(ServerContext::new(
            auth,
            Metrics::new(crate::http::ROUTE_NAMES),
            config.recovery_wait(),
        ));
        shared.attach(Service::open(&config).expect("opens"));
        let app = actix_test::init_service(
            App::new()
                .app_data(shared.clone())
                .configure(|cfg| configure(cfg, &config)),
        )
        .await;
        for (path, methods) in ROUTES {
            let uri = path
                .replace("{key}", "some-key")
                .replace("{asset}", "index.html");
            for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
                let request = actix_test::TestRequest::default()
                    .method(Method::from_bytes(method.as_bytes()).expect("a method"))
                    .uri(&uri)
                    .to_request();
                let response = actix_test::call_service(&app, request).await;
                let status = response.status().as_u16();
                // 404 key_not_found is a routed answer; 404 not_found is not.
                // (Only 404s are read: a watch's body never ends.)
                let unrouted = status == 404
                    && String::from_utf8_lossy(&actix_test::read_body(response).await)
                        .contains("\"code\":\"not_found\"");
                let served = methods.contains(&method);
                assert!(!unrouted, "{method} {uri} is not routed");
                assert_eq!(status == 405, !served, "{method} {uri} answered {status}");
            }
        }
        if let Some(state) = shared.state() {
            state.shutdown().await;
        }
    }
}
