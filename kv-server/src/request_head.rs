//! The request-head limit: requests whose line and headers exceed
//! `--max-header-bytes` get 431 with the JSON error shape.
//!
//! The HTTP layer enforces its own ceiling first (a head over 128 KiB, or
//! more than 96 headers, gets a bare 431 and the connection is closed); this
//! middleware makes the limit configurable below that ceiling.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::error::ServerError;

/// The size of a request's head as it was sent: the request line and every
/// `name: value` line with their line ends.
pub fn head_bytes(request: &ServiceRequest) -> usize {
    let line = request.method().as_str().len()
        + request
            .uri()
            .path_and_query()
            .map_or(1, |p| p.as_str().len())
        + " HTTP/1.1\r\n".len();
    request.headers().iter().fold(line, |total, (name, value)| {
        total + name.as_str().len() + value.len() + ": \r\n".len()
    }) + "\r\n".len()
}

/// Middleware: refuses a request whose head is over `max_bytes` (431).
///
/// # Errors
///
/// Passes on the inner service's error.
pub async fn limit_head(
    max_bytes: usize,
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let size = head_bytes(&request);
    if size > max_bytes {
        let error = ServerError::HeadersTooLarge(format!(
            "the request line and headers take {size} bytes, over the limit of {max_bytes} \
             (--max-header-bytes)"
        ));
        return Ok(request.error_response(error).map_into_right_body());
    }
    Ok(next.call(request).await?.map_into_left_body())
}
