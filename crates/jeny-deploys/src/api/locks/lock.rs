//! `PUT /api/v1/projects/{project}/environments/{environment}/lock`.

use crate::api::DeploysState;
use crate::{EnvironmentLock, LockRequest};
use axum::extract::{Path, State};
use jeny_http::{ApiError, AppJson, AsDeployer, WriteErrors};

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
        WriteErrors,
    )
)]
pub(crate) async fn lock_environment(
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
