//! `DELETE /api/v1/projects/{project}`.

use crate::api::ProjectsState;
use axum::extract::{Path, State};
use http::StatusCode;
use jeny_http::{ApiError, AsAdmin, IfMatch, WriteErrors};

/// Deletes a project with its environments and variables. Needs the admin role.
#[utoipa::path(
    delete, path = "/api/v1/projects/{project}", tag = "projects",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the project changed since"),
    ),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), WriteErrors)
)]
pub(crate) async fn delete_project(
    AsAdmin(principal): AsAdmin,
    State(state): State<ProjectsState>,
    Path(project): Path<String>,
    IfMatch(precondition): IfMatch,
) -> Result<StatusCode, ApiError> {
    crate::delete_project(&state.store, principal.actor(), &project, &precondition).await?;
    Ok(StatusCode::NO_CONTENT)
}
