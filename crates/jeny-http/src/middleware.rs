//! The request middleware every route runs under. It gives each request an id (kept from an
//! incoming `X-Request-Id` when sane), opens a tracing span, logs the error chain of a failed
//! request under that id, and makes sure that every error leaves as problem+json: errors from
//! `ApiError` get the request id added, and the router's own errors (unknown route, wrong method,
//! extractor rejections) are rewritten into the same shape.

use crate::problem::code_of;
use crate::{ApiError, PROBLEM_JSON};
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use jeny_core::ErrorCode;
use tracing::Instrument;

/// The id of the current request, as a request extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

const REQUEST_ID_HEADER: &str = "x-request-id";
/// Rejection bodies from axum are short; anything longer is not one and is left alone.
const MAX_REWRITTEN_BODY: usize = 16 * 1024;

pub async fn request_context(mut request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    let span = tracing::debug_span!("request", %method, %path, request_id = %request_id);
    let response = next.run(request).instrument(span).await;
    let mut response = into_problem_if_error(response, &request_id, &method, &path).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Runs every request that may change state (any method but GET, HEAD, OPTIONS) in a task of its
/// own. A client that disconnects drops its request's future; without this, a write could be
/// cancelled between `BEGIN` and `COMMIT`, which leaves nothing half-written but can leave the
/// database connection inside a transaction. Detached, the write runs to its commit or rollback
/// whatever the client does.
pub async fn detach_writes(request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let span = tracing::Span::current();
    match tokio::spawn(next.run(request).instrument(span)).await {
        Ok(response) => response,
        Err(error) => ApiError {
            internal: Some(format!("the request task failed: {error}")),
            ..ApiError::new(
                ErrorCode::Internal,
                "internal error; the server log has the details under this request id",
            )
        }
        .into_response(),
    }
}

/// Marks an error response whose body is meant as it is (an HTML page for a browser, an OAuth
/// error object), so that it is not rewritten as problem+json.
#[derive(Debug, Clone, Copy)]
pub struct DeliberateBody;

async fn into_problem_if_error(
    mut response: Response,
    request_id: &str,
    method: &http::Method,
    path: &str,
) -> Response {
    if let Some(error) = response.extensions_mut().remove::<ApiError>() {
        if let Some(chain) = &error.internal {
            match error.code {
                ErrorCode::Unavailable => {
                    tracing::warn!(request_id, %method, path, error = %chain, "request failed: store unavailable")
                }
                _ => tracing::error!(request_id, %method, path, error = %chain, "request failed"),
            }
        }
        return with_problem_body(response, &error, request_id);
    }
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<DeliberateBody>().is_some()
    {
        return response;
    }
    let is_problem = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    let code = code_of(status);
    let original = axum::body::to_bytes(
        std::mem::replace(response.body_mut(), Body::empty()),
        MAX_REWRITTEN_BODY,
    )
    .await
    .unwrap_or_default();
    let original = String::from_utf8_lossy(&original).trim().to_owned();
    let detail = match code {
        ErrorCode::NotFound if original.is_empty() => format!("nothing is at {method} {path}"),
        ErrorCode::MethodNotAllowed => format!("{path} does not accept {method}"),
        ErrorCode::Internal => {
            tracing::error!(request_id, %method, path, body = %original, "request failed");
            "internal error; the server log has the details under this request id".to_owned()
        }
        _ if original.is_empty() => status.canonical_reason().unwrap_or("error").to_lowercase(),
        _ => original,
    };
    let error = ApiError::new(code, detail);
    with_problem_body(response, &error, request_id)
}

fn with_problem_body(response: Response, error: &ApiError, request_id: &str) -> Response {
    let problem = error.to_problem(Some(request_id.to_owned()));
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_JSON),
    );
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    Response::from_parts(parts, Body::from(body)).into_response()
}
