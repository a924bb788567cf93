//! The web app (`jeny-web`): any GET outside the API falls back to it, so app routes are
//! deep-linkable. Unknown `/api/` and `/auth/` paths and non-GET requests get a problem+json 404.

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use jeny_http::ApiError;
use jeny_web::WebApp;
use std::sync::Arc;

pub(crate) async fn fallback(
    State(app): State<Arc<WebApp>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    let is_api = ["/api", "/auth"]
        .iter()
        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")));
    if is_api || !(method == Method::GET || method == Method::HEAD) {
        return ApiError::not_found(format!("nothing is at {method} {path}")).into_response();
    }
    app.respond(path, &headers)
}
