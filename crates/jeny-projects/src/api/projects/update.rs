//! `PUT` and `PATCH /api/v1/projects/{project}`, both honouring `If-Match`.

use crate::api::ProjectsState;
use crate::{Project, ProjectInput};
use axum::extract::{Path, State};
use axum::response::Response;
use http::StatusCode;
use jeny_http::{ApiError, AppJson, AsDeployer, IfMatch, MergePatch, WriteErrors, json_with_etag};

/// Replaces a project's writable fields (left-out fields take their defaults). The name cannot change.
#[utoipa::path(
    put, path = "/api/v1/projects/{project}", tag = "projects",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the project changed since"),
    ),
    request_body = ProjectInput,
    security(("bearer" = [])),
    responses((status = 200, description = "The updated project", body = Project), WriteErrors)
)]
pub(crate) async fn replace_project(
    AsDeployer(principal): AsDeployer,
    State(state): State<ProjectsState>,
    Path(project): Path<String>,
    IfMatch(precondition): IfMatch,
    AppJson(input): AppJson<ProjectInput>,
) -> Result<Response, ApiError> {
    let refused = crate::api::refused_somewhere(&principal, &state, &project).await?;
    let updated = crate::update_project(
        &state.store,
        principal.actor(),
        &project,
        &precondition,
        |current: ProjectInput| {
            state
                .repository_schemes
                .check_field(input.repository.as_deref())?;
            refuse_reaching_change(refused, &current, &input)?;
            Ok::<_, ApiError>(input)
        },
    )
    .await?;
    Ok(json_with_etag(StatusCode::OK, &updated.etag(), &updated))
}

/// Changes some of a project's fields with a JSON merge patch (RFC 7386).
#[utoipa::path(
    patch, path = "/api/v1/projects/{project}", tag = "projects",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the project changed since"),
    ),
    request_body(content = ProjectInput, content_type = "application/merge-patch+json"),
    security(("bearer" = [])),
    responses((status = 200, description = "The updated project", body = Project), WriteErrors)
)]
pub(crate) async fn patch_project(
    AsDeployer(principal): AsDeployer,
    State(state): State<ProjectsState>,
    Path(project): Path<String>,
    IfMatch(precondition): IfMatch,
    patch: MergePatch,
) -> Result<Response, ApiError> {
    let refused = crate::api::refused_somewhere(&principal, &state, &project).await?;
    let updated = crate::update_project(
        &state.store,
        principal.actor(),
        &project,
        &precondition,
        |current: ProjectInput| {
            let wanted: ProjectInput = patch.apply(&current)?;
            state
                .repository_schemes
                .check_field(wanted.repository.as_deref())?;
            refuse_reaching_change(refused, &current, &wanted)?;
            Ok::<_, ApiError>(wanted)
        },
    )
    .await?;
    Ok(json_with_etag(StatusCode::OK, &updated.etag(), &updated))
}

/// A change of what the project's environments run (`ProjectInput::changes_what_deploys_run`)
/// needs the deployer role on each of them; the title and description do not.
fn refuse_reaching_change(
    refused: Option<jeny_core::Forbidden>,
    current: &ProjectInput,
    wanted: &ProjectInput,
) -> Result<(), ApiError> {
    match refused {
        Some(refused) if wanted.changes_what_deploys_run(current) => Err(refused.into()),
        _ => Ok(()),
    }
}
