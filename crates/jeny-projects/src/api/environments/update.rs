//! `PUT` and `PATCH /api/v1/projects/{project}/environments/{environment}`, honouring `If-Match`.

use crate::api::ProjectsState;
use crate::{Environment, EnvironmentInput};
use axum::extract::{Path, State};
use axum::response::Response;
use http::StatusCode;
use jeny_http::{ApiError, AppJson, AsDeployer, IfMatch, MergePatch, WriteErrors, json_with_etag};

/// Replaces an environment's writable fields (left-out fields take their defaults).
#[utoipa::path(
    put, path = "/api/v1/projects/{project}/environments/{environment}", tag = "environments",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("environment" = String, Path, description = "The environment's name"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the environment changed since"),
    ),
    request_body = EnvironmentInput,
    security(("bearer" = [])),
    responses((status = 200, description = "The updated environment", body = Environment), WriteErrors)
)]
pub(crate) async fn replace_environment(
    AsDeployer(principal): AsDeployer,
    State(state): State<ProjectsState>,
    Path((project, environment)): Path<(String, String)>,
    IfMatch(precondition): IfMatch,
    AppJson(input): AppJson<EnvironmentInput>,
) -> Result<Response, ApiError> {
    let updated = crate::update_environment(
        &state.store,
        principal.actor(),
        &project,
        &environment,
        &precondition,
        |_| Ok::<_, ApiError>(input),
    )
    .await?;
    Ok(json_with_etag(StatusCode::OK, &updated.etag(), &updated))
}

/// Changes some of an environment's fields with a JSON merge patch (RFC 7386):
/// `{"host_selector": {"az": "us-east-1a", "canary": null}}` adds one condition and drops another.
#[utoipa::path(
    patch, path = "/api/v1/projects/{project}/environments/{environment}", tag = "environments",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("environment" = String, Path, description = "The environment's name"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the environment changed since"),
    ),
    request_body(content = EnvironmentInput, content_type = "application/merge-patch+json"),
    security(("bearer" = [])),
    responses((status = 200, description = "The updated environment", body = Environment), WriteErrors)
)]
pub(crate) async fn patch_environment(
    AsDeployer(principal): AsDeployer,
    State(state): State<ProjectsState>,
    Path((project, environment)): Path<(String, String)>,
    IfMatch(precondition): IfMatch,
    patch: MergePatch,
) -> Result<Response, ApiError> {
    let updated = crate::update_environment(
        &state.store,
        principal.actor(),
        &project,
        &environment,
        &precondition,
        |current: EnvironmentInput| patch.apply(&current),
    )
    .await?;
    Ok(json_with_etag(StatusCode::OK, &updated.etag(), &updated))
}
