//! `PUT` and `PATCH /api/v1/hosts/{host}`: replace the writable fields, or merge-patch them.
//! Both honour `If-Match`.

use crate::api::HostsState;
use crate::{Host, HostInput};
use axum::extract::{Path, State};
use axum::response::Response;
use http::StatusCode;
use jeny_http::{ApiError, AppJson, AsDeployer, IfMatch, MergePatch, json_with_etag};

/// Replaces a host's address and tags. The name cannot change.
#[utoipa::path(
    put,
    path = "/api/v1/hosts/{host}",
    tag = "hosts",
    params(
        ("host" = String, Path, description = "The host's name"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the host changed since"),
    ),
    request_body = HostInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated host", body = Host),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 403, description = "Needs the deployer role", body = jeny_http::Problem),
        (status = 404, description = "No such host", body = jeny_http::Problem),
        (status = 409, description = "The host is kept in sync from AWS: change it there", body = jeny_http::Problem),
        (status = 412, description = "The host changed since the If-Match ETag", body = jeny_http::Problem),
        (status = 422, description = "Invalid fields", body = jeny_http::Problem),
    )
)]
pub(crate) async fn replace_host(
    AsDeployer(principal): AsDeployer,
    State(state): State<HostsState>,
    Path(name): Path<String>,
    IfMatch(precondition): IfMatch,
    AppJson(input): AppJson<HostInput>,
) -> Result<Response, ApiError> {
    let host = crate::update_host(
        &state.store,
        principal.actor(),
        &name,
        &precondition,
        |_| Ok::<_, ApiError>(input),
    )
    .await?;
    Ok(json_with_etag(StatusCode::OK, &host.etag(), &host))
}

/// Changes some of a host's fields with a JSON merge patch (RFC 7386): `{"tags": {"az": null}}`
/// removes the `az` tag and keeps the others.
#[utoipa::path(
    patch,
    path = "/api/v1/hosts/{host}",
    tag = "hosts",
    params(
        ("host" = String, Path, description = "The host's name"),
        ("If-Match" = Option<String>, Header, description = "The ETag you read; 412 if the host changed since"),
    ),
    request_body(content = HostInput, content_type = "application/merge-patch+json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated host", body = Host),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 403, description = "Needs the deployer role", body = jeny_http::Problem),
        (status = 404, description = "No such host", body = jeny_http::Problem),
        (status = 409, description = "The host is kept in sync from AWS: change it there", body = jeny_http::Problem),
        (status = 412, description = "The host changed since the If-Match ETag", body = jeny_http::Problem),
        (status = 422, description = "Invalid fields", body = jeny_http::Problem),
    )
)]
pub(crate) async fn patch_host(
    AsDeployer(principal): AsDeployer,
    State(state): State<HostsState>,
    Path(name): Path<String>,
    IfMatch(precondition): IfMatch,
    patch: MergePatch,
) -> Result<Response, ApiError> {
    let host = crate::update_host(
        &state.store,
        principal.actor(),
        &name,
        &precondition,
        |current: HostInput| patch.apply(&current),
    )
    .await?;
    Ok(json_with_etag(StatusCode::OK, &host.etag(), &host))
}
