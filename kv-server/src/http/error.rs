//! The one place errors become HTTP answers: each [`ServerError`] gets its
//! status and the JSON shape `{"error": {"code", "message"}}`; the
//! extractors' errors (bodies, query strings) and the connection gate's
//! refusals become [`ServerError`]s first.

use actix_web::error::{JsonPayloadError, PayloadError, QueryPayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use kv_core::api::{ErrorBody, ErrorDetail};

use crate::error::ServerError;
use crate::http::gate::request_head::Refusal;

/// The error the connection gate's refusal of a head answers with.
pub fn refused(refusal: Refusal) -> ServerError {
    match refusal.status {
        408 => ServerError::RequestTimeout(refusal.detail),
        431 => ServerError::HeadersTooLarge(refusal.detail),
        _ => ServerError::BadRequest(refusal.detail),
    }
}

impl ResponseError for ServerError {
    fn status_code(&self) -> StatusCode {
        match self {
            ServerError::BadRequest(_) | ServerError::InvalidKey(_) => StatusCode::BAD_REQUEST,
            ServerError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ServerError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServerError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServerError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ServerError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ServerError::NotFound(_) | ServerError::KeyNotFound(_) => StatusCode::NOT_FOUND,
            ServerError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ServerError::Gone { .. } => StatusCode::GONE,
            ServerError::ConditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ServerError::Unavailable(_)
            | ServerError::StorageFailed(_)
            | ServerError::Recovering(_)
            | ServerError::ClusterUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServerError::OutcomeUnknown(_) => StatusCode::GATEWAY_TIMEOUT,
            ServerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let ServerError::MethodNotAllowed { allow } = self {
            response.insert_header((header::ALLOW, allow.join(", ")));
        }
        if let ServerError::Recovering(_) = self {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        if let ServerError::Unauthorized(_) = self {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"kv-store\""));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
                oldest_rev: match self {
                    ServerError::Gone { oldest_rev, .. } => Some(*oldest_rev),
                    _ => None,
                },
                mod_rev: match self {
                    ServerError::ConditionFailed { mod_rev, .. } => *mod_rev,
                    _ => None,
                },
                rev: match self {
                    ServerError::ConditionFailed { rev, .. } => Some(*rev),
                    _ => None,
                },
            },
        })
    }
}

/// The answer to a body the JSON extractor could not read.
pub(crate) fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
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

/// The answer to a query string that does not parse.
pub(crate) fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ServerError::BadRequest(format!("invalid query string: {err}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv_core::CoreError;

    #[test]
    fn core_errors_map_to_statuses() {
        let key: ServerError = CoreError::EmptyKey.into();
        assert_eq!(key.status_code(), StatusCode::BAD_REQUEST);
        assert_eq!(key.code(), "invalid_key");
        let value: ServerError = CoreError::ValueTooLarge { len: 2, max: 1 }.into();
        assert_eq!(value.status_code(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
