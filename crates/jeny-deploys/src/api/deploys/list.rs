//! `GET /api/v1/deploys`.

use crate::api::DeploysState;
use crate::{Deploy, DeployFilter, DeployStatus};
use axum::extract::State;
use jeny_core::Page;
use jeny_http::{ApiError, AppJson, Auth, QueryPairs, ReadErrors};

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
        ReadErrors,
    )
)]
pub(crate) async fn list_deploys(
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
    super::list(&state, &query, DeployFilter::default(), &known).await
}
