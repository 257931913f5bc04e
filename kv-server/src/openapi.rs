//! `GET /openapi.json`: the OpenAPI 3 document of every route, generated
//! from the handlers' annotations and the wire types (utoipa).

use actix_web::HttpResponse;
use kv_core::api::{
    DeletePrefixResponse, DeleteResponse, ErrorBody, ErrorDetail, GetResponse, HealthResponse,
    KvEntry, ListEntry, ListResponse, ProbeResponse, PutResponse, RmRequest, RmResponse,
    SetRequest, SetResponse, Ttl, TxnDeleteResult, TxnGetResult, TxnOpResult, TxnPutResult,
    TxnResponse, WatchEvent,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{handlers, kv_routes, list_routes, metrics, txn_routes, watch};

/// Declares the bearer-token scheme every route but the probes uses when
/// the server has tokens configured.
#[derive(Debug)]
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "kv-store",
        description = "A key-value store over HTTP/JSON with a live change feed. When the \
            server has tokens configured, every route but /healthz and /readyz needs \
            `Authorization: Bearer <token>`: 401 without a valid token, 403 outside its rights."
    ),
    modifiers(&BearerAuth),
    security((), ("bearer" = [])),
    paths(
        handlers::health,
        handlers::healthz,
        handlers::readyz,
        metrics::metrics,
        handlers::set,
        handlers::get,
        handlers::rm,
        handlers::rm_by_post,
        handlers::snapshot,
        kv_routes::get,
        kv_routes::put,
        kv_routes::delete,
        list_routes::list,
        list_routes::delete_prefix,
        txn_routes::txn,
        watch::watch,
        openapi_json,
    ),
    components(schemas(
        SetRequest,
        SetResponse,
        GetResponse,
        RmRequest,
        RmResponse,
        HealthResponse,
        ProbeResponse,
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
        Ttl
    ))
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The document as pretty JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| unreachable!("the OpenAPI document always serializes: {e}"))
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{configure, ROUTES};
    use crate::startup::Shared;
    use crate::{AppState, Config};
    use actix_web::http::Method;
    use actix_web::{test as actix_test, web, App};

    #[test]
    fn the_document_names_exactly_the_routes() {
        let doc = ApiDoc::openapi();
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
            .map(|(path, methods)| {
                let mut methods: Vec<String> = methods.iter().map(|m| m.to_string()).collect();
                methods.sort();
                (path.to_string(), methods)
            })
            .collect();
        expected.sort();
        assert_eq!(documented, expected);
    }

    #[actix_web::test]
    async fn the_route_table_is_what_the_server_serves() {
        let config = Config {
            in_memory: true,
            ..Config::default()
        };
        let auth = crate::auth::Authenticator::new(None, Vec::new()).expect("no tokens");
        let shared = web::Data::new(Shared::new(auth, config.recovery_wait()));
        shared.attach(AppState::open(&config).expect("opens"));
        let app = actix_test::init_service(
            App::new()
                .app_data(shared.clone())
                .configure(|cfg| configure(cfg, &config)),
        )
        .await;
        for (path, methods) in ROUTES {
            let uri = path.replace("{key}", "some-key");
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
