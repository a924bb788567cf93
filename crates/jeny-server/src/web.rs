//! The web app. Until the UI lands (its own issue), a placeholder page says where things are.
//! Unknown `/api/` paths and non-GET requests get a problem+json 404; any other GET falls back
//! to the app's page, so app routes are deep-linkable.

use axum::http::{Method, Uri};
use axum::response::{Html, IntoResponse, Response};
use jeny_http::ApiError;

const INDEX: &str = include_str!("../../../web/index.html");

pub(crate) async fn fallback(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let is_api = path == "/api" || path.starts_with("/api/");
    if is_api || !(method == Method::GET || method == Method::HEAD) {
        return ApiError::not_found(format!("nothing is at {method} {path}")).into_response();
    }
    Html(INDEX).into_response()
}
