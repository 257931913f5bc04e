//! The error answers operations share because of how their route is
//! guarded, not because of what they do: 431 everywhere (the head limit),
//! 401 and 403 behind a token, 503 while the data loads, and for every
//! write the `Idempotency-Key` header and, in replicated mode, 504. They
//! are declared once under `components.responses` and attached by
//! [`ROUTE_GUARDS`] and method; each handler's annotation lists only its
//! own answers.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi, PathItem, Ref, RefOr, Response, ResponseBuilder,
};
use utoipa::Modify;

use crate::http::schemas::{component, string};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: no token needed (docs/operations.md, Tokens).
    Open,
    /// Any valid token, whatever its rights.
    AnyToken,
    /// A token with the right the request needs on its keys.
    Rights,
}

/// How each route of [`ROUTES`](crate::http::ROUTES) is guarded, and
/// whether its requests wait for the data to load (and so may answer 503
/// `recovering`).
pub const ROUTE_GUARDS: &[(&str, Access, bool)] = &[
    ("/", Access::Open, true),
    ("/healthz", Access::Open, false),
    ("/readyz", Access::Open, false),
    ("/metrics", Access::AnyToken, false),
    ("/set", Access::Rights, true),
    ("/get", Access::Rights, true),
    ("/rm", Access::Rights, true),
    ("/openapi.json", Access::Open, false),
    // The console: open to anyone, and left out of the document.
    ("/ui", Access::Open, false),
    ("/ui/{asset}", Access::Open, false),
    ("/v1/snapshot", Access::Rights, true),
    ("/v1/export", Access::Rights, true),
    ("/v1/import", Access::Rights, true),
    ("/v1/kv", Access::Rights, true),
    ("/v1/kv/{key}", Access::Rights, true),
    ("/v1/txn", Access::Rights, true),
    ("/v1/watch", Access::Rights, true),
    ("/v1/status", Access::AnyToken, true),
];

/// The security scheme's name in the document.
const BEARER: &str = "bearer";

fn guard(path: &str) -> (Access, bool) {
    ROUTE_GUARDS
        .iter()
        .find(|(guarded, ..)| *guarded == path)
        .map_or((Access::Rights, true), |&(_, access, waits)| {
            (access, waits)
        })
}

fn error(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(component("ErrorBody")))
            .build(),
    )
}

/// The shared answers, by name under `components.responses`.
fn shared_responses() -> [(&'static str, Response); 5] {
    [
        (
            "OutcomeUnknown",
            error(
                "Replicated mode: no quorum confirmed the write within --cluster-timeout-ms \
                 and it may still take effect (`outcome_unknown`); retry it with the same \
                 Idempotency-Key to have it applied once",
            )
            .build(),
        ),
        (
            "Unauthorized",
            error(
                "No valid token: the server has tokens configured, and the request carries no \
                 `Authorization: Bearer` token it knows (`unauthorized`)",
            )
            .header(
                "WWW-Authenticate",
                HeaderBuilder::new().schema(Some(string())).build(),
            )
            .build(),
        ),
        (
            "Forbidden",
            error(
                "The token lacks the right this request needs on its keys (`forbidden`; see \
                 docs/operations.md, Tokens)",
            )
            .build(),
        ),
        (
            "HeadersTooLarge",
            error(
                "The request line and headers are over --max-header-bytes \
                 (`headers_too_large`). Over the HTTP layer's own ceiling (128 KiB, or more \
                 than 96 headers) the answer has no body and the connection closes.",
            )
            .build(),
        ),
        (
            "Unavailable",
            error(
                "Not now: `recovering` while the data loads after a start (with \
                 `Retry-After: 1`), `unavailable` while shutting down or with --max-watchers \
                 streams open, `storage_failed` for writes after a disk error; in replicated \
                 mode `cluster_unavailable` when a write surely was not committed or a \
                 consistent read could not be served in time",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new().schema(Some(string())).build(),
            )
            .build(),
        ),
    ]
}

fn reference(name: &str) -> RefOr<Response> {
    Ref::new(format!("#/components/responses/{name}")).into()
}

/// Attaches the shared answers to every operation by its route's guard.
/// 401 and 403 are left out here; [`require_token`] adds them when the
/// server has tokens configured.
#[derive(Debug)]
pub struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, response) in shared_responses() {
            components.responses.insert(name.into(), response.into());
        }
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let (_, waits_for_data) = guard(path);
            let takes_key = !WITHOUT_IDEMPOTENCY_KEY.contains(&path.as_str());
            for (is_write, operation) in operations_by_kind(item) {
                if is_write && takes_key {
                    operation
                        .parameters
                        .get_or_insert_with(Vec::new)
                        .push(idempotency_key().into());
                }
                let responses = &mut operation.responses.responses;
                responses.insert("431".into(), reference("HeadersTooLarge"));
                if waits_for_data {
                    responses
                        .entry("503".into())
                        .or_insert_with(|| reference("Unavailable"));
                }
            }
        }
    }
}

