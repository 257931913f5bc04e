//! The HTTP layer: the route table, in one function used by
//! [`run`](crate::run) and by tests, and everything that speaks actix.
//!
//! - [`routes`]: the handlers, one file per route group.
//! - [`gate`]: every connection's gate before the HTTP layer.
//! - [`openapi`] and [`schemas`]: the OpenAPI document.
//! - [`media_type`]: the content types a value may be stored with.
//! - [`console`]: the web console's files and headers (`/ui`).

pub mod console;
pub mod error;
pub mod extract;
pub mod gate;
pub mod headers;
pub mod media_type;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod schemas;

use actix_web::http::Method;
use actix_web::web::{self, JsonConfig, QueryConfig, ServiceConfig};
use actix_web::Resource;

use crate::auth::Principal;
use crate::config::Config;
use crate::error::ServerError;
use crate::http::console::ConsoleSwitch;
use crate::http::routes::{basic, bulk, kv, list, ops, txn, ui, watch};

/// Declares the route table once. Each row is
/// `public|protected "pattern" as "name" { METHOD => handler, ... }`; from
/// it come [`ROUTES`] and [`ROUTE_NAMES`], the registration in
/// [`configure`], and the operations of the OpenAPI document
/// ([`RoutePaths`]; each handler's own annotation describes it).
macro_rules! route_table {
    ($( $access:ident $pattern:literal as $name:literal { $( $method:ident => $handler:path ),+ $(,)? } )*) => {
        /// Every route with its methods. Tests check the server and the
        /// OpenAPI document against it.
        #[cfg(test)]
        pub const ROUTES: &[(&str, &[&str])] = &[ $( ($name, &[ $( stringify!($method) ),+ ]) ),* ];

        /// The routes' names: `/metrics` labels requests with them.
        pub const ROUTE_NAMES: &[&str] = &[ $( $name ),* ];

        fn register(cfg: &mut ServiceConfig) {
            $(
                cfg.service(
                    $access($pattern, $name, &[ $( stringify!($method) ),+ ])
                        $( .route(web::method(Method::$method).to($handler)) )+
                );
            )*
        }

        /// The operations of the route table, for the OpenAPI document.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths( $( $( $handler ),+ ),* ))]
        #[derive(Debug)]
        pub struct RoutePaths;
    };
}

route_table! {
    public "/" as "/" { GET => ops::health }
    public "/healthz" as "/healthz" { GET => ops::healthz }
    public "/readyz" as "/readyz" { GET => ops::readyz }
    protected "/metrics" as "/metrics" { GET => ops::metrics }
    protected "/set" as "/set" { POST => basic::set }
    protected "/get" as "/get" { GET => basic::get }
    protected "/rm" as "/rm" { DELETE => basic::rm, POST => basic::rm_by_post }
    public "/openapi.json" as "/openapi.json" { GET => openapi::openapi_json }
    public "/ui" as "/ui" { GET => ui::root }
    public "/ui/{asset:.*}" as "/ui/{asset}" { GET => ui::asset }
    protected "/v1/snapshot" as "/v1/snapshot" { GET => ops::snapshot }
    protected "/v1/export" as "/v1/export" { GET => bulk::export }
    protected "/v1/import" as "/v1/import" { POST => bulk::import }
    protected "/v1/kv" as "/v1/kv" { GET => list::list, DELETE => list::delete_prefix }
    protected "/v1/kv/{key:.*}" as "/v1/kv/{key}" { GET => kv::get, PUT => kv::put, DELETE => kv::delete }
    protected "/v1/txn" as "/v1/txn" { POST => txn::txn }
    protected "/v1/watch" as "/v1/watch" { GET => watch::watch }
    protected "/v1/status" as "/v1/status" { GET => ops::status }
}

/// A resource that anyone may call, answering 405 with `allow` to other
/// methods.
fn public(pattern: &str, name: &str, allow: &'static [&'static str]) -> Resource {
    web::resource(pattern)
        .name(name)
        .default_service(web::to(move || method_not_allowed(allow)))
}

/// A resource that needs a token when authentication is on, answering 405
/// with `allow` to other methods only once the caller is authenticated:
/// without a valid token every method is 401, so an anonymous caller
/// cannot map the routes.
fn protected(pattern: &str, name: &str, allow: &'static [&'static str]) -> Resource {
    web::resource(pattern)
        .name(name)
        .default_service(web::to(move |_caller: Principal| method_not_allowed(allow)))
}

/// Registers every route, the body limits and the JSON error mapping.
pub fn configure(cfg: &mut ServiceConfig, config: &Config) {
    cfg.app_data(
        JsonConfig::default()
            .limit(config.max_body_bytes())
            .error_handler(error::json_error),
    )
    .app_data(QueryConfig::default().error_handler(error::query_error))
    .app_data(web::Data::new(ConsoleSwitch {
        enabled: !config.no_ui,
    }));
    register(cfg);
    cfg.default_service(web::to(ops::not_found));
}

async fn method_not_allowed(allow: &'static [&'static str]) -> Result<&'static str, ServerError> {
    Err(ServerError::MethodNotAllowed { allow })
}
