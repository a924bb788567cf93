//! Starting, reading, listing, cancelling and redeploying deploys.

use super::DeploysState;
use crate::{Deploy, DeployFilter, DeployRequest, DeployStatus};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use jeny_core::Page;
use jeny_http::{ApiError, AppJson, AsDeployer, Auth, QueryPairs};

fn created(deploy: &Deploy) -> Response {
    let location = format!("/api/v1/deploys/{}", deploy.id);
    (
        StatusCode::CREATED,
        [(http::header::LOCATION, location)],
        AppJson(deploy.clone()),
    )
        .into_response()
}

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
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 403, description = "Needs the deployer role", body = jeny_http::Problem),
        (status = 404, description = "No such project or environment", body = jeny_http::Problem),
        (status = 422, description = "Invalid fields, no deploy command, or no host targeted", body = jeny_http::Problem),
        (status = 423, description = "The environment is locked", body = jeny_http::Problem),
    )
)]
pub(super) async fn create_deploy(
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
    Ok(created(&deploy))
}

async fn list(
    state: &DeploysState,
    query: &QueryPairs,
    mut filter: DeployFilter,
    known: &[&str],
) -> Result<AppJson<Page<Deploy>>, ApiError> {
    query.only(known)?;
    let page = query.page()?;
    filter.status = status_param(query)?;
    if let Some(user) = query.first("user") {
        filter.user = Some(user.to_owned());
    }
    if let Some(project) = query.first("project") {
        filter.project = Some(project.to_owned());
    }
    if let Some(environment) = query.first("environment") {
        filter.environment = Some(environment.to_owned());
    }
    Ok(AppJson(
        crate::list_deploys(&state.store, &state.links, &filter, &page).await?,
    ))
}

/// The `status` parameter, if given.
fn status_param(query: &QueryPairs) -> Result<Option<DeployStatus>, ApiError> {
    let Some(status) = query.first("status") else {
        return Ok(None);
    };
    DeployStatus::parse(status).map(Some).ok_or_else(|| {
        ApiError::invalid(
            "status",
            format!(
                "unknown status {status:?}; one of: {}",
                DeployStatus::ALL.map(DeployStatus::as_str).join(", ")
            ),
        )
    })
}

/// The newest deploy of each environment.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LatestDeploys {
    /// One per environment that has a deploy (with the status asked for), by project and
    /// environment name.
    pub items: Vec<Deploy>,
}

/// The newest deploy of each environment, of one project or of all: with `status=succeeded`,
/// what each environment runs; without, what happened last (running, queued, failed...). One
/// request for a dashboard of every environment.
#[utoipa::path(
    get,
    path = "/api/v1/deploys/latest",
    tag = "deploys",
    params(
        ("project" = Option<String>, Query, description = "Only this project's environments"),
        ("status" = Option<DeployStatus>, Query, description = "The newest deploy with this status"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The newest deploy of each environment", body = LatestDeploys),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 404, description = "No such project", body = jeny_http::Problem),
        (status = 422, description = "A bad parameter", body = jeny_http::Problem),
    )
)]
pub(super) async fn latest_deploys(
    _auth: Auth,
    State(state): State<DeploysState>,
    query: QueryPairs,
) -> Result<AppJson<LatestDeploys>, ApiError> {
    query.only(&["project", "status"])?;
    let status = status_param(&query)?;
    let project = query.first("project");
    if let Some(project) = project {
        jeny_projects::get_project(&state.store, project).await?;
    }
    let items = crate::latest_deploys(&state.store, &state.links, project, status).await?;
    Ok(AppJson(LatestDeploys { items }))
}

/// Lists deploys newest first, optionally of one project, environment and status.
#[utoipa::path(
    get,
    path = "/api/v1/deploys",
    tag = "deploys",
    params(
        ("project" = Option<String>, Query, description = "Only this project's deploys"),
        ("environment" = Option<String>, Query, description = "Only deploys of environments with this name"),
        ("status" = Option<DeployStatus>, Query, description = "Only deploys with this status"),
        ("user" = Option<String>, Query, description = "Only deploys started by this email"),
        jeny_http::Pagination,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of deploys", body = Page<Deploy>),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 422, description = "A bad parameter", body = jeny_http::Problem),
    )
)]
pub(super) async fn list_deploys(
    _auth: Auth,
    State(state): State<DeploysState>,
    query: QueryPairs,
) -> Result<AppJson<Page<Deploy>>, ApiError> {
    let known = [
        "project",
        "environment",
        "status",
        "user",
        "limit",
        "cursor",
    ];
    list(&state, &query, DeployFilter::default(), &known).await
}