/// Write routes that take no `Idempotency-Key`: a bulk import is many
/// transactions, each its own write.
const WITHOUT_IDEMPOTENCY_KEY: &[&str] = &["/v1/import"];

/// The `Idempotency-Key` header parameter of a write.
fn idempotency_key() -> utoipa::openapi::path::Parameter {
    utoipa::openapi::path::ParameterBuilder::new()
        .name(crate::http::extract::IDEMPOTENCY_KEY_HEADER)
        .parameter_in(utoipa::openapi::path::ParameterIn::Header)
        .required(utoipa::openapi::Required::False)
        .schema(Some(Ref::from_schema_name("IdempotencyKeyText")))
        .build()
}

/// In replicated mode every write may answer 504 `outcome_unknown`.
pub fn replicated_writes(openapi: &mut OpenApi, replicated: bool) {
    if !replicated {
        return;
    }
    for item in openapi.paths.paths.values_mut() {
        for (is_write, operation) in operations_by_kind(item) {
            if is_write {
                operation
                    .responses
                    .responses
                    .insert("504".into(), reference("OutcomeUnknown"));
            }
        }
    }
}

/// When the server has tokens configured: every guarded operation requires
/// the bearer token and may answer 401, and 403 where rights are checked.
/// Without tokens no route needs one, and neither answer can happen.
pub fn require_token(openapi: &mut OpenApi, tokens_configured: bool) {
    if !tokens_configured {
        return;
    }
    for (path, item) in openapi.paths.paths.iter_mut() {
        let (access, _) = guard(path);
        if access == Access::Open {
            continue;
        }
        for operation in operations(item) {
            operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            let responses = &mut operation.responses.responses;
            responses.insert("401".into(), reference("Unauthorized"));
            if access == Access::Rights {
                responses.insert("403".into(), reference("Forbidden"));
            }
        }
    }
}

