//! `POST /api/v1/projects`.

use crate::api::ProjectsState;
use crate::{Project, ProjectInput};
use axum::extract::State;
use axum::response::Response;
use jeny_http::{ApiError, AppJson, AsDeployer, WriteErrors, json_created};

/// Creates a project. Needs the deployer role.
#[utoipa::path(
    post, path = "/api/v1/projects", tag = "projects",
    request_body = crate::model::NewProject,
    security(("bearer" = [])),
    responses((status = 201, description = "The project, with its ETag and Location", body = Project), WriteErrors)
)]
pub(crate) async fn create_project(
    AsDeployer(principal): AsDeployer,
    State(state): State<ProjectsState>,
    AppJson(input): AppJson<ProjectInput>,
) -> Result<Response, ApiError> {
    state
        .repository_schemes
        .check_field(input.repository.as_deref())?;
    let project = crate::create_project(&state.store, principal.actor(), input).await?;
    Ok(json_created(
        &format!("/api/v1/projects/{}", project.name),
        &project.etag(),
        &project,
    ))
}
