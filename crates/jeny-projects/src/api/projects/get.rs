//! `GET /api/v1/projects/{project}`.

use crate::Project;
use crate::api::ProjectsState;
use axum::extract::{Path, State};
use axum::response::Response;
use http::StatusCode;
use jeny_http::{ApiError, Auth, ReadErrors, json_with_etag};

/// One project, with its ETag.
#[utoipa::path(
    get, path = "/api/v1/projects/{project}", tag = "projects",
    params(("project" = String, Path, description = "The project's name")),
    security(("bearer" = [])),
    responses((status = 200, description = "The project", body = Project), ReadErrors)
)]
pub(crate) async fn get_project(
    _auth: Auth,
    State(state): State<ProjectsState>,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    let project = crate::get_project(&state.store, &project).await?;
    Ok(json_with_etag(StatusCode::OK, &project.etag(), &project))
}
