//! One file per action on deploys, and what they share: the `201 Created` answer, the query of
//! the three lists, and the check that a deploy named by id may be changed by its caller.

pub(super) mod cancel;
pub(super) mod create;
pub(super) mod get;
pub(super) mod latest;
pub(super) mod list;
pub(super) mod list_environment;
pub(super) mod list_project;
pub(super) mod redeploy;

use super::DeploysState;
use crate::{Deploy, DeployFilter, DeployStatus};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use jeny_core::Page;
use jeny_http::{ApiError, AppJson, QueryPairs};

/// `201 Created` with the deploy and its `Location`.
fn created(deploy: &Deploy) -> Response {
    let location = format!("/api/v1/deploys/{}", deploy.id);
    (
        StatusCode::CREATED,
        [(http::header::LOCATION, location)],
        AppJson(deploy.clone()),
    )
        .into_response()
}

/// A page of deploys: `filter` (what the path names) narrowed by the query's parameters, of
/// which only `known` are accepted.
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
