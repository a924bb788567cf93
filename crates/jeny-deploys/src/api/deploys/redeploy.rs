//! `POST /api/v1/deploys/{id}/redeploy`.

use crate::Deploy;
use crate::api::DeploysState;
use axum::extract::{Path, State};
use axum::response::Response;
use jeny_http::{ApiError, Auth, WriteErrors};

/// Deploys the same thing again: the commit the deploy ran (or its ref, when it recorded no
/// commit) with the same host filter. Redeploying an older deploy is how to roll back.
#[utoipa::path(
    post,
    path = "/api/v1/deploys/{id}/redeploy",
    tag = "deploys",
    params(("id" = String, Path, description = "The deploy to run again")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new deploy", body = Deploy),
        (status = 423, description = "The environment is locked", body = jeny_http::Problem, content_type = "application/problem+json"),
        WriteErrors,
    )
)]
pub(crate) async fn redeploy(
    Auth(principal): Auth,
    State(state): State<DeploysState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    super::require_deployer_of(&state, &principal, &id).await?;
    let deploy = crate::redeploy(&state.store, &state.links, principal.actor(), &id).await?;
    Ok(super::created(&deploy))
}