/// Each operation of `item`, and whether it is a write (not a GET).
fn operations_by_kind(
    item: &mut PathItem,
) -> impl Iterator<Item = (bool, &mut utoipa::openapi::path::Operation)> {
    let PathItem {
        get,
        put,
        post,
        delete,
        patch,
        ..
    } = item;
    [
        (false, get),
        (true, put),
        (true, post),
        (true, delete),
        (true, patch),
    ]
    .into_iter()
    .filter_map(|(is_write, operation)| operation.as_mut().map(|o| (is_write, o)))
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_web::http::Method;
    use actix_web::web::Data;
    use actix_web::{test as actix_test, App};

    use super::*;
    use crate::auth::Authenticator;
    use crate::http::{configure, ROUTES};
    use crate::observe::metrics::Metrics;
    use crate::service::context::ServerContext;
    use crate::service::Service;
    use crate::Config;

    const TOKEN: &str = "root-token-0123456789";

    #[test]
    fn every_route_has_a_guard() {
        let mut guarded: Vec<&str> = ROUTE_GUARDS.iter().map(|(path, ..)| *path).collect();
        let mut routes: Vec<&str> = ROUTES.iter().map(|(path, _)| *path).collect();
        guarded.sort_unstable();
        routes.sort_unstable();
        assert_eq!(guarded, routes);
    }

    /// Every documented operation: method, a URI for it, and whether it
    /// documents `status`.
    fn operations_documenting(doc: &OpenApi, status: &str) -> Vec<(Method, String, bool)> {
        let mut found = Vec::new();
        for (path, item) in &doc.paths.paths {
            let json = serde_json::to_value(item).expect("serializes");
            for (method, operation) in json.as_object().expect("a path item") {
                let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                    continue;
                };
                let documents = operation["responses"].get(status).is_some();
                found.push((method, path.replace("{key}", "k"), documents));
            }
        }
        found
    }

    /// Sends each operation of `doc` to an app over `shared` and checks that
    /// it answers `status` exactly where the document says it may.
    async fn answers_match(doc: &OpenApi, shared: Data<ServerContext>, status: u16) {
        let config = Config::parse_from(["server", "--in-memory"]).expect("valid flags");
        let app = actix_test::init_service(
            App::new()
                .app_data(shared)
                .configure(|cfg| configure(cfg, &config)),
        )
        .await;
        for (method, uri, documented) in operations_documenting(doc, &status.to_string()) {
            let request = well_formed(method.clone(), &uri).to_request();
            let answered = actix_test::call_service(&app, request).await.status();
            assert_eq!(
                answered.as_u16() == status,
                documented,
                "{method} {uri} answered {answered}; documents {status}: {documented}"
            );
        }
    }

    /// A well-formed request to `method uri`, so that the guards alone
    /// decide the answer.
    fn well_formed(method: Method, uri: &str) -> actix_test::TestRequest {
        let request = actix_test::TestRequest::default().method(method);
        match uri {
            "/get" => request.uri("/get?key=k"),
            "/v1/kv" => request.uri("/v1/kv?prefix=p"),
            "/set" => request
                .uri(uri)
                .set_json(serde_json::json!({"key": "k", "val": "v"})),
            "/rm" => request.uri(uri).set_json(serde_json::json!({"key": "k"})),
            "/v1/txn" => request.uri(uri).set_json(serde_json::json!({})),
            _ => request.uri(uri),
        }
    }

    fn loaded(shared: ServerContext) -> Data<ServerContext> {
        let config = Config::parse_from(["server", "--in-memory"]).expect("valid flags");
        shared.attach(Service::open(&config).expect("opens"));
        Data::new(shared)
    }

    #[actix_web::test]
    async fn operations_without_a_token_answer_401_where_documented() {
        let auth = Authenticator::new(Some(TOKEN), Vec::new()).expect("valid");
        let shared = loaded(ServerContext::new(
            auth,
            Metrics::new(crate::http::ROUTE_NAMES),
            Duration::ZERO,
        ));
        answers_match(&super::super::openapi(true, false), shared.clone(), 401).await;
        if let Some(state) = shared.state() {
            state.shutdown().await;
        }
    }

    #[actix_web::test]
    async fn operations_before_the_data_loads_answer_503_where_documented() {
        let auth = Authenticator::new(None, Vec::new()).expect("no tokens");
        let shared = Data::new(ServerContext::new(
            auth,
            Metrics::new(crate::http::ROUTE_NAMES),
            Duration::ZERO,
        ));
        answers_match(&super::super::openapi(false, false), shared, 503).await;
    }

    #[test]
    fn the_token_is_required_and_refused_only_when_configured() {
        for tokens in [false, true] {
            let doc =
                serde_json::to_value(super::super::openapi(tokens, false)).expect("serializes");
            for (path, item) in doc["paths"].as_object().expect("paths") {
                let (access, _) = guard(path);
                for (method, operation) in item.as_object().expect("a path item") {
                    let guarded = tokens && access != Access::Open;
                    let has = |status: &str| operation["responses"].get(status).is_some();
                    assert_eq!(
                        operation.get("security").is_some(),
                        guarded,
                        "{method} {path}"
                    );
                    assert_eq!(has("401"), guarded, "{method} {path}");
                    assert_eq!(
                        has("403"),
                        guarded && access == Access::Rights,
                        "{method} {path}"
                    );
                    assert!(has("431"), "{method} {path}");
                }
            }
        }
    }
}
