//! `GET /api/v1/deploys/{id}`.

use crate::Deploy;
use crate::api::DeploysState;
use axum::extract::{Path, State};
use jeny_http::{ApiError, AppJson, Auth, ReadErrors};

/// One deploy.
#[utoipa::path(
    get,
    path = "/api/v1/deploys/{id}",
    tag = "deploys",
    params(("id" = String, Path, description = "The deploy's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The deploy", body = Deploy),
        ReadErrors,
    )
)]
pub(crate) async fn get_deploy(
    _auth: Auth,
    State(state): State<DeploysState>,
    Path(id): Path<String>,
) -> Result<AppJson<Deploy>, ApiError> {
    Ok(AppJson(
        crate::get_deploy(&state.store, &state.links, &id).await?,
    ))
}
