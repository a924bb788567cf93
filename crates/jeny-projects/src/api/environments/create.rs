//! `POST /api/v1/projects/{project}/environments`.

use crate::api::ProjectsState;
use crate::{Environment, EnvironmentInput};
use axum::extract::{Path, State};
use axum::response::Response;
use jeny_http::{ApiError, AppJson, AsDeployer, WriteErrors, json_created};

/// Creates an environment in a project. Needs the deployer role.
#[utoipa::path(
    post, path = "/api/v1/projects/{project}/environments", tag = "environments",
    params(("project" = String, Path, description = "The project's name")),
    request_body = crate::model::NewEnvironment,
    security(("bearer" = [])),
    responses((status = 201, description = "The environment, with its ETag and Location", body = Environment), WriteErrors)
)]
pub(crate) async fn create_environment(
    AsDeployer(principal): AsDeployer,
    State(state): State<ProjectsState>,
    Path(project): Path<String>,
    AppJson(input): AppJson<EnvironmentInput>,
) -> Result<Response, ApiError> {
    let environment =
        crate::create_environment(&state.store, principal.actor(), &project, input).await?;
    let location = format!(
        "/api/v1/projects/{}/environments/{}",
        environment.project, environment.name
    );
    Ok(json_created(&location, &environment.etag(), &environment))
}
