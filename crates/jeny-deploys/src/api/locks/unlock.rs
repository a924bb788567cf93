//! `DELETE /api/v1/projects/{project}/environments/{environment}/lock`.

use crate::api::DeploysState;
use axum::extract::{Path, State};
use http::StatusCode;
use jeny_http::{ApiError, AsDeployer, WriteErrors};

/// Unlocks the environment.
#[utoipa::path(
    delete,
    path = "/api/v1/projects/{project}/environments/{environment}/lock",
    tag = "deploys",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("environment" = String, Path, description = "The environment's name"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Unlocked"),
        WriteErrors,
    )
)]
pub(crate) async fn unlock_environment(
    AsDeployer(principal): AsDeployer,
    State(state): State<DeploysState>,
    Path((project, environment)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    crate::unlock_environment(&state.store, principal.actor(), &project, &environment).await?;
    Ok(StatusCode::NO_CONTENT)
}
