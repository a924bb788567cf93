//! `POST /api/v1/hosts`: adds a host by hand.

use crate::api::HostsState;
use crate::{Host, HostInput};
use axum::extract::State;
use axum::response::Response;
use jeny_http::{ApiError, AppJson, AsDeployer, json_created};

/// Adds a host. Its source is `manual`.
#[utoipa::path(
    post,
    path = "/api/v1/hosts",
    tag = "hosts",
    request_body = crate::model::NewHost,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The host, with its ETag", body = Host),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 403, description = "Needs the deployer role", body = jeny_http::Problem),
        (status = 409, description = "A host with this name exists", body = jeny_http::Problem),
        (status = 422, description = "Invalid fields", body = jeny_http::Problem),
    )
)]
pub(crate) async fn create_host(
    AsDeployer(principal): AsDeployer,
    State(state): State<HostsState>,
    AppJson(input): AppJson<HostInput>,
) -> Result<Response, ApiError> {
    let host = crate::create_host(&state.store, principal.actor(), input).await?;
    let location = format!("/api/v1/hosts/{}", host.name);
    Ok(json_created(&location, &host.etag(), &host))
}
