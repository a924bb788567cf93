//! `GET /api/v1/hosts/{host}`.

use crate::Host;
use crate::api::HostsState;
use axum::extract::{Path, State};
use axum::response::Response;
use http::StatusCode;
use jeny_http::{ApiError, Auth, json_with_etag};

/// One host, with its ETag for a later update.
#[utoipa::path(
    get,
    path = "/api/v1/hosts/{host}",
    tag = "hosts",
    params(("host" = String, Path, description = "The host's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The host", body = Host),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 404, description = "No such host", body = jeny_http::Problem),
    )
)]
pub(crate) async fn get_host(
    _auth: Auth,
    State(state): State<HostsState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let host = crate::get_host(&state.store, &name).await?;
    Ok(json_with_etag(StatusCode::OK, &host.etag(), &host))
}
