//! `GET /api/v1/projects/{project}/environments/{environment}/deploys`.

use crate::api::DeploysState;
use crate::{Deploy, DeployFilter, DeployStatus};
use axum::extract::{Path, State};
use jeny_core::Page;
use jeny_http::{ApiError, AppJson, Auth, QueryPairs, ReadErrors};

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
        ReadErrors,
    )
)]
pub(crate) async fn list_environment_deploys(
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
    super::list(
        &state,
        &query,
        filter,
        &["status", "user", "limit", "cursor"],
    )
    .await
}
