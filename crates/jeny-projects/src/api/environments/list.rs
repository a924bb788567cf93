//! `GET /api/v1/projects/{project}/environments`.

use crate::Environment;
use crate::api::ProjectsState;
use axum::extract::{Path, State};
use jeny_core::Page;
use jeny_http::{ApiError, AppJson, Auth, QueryPairs, ReadErrors};

/// Lists a project's environments by name.
#[utoipa::path(
    get, path = "/api/v1/projects/{project}/environments", tag = "environments",
    params(("project" = String, Path, description = "The project's name"), jeny_http::Pagination),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of environments", body = Page<Environment>), ReadErrors)
)]
pub(crate) async fn list_environments(
    _auth: Auth,
    State(state): State<ProjectsState>,
    Path(project): Path<String>,
    query: QueryPairs,
) -> Result<AppJson<Page<Environment>>, ApiError> {
    query.only(&["limit", "cursor"])?;
    Ok(AppJson(
        crate::list_environments(&state.store, &project, &query.page()?).await?,
    ))
}
