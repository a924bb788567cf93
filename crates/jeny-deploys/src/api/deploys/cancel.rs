//! `POST /api/v1/deploys/{id}/cancel`.

use crate::Deploy;
use crate::api::DeploysState;
use axum::extract::{Path, State};
use jeny_http::{ApiError, AppJson, Auth, WriteErrors};

/// Cancels a deploy. A queued one ends `cancelled` at once; a running one's command gets SIGTERM
/// (its whole process group), then SIGKILL after the environment's grace period, and the deploy
/// ends `cancelled` shortly after this answers.
#[utoipa::path(
    post,
    path = "/api/v1/deploys/{id}/cancel",
    tag = "deploys",
    params(("id" = String, Path, description = "The deploy's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The deploy, cancelled or being cancelled", body = Deploy),
        WriteErrors,
    )
)]
pub(crate) async fn cancel_deploy(
    Auth(principal): Auth,
    State(state): State<DeploysState>,
    Path(id): Path<String>,
) -> Result<AppJson<Deploy>, ApiError> {
    super::require_deployer_of(&state, &principal, &id).await?;
    Ok(AppJson(
        crate::cancel_deploy(&state.store, &state.links, principal.actor(), &id).await?,
    ))
}
