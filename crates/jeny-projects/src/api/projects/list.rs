//! `GET /api/v1/projects`.

use crate::Project;
use crate::api::ProjectsState;
use axum::extract::State;
use jeny_core::Page;
use jeny_http::{ApiError, AppJson, Auth, QueryPairs, ReadErrors};

/// Lists projects by name.
#[utoipa::path(
    get, path = "/api/v1/projects", tag = "projects",
    params(jeny_http::Pagination),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of projects", body = Page<Project>), ReadErrors)
)]
pub(crate) async fn list_projects(
    _auth: Auth,
    State(state): State<ProjectsState>,
    query: QueryPairs,
) -> Result<AppJson<Page<Project>>, ApiError> {
    query.only(&["limit", "cursor"])?;
    Ok(AppJson(
        crate::list_projects(&state.store, &query.page()?).await?,
    ))
}
