//! `GET /api/v1/hosts`: every host, or those matching `?tag=key=value` conditions.

use crate::api::HostsState;
use crate::{GoneFilter, Host, TagSelector};
use axum::extract::State;
use jeny_core::Page;
use jeny_http::{ApiError, AppJson, Auth, QueryPairs};

/// Lists hosts by name. Repeat `tag` to require several tags: `?tag=role=web&tag=env=production`.
/// Hosts gone from where they are synced from are left out unless `?gone=include` (or
/// `?gone=only`).
#[utoipa::path(
    get,
    path = "/api/v1/hosts",
    tag = "hosts",
    params(
        ("tag" = Option<Vec<crate::TagConditionSchema>>, Query, max_items = 64, description = "A tag condition `key=value`; repeat for several, all must match"),
        ("gone" = Option<String>, Query, pattern = "^(exclude|include|only)$", description = "`exclude` (default), `include` or `only`: hosts gone from their sync"),
        jeny_http::Pagination,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of hosts", body = Page<Host>),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 422, description = "A bad tag condition or page parameter", body = jeny_http::Problem),
    )
)]
pub(crate) async fn list_hosts(
    _auth: Auth,
    State(state): State<HostsState>,
    query: QueryPairs,
) -> Result<AppJson<Page<Host>>, ApiError> {
    query.only(&["tag", "gone", "limit", "cursor"])?;
    let page = query.page()?;
    let selector = TagSelector::from_conditions("tag", query.all("tag"))?;
    let gone = match query.first("gone") {
        None => GoneFilter::Exclude,
        Some(raw) => GoneFilter::parse(raw).ok_or_else(|| {
            ApiError::invalid("gone", format!("gone={raw:?}: exclude, include or only"))
        })?,
    };
    Ok(AppJson(
        crate::list_hosts_filtered(&state.store, &selector, gone, &page).await?,
    ))
}
