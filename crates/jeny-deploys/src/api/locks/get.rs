//! `GET /api/v1/projects/{project}/environments/{environment}/lock`.

use crate::LockState;
use crate::api::DeploysState;
use axum::extract::{Path, State};
use jeny_http::{ApiError, AppJson, Auth, ReadErrors};

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
        ReadErrors,
    )
)]
pub(crate) async fn get_lock(
    _auth: Auth,
    State(state): State<DeploysState>,
    Path((project, environment)): Path<(String, String)>,
) -> Result<AppJson<LockState>, ApiError> {
    let lock = crate::get_lock(&state.store, &project, &environment).await?;
    Ok(AppJson(LockState::from(lock)))
}
