//! `DELETE /api/v1/hosts/{host}`.

use crate::api::HostsState;
use axum::extract::{Path, State};
use http::StatusCode;
use jeny_http::{ApiError, AsDeployer, IfMatch};

/// Removes a host. Honours `If-Match`.
#[utoipa::path(
    delete,
    path = "/api/v1/hosts/{host}",
    tag = "hosts",
    params(
        ("host" = String, Path, description = "The host's name"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the host changed since"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 403, description = "Needs the deployer role", body = jeny_http::Problem),
        (status = 404, description = "No such host", body = jeny_http::Problem),
        (status = 409, description = "The host is kept in sync from AWS: change it there", body = jeny_http::Problem),
        (status = 412, description = "The host changed since the If-Match ETag", body = jeny_http::Problem),
    )
)]
pub(crate) async fn delete_host(
    AsDeployer(principal): AsDeployer,
    State(state): State<HostsState>,
    Path(name): Path<String>,
    IfMatch(precondition): IfMatch,
) -> Result<StatusCode, ApiError> {
    crate::delete_host(&state.store, principal.actor(), &name, &precondition).await?;
    Ok(StatusCode::NO_CONTENT)
}
