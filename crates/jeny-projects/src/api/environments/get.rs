//! `GET /api/v1/projects/{project}/environments/{environment}`.

use crate::Environment;
use crate::api::ProjectsState;
use axum::extract::{Path, State};
use axum::response::Response;
use http::StatusCode;
use jeny_http::{ApiError, Auth, ReadErrors, json_with_etag};

/// One environment, with its ETag.
#[utoipa::path(
    get, path = "/api/v1/projects/{project}/environments/{environment}", tag = "environments",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("environment" = String, Path, description = "The environment's name"),
    ),
    security(("bearer" = [])),
    responses((status = 200, description = "The environment", body = Environment), ReadErrors)
)]
pub(crate) async fn get_environment(
    _auth: Auth,
    State(state): State<ProjectsState>,
    Path((project, environment)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let environment = crate::get_environment(&state.store, &project, &environment).await?;
    Ok(json_with_etag(
        StatusCode::OK,
        &environment.etag(),
        &environment,
    ))
}
