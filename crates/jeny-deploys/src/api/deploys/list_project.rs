//! `GET /api/v1/projects/{project}/deploys`.

use crate::api::DeploysState;
use crate::{Deploy, DeployFilter, DeployStatus};
use axum::extract::{Path, State};
use jeny_core::Page;
use jeny_http::{ApiError, AppJson, Auth, QueryPairs, ReadErrors};

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
        ReadErrors,
    )
)]
pub(crate) async fn list_project_deploys(
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
    super::list(
        &state,
        &query,
        filter,
        &["environment", "status", "user", "limit", "cursor"],
    )
    .await
}
