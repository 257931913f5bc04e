//! Middleware: every request counted and timed, by route, in the
//! [`Metrics`](crate::observe::metrics::Metrics).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::Data;

use crate::service::context::ServerContext;

/// Counts every request and times it, by route (the route's name in the
/// route table, or `unmatched`).
///
/// # Errors
///
/// Passes on the inner service's error.
pub async fn track(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let began = Instant::now();
    let context = request.app_data::<Data<ServerContext>>().cloned();
    let method = request.method().clone();
    let response = next.call(request).await?;
    if let Some(context) = context {
        context.metrics().record_request(
            response.request().match_name(),
            method.as_str(),
            response.status().as_u16(),
            began.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}
