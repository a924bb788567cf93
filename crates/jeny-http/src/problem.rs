//! `ApiError` and its problem+json body (RFC 9457). A domain error becomes an `ApiError` through
//! `From`, keeping its code, message and field. Internal and unavailable errors keep their
//! message for the log only: the body says what to do, with the request id to quote.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use jeny_core::{DomainError, ErrorCode};
use serde::{Deserialize, Serialize};

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`: `code` identifies the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong, for a person to act on.
    pub detail: String,
    /// Stable machine-readable code, such as `not_found` or `invalid_input`.
    pub code: String,
    /// The input field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub field: Option<String>,
    /// Quote this when reporting a problem: the server log has the details under it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_id: Option<String>,
}

/// The one mapping from error codes to HTTP statuses.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::MalformedRequest => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::Locked => StatusCode::LOCKED,
        ErrorCode::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The code a status stands for, used for errors that did not come from an `ApiError`
/// (the router's own 404 and 405, extractor rejections).
pub(crate) fn code_of(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidInput,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::CONFLICT => ErrorCode::Conflict,
        StatusCode::LOCKED => ErrorCode::Locked,
        StatusCode::PRECONDITION_FAILED => ErrorCode::PreconditionFailed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::TooManyRequests,
        status if status.is_client_error() => ErrorCode::MalformedRequest,
        _ => ErrorCode::Internal,
    }
}

/// An error on its way to becoming a problem+json response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub field: Option<String>,
    /// The full error chain, for the log; never sent.
    pub(crate) internal: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            code,
            detail: detail.into(),
            field: None,
            internal: None,
        }
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.into()),
            ..ApiError::new(ErrorCode::InvalidInput, detail)
        }
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, detail)
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.code)
    }

    /// What a client may see.
    pub fn to_problem(&self, request_id: Option<String>) -> Problem {
        let status = self.status();
        Problem {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.as_str().to_owned(),
            field: self.field.clone(),
            request_id,
        }
    }
}

impl<E: DomainError> From<E> for ApiError {
    fn from(error: E) -> ApiError {
        let code = error.code();
        match code {
            ErrorCode::Internal | ErrorCode::Unavailable => {
                let mut chain = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    chain.push_str(": ");
                    chain.push_str(&cause.to_string());
                    source = cause.source();
                }
                let detail = if code == ErrorCode::Unavailable {
                    "the database is unavailable right now; retry in a moment"
                } else {
                    "internal error; the server log has the details under this request id"
                };
                ApiError {
                    code,
                    detail: detail.to_owned(),
                    field: None,
                    internal: Some(chain),
                }
            }
            _ => ApiError {
                code,
                detail: error.to_string(),
                field: error.field(),
                internal: None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_problem(None)).unwrap_or_default();
        let mut response = (
            self.status(),
            [(http::header::CONTENT_TYPE, crate::PROBLEM_JSON)],
            body,
        )
            .into_response();
        if self.code == ErrorCode::Unauthenticated {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"jeny\""),
            );
        }
        // The request middleware re-renders the body with the request id and logs `internal`.
        response.extensions_mut().insert(self);
        response
    }
}

/// The errors any authenticated read may answer, for OpenAPI documents.
#[derive(utoipa::IntoResponses)]
pub enum ReadErrors {
    /// No valid API token.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(Problem),
    /// Nothing with that name.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// A bad query parameter.
    #[response(status = 422, content_type = "application/problem+json")]
    InvalidInput(Problem),
    /// The database is unreachable; retry later.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// The errors any change may answer, for OpenAPI documents.
#[derive(utoipa::IntoResponses)]
pub enum WriteErrors {
    /// The body is not JSON.
    #[response(status = 400, content_type = "application/problem+json")]
    Malformed(Problem),
    /// No valid API token.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(Problem),
    /// The token's person lacks the role.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// Nothing with that name.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The name is taken.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// `If-Match` names an ETag that is no longer current.
    #[response(status = 412, content_type = "application/problem+json")]
    PreconditionFailed(Problem),
    /// The body is too large.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// The body is not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// A field is invalid; `field` names it.
    #[response(status = 422, content_type = "application/problem+json")]
    InvalidInput(Problem),
    /// The database is unreachable; retry later.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}
