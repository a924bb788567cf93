//! `POST /api/v1/projects/{project}/environments/{environment}/deploys`.

use crate::api::DeploysState;
use crate::{Deploy, DeployRequest};
use axum::extract::{Path, State};
use axum::response::Response;
use jeny_http::{ApiError, AppJson, AsDeployer, WriteErrors};

/// Starts a deploy of the environment: it runs at once, or waits in the environment's queue
/// (`queue_position`). The command is the environment's override or the project's deploy
/// command.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{project}/environments/{environment}/deploys",
    tag = "deploys",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("environment" = String, Path, description = "The environment's name"),
    ),
    request_body = DeployRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The deploy, queued or running", body = Deploy),
        (status = 423, description = "The environment is locked", body = jeny_http::Problem, content_type = "application/problem+json"),
        WriteErrors,
    )
)]
pub(crate) async fn create_deploy(
    AsDeployer(principal): AsDeployer,
    State(state): State<DeploysState>,
    Path((project, environment)): Path<(String, String)>,
    AppJson(request): AppJson<DeployRequest>,
) -> Result<Response, ApiError> {
    let deploy = crate::create_deploy(
        &state.store,
        &state.links,
        principal.actor(),
        &project,
        &environment,
        request,
    )
    .await?;
    Ok(super::created(&deploy))
}
