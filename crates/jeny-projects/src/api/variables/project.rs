//! A project's own variables: `/api/v1/projects/{project}/variables`.

use super::actions;
use crate::api::ProjectsState;
use crate::{Scope, Variable, VariableInput};
use axum::extract::{Path, State};
use axum::response::Response;
use http::StatusCode;
use jeny_core::Page;
use jeny_http::{
    ApiError, AppJson, AsDeployer, Auth, IfMatch, MergePatch, QueryPairs, ReadErrors, WriteErrors,
};

/// Lists a project's variables by key. Secret values are never shown.
#[utoipa::path(
    get, path = "/api/v1/projects/{project}/variables", tag = "variables",
    params(("project" = String, Path, description = "The project's name"), jeny_http::Pagination),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of variables", body = Page<Variable>), ReadErrors)
)]
pub(crate) async fn list_project_variables(
    _auth: Auth,
    State(state): State<ProjectsState>,
    Path(project): Path<String>,
    query: QueryPairs,
) -> Result<AppJson<Page<Variable>>, ApiError> {
    actions::list(
        &state,
        Scope {
            project: &project,
            environment: None,
        },
        &query,
    )
    .await
}

/// Creates a variable in a project; 409 if the key exists. Needs the deployer role.
#[utoipa::path(
    post, path = "/api/v1/projects/{project}/variables", tag = "variables",
    params(("project" = String, Path, description = "The project's name")),
    request_body = VariableInput,
    security(("bearer" = [])),
    responses((status = 201, description = "The variable", body = Variable), WriteErrors)
)]
pub(crate) async fn create_project_variable(
    AsDeployer(principal): AsDeployer,
    State(state): State<ProjectsState>,
    Path(project): Path<String>,
    AppJson(input): AppJson<VariableInput>,
) -> Result<Response, ApiError> {
    actions::create(
        &principal,
        &state,
        Scope {
            project: &project,
            environment: None,
        },
        input,
    )
    .await
}

/// One variable in a project, with its ETag.
#[utoipa::path(
    get, path = "/api/v1/projects/{project}/variables/{key}", tag = "variables",
    params(("project" = String, Path, description = "The project's name"), ("key" = String, Path, description = "The variable's key")),
    security(("bearer" = [])),
    responses((status = 200, description = "The variable", body = Variable), ReadErrors)
)]
pub(crate) async fn get_project_variable(
    _auth: Auth,
    State(state): State<ProjectsState>,
    Path((project, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    actions::get(
        &state,
        Scope {
            project: &project,
            environment: None,
        },
        &key,
    )
    .await
}

/// Creates or replaces a variable in a project (201 when created). For a secret, leaving `value` out
/// keeps the current value. Needs the deployer role.
#[utoipa::path(
    put, path = "/api/v1/projects/{project}/variables/{key}", tag = "variables",
    params(
        ("project" = String, Path, description = "The project's name"), ("key" = String, Path, description = "The variable's key"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the variable changed since"),
    ),
    request_body = VariableInput,
    security(("bearer" = [])),
    responses((status = 200, description = "The replaced variable", body = Variable), (status = 201, description = "The created variable", body = Variable), WriteErrors)
)]
pub(crate) async fn put_project_variable(
    AsDeployer(principal): AsDeployer,
    State(state): State<ProjectsState>,
    Path((project, key)): Path<(String, String)>,
    IfMatch(precondition): IfMatch,
    AppJson(input): AppJson<VariableInput>,
) -> Result<Response, ApiError> {
    actions::put(
        &principal,
        &state,
        Scope {
            project: &project,
            environment: None,
        },
        &key,
        &precondition,
        input,
    )
    .await
}

/// Changes a variable in a project with a JSON merge patch (RFC 7386). Needs the deployer role.
#[utoipa::path(
    patch, path = "/api/v1/projects/{project}/variables/{key}", tag = "variables",
    params(
        ("project" = String, Path, description = "The project's name"), ("key" = String, Path, description = "The variable's key"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the variable changed since"),
    ),
    request_body(content = VariableInput, content_type = "application/merge-patch+json"),
    security(("bearer" = [])),
    responses((status = 200, description = "The updated variable", body = Variable), WriteErrors)
)]
pub(crate) async fn patch_project_variable(
    AsDeployer(principal): AsDeployer,
    State(state): State<ProjectsState>,
    Path((project, key)): Path<(String, String)>,
    IfMatch(precondition): IfMatch,
    patch: MergePatch,
) -> Result<Response, ApiError> {
    actions::patch(
        &principal,
        &state,
        Scope {
            project: &project,
            environment: None,
        },
        &key,
        &precondition,
        patch,
    )
    .await
}

/// Deletes a variable in a project. Needs the deployer role.
#[utoipa::path(
    delete, path = "/api/v1/projects/{project}/variables/{key}", tag = "variables",
    params(
        ("project" = String, Path, description = "The project's name"), ("key" = String, Path, description = "The variable's key"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the variable changed since"),
    ),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), WriteErrors)
)]
pub(crate) async fn delete_project_variable(
    AsDeployer(principal): AsDeployer,
    State(state): State<ProjectsState>,
    Path((project, key)): Path<(String, String)>,
    IfMatch(precondition): IfMatch,
) -> Result<StatusCode, ApiError> {
    actions::delete(
        &principal,
        &state,
        Scope {
            project: &project,
            environment: None,
        },
        &key,
        &precondition,
    )
    .await
}
