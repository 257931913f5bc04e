//! `GET /ui` and `GET /ui/{asset}`: the web console's page and files
//! (see [`crate::http::console`]). Public: the page is not secret, and
//! every API call it makes carries the user's token. Every answer carries
//! the console's security headers; under `--no-ui` both routes answer as
//! an unknown route does.
//!
//! The `#[utoipa::path]` annotations are there because every row of the
//! route table names one; the document leaves these routes out
//! ([`CONSOLE_ROUTES`](crate::http::console::CONSOLE_ROUTES) says why).

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Bytes, Data};
use actix_web::{HttpRequest, HttpResponse, ResponseError as _};

use crate::error::ServerError;
use crate::http::console::{assets, security_headers, ConsoleSwitch};
use crate::http::routes::ops;

/// `GET /ui`: a redirect to `/ui/`, under which the page's relative links
/// resolve (a relative `Location`, so it works behind a path prefix too).
#[utoipa::path(get, path = "/ui", tag = "console",
    responses((status = 308, description = "To /ui/, the console")))]
pub async fn root(request: HttpRequest, switch: Data<ConsoleSwitch>) -> HttpResponse {
    let response = if switch.enabled {
        HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, "ui/"))
            .finish()
    } else {
        unknown_route(request).await
    };
    secured(response)
}

/// `GET /ui/{asset}`: one of the console's files (`/ui/` is the page), with
/// its content type and entity tag; `304` when `If-None-Match` names it.
#[utoipa::path(get, path = "/ui/{asset}", tag = "console",
    params(("asset" = String, Path, description = "A file of the console")),
    responses((status = 200, description = "The file"),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No such file")))]
pub async fn asset(request: HttpRequest, switch: Data<ConsoleSwitch>) -> HttpResponse {
    let response = if switch.enabled {
        serve(&request)
    } else {
        unknown_route(request).await
    };
    secured(response)
}

fn serve(request: &HttpRequest) -> HttpResponse {
    let path = request.match_info().get("asset").unwrap_or("");
    let Some((asset, etag)) = assets::find(path) else {
        return ServerError::NotFound(format!("GET {}", request.path())).error_response();
    };
    let tag = HeaderValue::from_static(etag);
    if names_tag(request, etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .finish();
    }
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::ETAG, tag))
        .body(Bytes::from_static(asset.body))
}

/// Whether the request's `If-None-Match` names `etag` (or is `*`).
fn names_tag(request: &HttpRequest, etag: &str) -> bool {
    request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag == "*" || tag == etag)
        })
}

/// The answer to any unknown route: 401 without a valid token when tokens
/// are configured, else 404.
async fn unknown_route(request: HttpRequest) -> HttpResponse {
    match ops::not_found(request).await {
        Ok(response) => response,
        Err(error) => error.error_response(),
    }
}

fn secured(mut response: HttpResponse) -> HttpResponse {
    security_headers(response.headers_mut());
    response
}
