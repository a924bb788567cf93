//! `GET /api/v1/deploys/latest`.

use crate::api::DeploysState;
use crate::{Deploy, DeployStatus};
use axum::extract::State;
use jeny_http::{ApiError, AppJson, Auth, QueryPairs, ReadErrors};

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
        ReadErrors,
    )
)]
pub(crate) async fn latest_deploys(
    _auth: Auth,
    State(state): State<DeploysState>,
    query: QueryPairs,
) -> Result<AppJson<LatestDeploys>, ApiError> {
    query.only(&["project", "status"])?;
    let status = super::status_param(&query)?;
    let project = query.first("project");
    if let Some(project) = project {
        jeny_projects::get_project(&state.store, project).await?;
    }
    let items = crate::latest_deploys(&state.store, &state.links, project, status).await?;
    Ok(AppJson(LatestDeploys { items }))
}
