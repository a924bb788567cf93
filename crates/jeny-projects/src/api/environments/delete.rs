//! `DELETE /api/v1/projects/{project}/environments/{environment}`.

use crate::api::ProjectsState;
use axum::extract::{Path, State};
use http::StatusCode;
use jeny_http::{ApiError, AsDeployer, IfMatch, WriteErrors};

/// Deletes an environment with its variables. Needs the deployer role.
#[utoipa::path(
    delete, path = "/api/v1/projects/{project}/environments/{environment}", tag = "environments",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("environment" = String, Path, description = "The environment's name"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the environment changed since"),
    ),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), WriteErrors)
)]
pub(crate) async fn delete_environment(
    AsDeployer(principal): AsDeployer,
    State(state): State<ProjectsState>,
    Path((project, environment)): Path<(String, String)>,
    IfMatch(precondition): IfMatch,
) -> Result<StatusCode, ApiError> {
    crate::delete_environment(
        &state.store,
        principal.actor(),
        &project,
        &environment,
        &precondition,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