/// Lists a project's deploys newest first.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/deploys",
    tag = "deploys",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("environment" = Option<String>, Query, description = "Only this environment's deploys"),
        ("status" = Option<DeployStatus>, Query, description = "Only deploys with this status"),
        ("user" = Option<String>, Query, description = "Only deploys started by this email"),
        jeny_http::Pagination,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of deploys", body = Page<Deploy>),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 404, description = "No such project", body = jeny_http::Problem),
        (status = 422, description = "A bad parameter", body = jeny_http::Problem),
    )
)]
pub(super) async fn list_project_deploys(
    _auth: Auth,
    State(state): State<DeploysState>,
    Path(project): Path<String>,
    query: QueryPairs,
) -> Result<AppJson<Page<Deploy>>, ApiError> {
    jeny_projects::get_project(&state.store, &project).await?;
    let filter = DeployFilter {
        project: Some(project),
        ..DeployFilter::default()
    };
    list(
        &state,
        &query,
        filter,
        &["environment", "status", "user", "limit", "cursor"],
    )
    .await
}

/// Lists an environment's deploys newest first.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/environments/{environment}/deploys",
    tag = "deploys",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("environment" = String, Path, description = "The environment's name"),
        ("status" = Option<DeployStatus>, Query, description = "Only deploys with this status"),
        ("user" = Option<String>, Query, description = "Only deploys started by this email"),
        jeny_http::Pagination,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of deploys", body = Page<Deploy>),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 404, description = "No such project or environment", body = jeny_http::Problem),
        (status = 422, description = "A bad parameter", body = jeny_http::Problem),
    )
)]
pub(super) async fn list_environment_deploys(
    _auth: Auth,
    State(state): State<DeploysState>,
    Path((project, environment)): Path<(String, String)>,
    query: QueryPairs,
) -> Result<AppJson<Page<Deploy>>, ApiError> {
    jeny_projects::get_environment(&state.store, &project, &environment).await?;
    let filter = DeployFilter {
        project: Some(project),
        environment: Some(environment),
        ..DeployFilter::default()
    };
    list(
        &state,
        &query,
        filter,
        &["status", "user", "limit", "cursor"],
    )
    .await
}

/// One deploy.
#[utoipa::path(
    get,
    path = "/api/v1/deploys/{id}",
    tag = "deploys",
    params(("id" = String, Path, description = "The deploy's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The deploy", body = Deploy),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 404, description = "No such deploy", body = jeny_http::Problem),
    )
)]
pub(super) async fn get_deploy(
    _auth: Auth,
    State(state): State<DeploysState>,
    Path(id): Path<String>,
) -> Result<AppJson<Deploy>, ApiError> {
    Ok(AppJson(
        crate::get_deploy(&state.store, &state.links, &id).await?,
    ))
}

/// Cancels a deploy. A queued one ends `cancelled` at once; a running one's command gets SIGTERM
/// (its whole process group), then SIGKILL after the environment's grace period, and the deploy
/// ends `cancelled` shortly after this answers.
#[utoipa::path(
    post,
    path = "/api/v1/deploys/{id}/cancel",
    tag = "deploys",
    params(("id" = String, Path, description = "The deploy's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The deploy, cancelled or being cancelled", body = Deploy),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 403, description = "Needs the deployer role", body = jeny_http::Problem),
        (status = 404, description = "No such deploy", body = jeny_http::Problem),
        (status = 409, description = "The deploy has already finished", body = jeny_http::Problem),
    )
)]
pub(super) async fn cancel_deploy(
    Auth(principal): Auth,
    State(state): State<DeploysState>,
    Path(id): Path<String>,
) -> Result<AppJson<Deploy>, ApiError> {
    require_deployer_of(&state, &principal, &id).await?;
    Ok(AppJson(
        crate::cancel_deploy(&state.store, &state.links, principal.actor(), &id).await?,
    ))
}

/// Deploys the same thing again: the commit the deploy ran (or its ref, when it recorded no
/// commit) with the same host filter. Redeploying an older deploy is how to roll back.
#[utoipa::path(
    post,
    path = "/api/v1/deploys/{id}/redeploy",
    tag = "deploys",
    params(("id" = String, Path, description = "The deploy to run again")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new deploy", body = Deploy),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 403, description = "Needs the deployer role", body = jeny_http::Problem),
        (status = 404, description = "No such deploy", body = jeny_http::Problem),
        (status = 422, description = "The deploy can no longer run (no host targeted, no command)", body = jeny_http::Problem),
        (status = 423, description = "The environment is locked", body = jeny_http::Problem),
    )
)]
pub(super) async fn redeploy(
    Auth(principal): Auth,
    State(state): State<DeploysState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_deployer_of(&state, &principal, &id).await?;
    let deploy = crate::redeploy(&state.store, &state.links, principal.actor(), &id).await?;
    Ok(created(&deploy))
}

/// A deploy named by id is acted on with the caller's role on its environment (a deployer on
/// staging may cancel staging's deploys, not production's).
async fn require_deployer_of(
    state: &DeploysState,
    principal: &jeny_core::Principal,
    id: &str,
) -> Result<(), ApiError> {
    principal.require(jeny_core::Role::Viewer)?;
    let deploy = crate::get_deploy(&state.store, &state.links, id).await?;
    principal.require_in(
        &deploy.project,
        Some(&deploy.environment),
        jeny_core::Role::Deployer,
    )?;
    Ok(())
}
