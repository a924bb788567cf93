//! Locking an environment against new deploys.

use super::DeploysState;
use crate::{EnvironmentLock, LockRequest, LockState};
use axum::extract::{Path, State};
use http::StatusCode;
use jeny_http::{ApiError, AppJson, AsDeployer, Auth};

/// Whether the environment is locked, and the lock if it is.
///
/// An unlocked environment answers `{"locked": false}`; 404 means there is no such environment.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{project}/environments/{environment}/lock",
    tag = "deploys",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("environment" = String, Path, description = "The environment's name"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Whether it is locked, with the lock in force if it is", body = LockState),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 404, description = "No such environment", body = jeny_http::Problem),
    )
)]
pub(super) async fn get_lock(
    _auth: Auth,
    State(state): State<DeploysState>,
    Path((project, environment)): Path<(String, String)>,
) -> Result<AppJson<LockState>, ApiError> {
    let lock = crate::get_lock(&state.store, &project, &environment).await?;
    Ok(AppJson(LockState::from(lock)))
}

/// Locks the environment: new deploys are refused (423, with the reason) until it is unlocked
/// or the lock expires. Deploys already queued or running go on. Locking a locked environment
/// replaces its lock.
#[utoipa::path(
    put,
    path = "/api/v1/projects/{project}/environments/{environment}/lock",
    tag = "deploys",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("environment" = String, Path, description = "The environment's name"),
    ),
    request_body = LockRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lock", body = EnvironmentLock),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 403, description = "Needs the deployer role", body = jeny_http::Problem),
        (status = 404, description = "No such environment", body = jeny_http::Problem),
        (status = 422, description = "Invalid fields", body = jeny_http::Problem),
    )
)]
pub(super) async fn lock_environment(
    AsDeployer(principal): AsDeployer,
    State(state): State<DeploysState>,
    Path((project, environment)): Path<(String, String)>,
    AppJson(request): AppJson<LockRequest>,
) -> Result<AppJson<EnvironmentLock>, ApiError> {
    Ok(AppJson(
        crate::lock_environment(
            &state.store,
            principal.actor(),
            &project,
            &environment,
            request,
        )
        .await?,
    ))
}

/// Unlocks the environment.
#[utoipa::path(
    delete,
    path = "/api/v1/projects/{project}/environments/{environment}/lock",
    tag = "deploys",
    params(
        ("project" = String, Path, description = "The project's name"),
        ("environment" = String, Path, description = "The environment's name"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Unlocked"),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 403, description = "Needs the deployer role", body = jeny_http::Problem),
        (status = 404, description = "Not locked, or no such environment", body = jeny_http::Problem),
    )
)]
pub(super) async fn unlock_environment(
    AsDeployer(principal): AsDeployer,
    State(state): State<DeploysState>,
    Path((project, environment)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    crate::unlock_environment(&state.store, principal.actor(), &project, &environment).await?;
    Ok(StatusCode::NO_CONTENT)
}
