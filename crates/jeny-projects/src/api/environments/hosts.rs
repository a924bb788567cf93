//! `GET /api/v1/projects/{project}/environments/{environment}/hosts`: what a deploy would target.

use crate::api::ProjectsState;
use axum::extract::{Path, State};
use jeny_core::Page;
use jeny_hosts::Host;
use jeny_http::{ApiError, AppJson, Auth, QueryPairs, ReadErrors};

/// The hosts the environment's `host_selector` picks, by name. An empty selector picks none.
#[utoipa::path(
    get, path = "/api/v1/projects/{project}/environments/{environment}/hosts", tag = "environments",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("environment" = String, Path, description = "The environment's name"),
        jeny_http::Pagination,
    ),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of hosts", body = Page<Host>), ReadErrors)
)]
pub(crate) async fn environment_hosts(
    _auth: Auth,
    State(state): State<ProjectsState>,
    Path((project, environment)): Path<(String, String)>,
    query: QueryPairs,
) -> Result<AppJson<Page<Host>>, ApiError> {
    query.only(&["limit", "cursor"])?;
    Ok(AppJson(
        crate::environment_hosts(&state.store, &project, &environment, &query.page()?).await?,
    ))
}
