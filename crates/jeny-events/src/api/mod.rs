//! `GET /api/v1/events`: the audit trail as a JSON page, or live as server-sent events.

mod list;

use axum::Router;
use axum::routing::get;
use jeny_store::Store;
use tokio_util::sync::CancellationToken;

/// What the events routes need.
#[derive(Clone)]
pub struct EventsState {
    pub store: Store,
    /// Ends live streams when the server shuts down.
    pub shutdown: CancellationToken,
}

pub fn routes(state: EventsState) -> Router {
    Router::new()
        .route("/api/v1/events", get(list::list_events))
        .with_state(state)
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list::list_events), components(schemas(crate::Event)))]
pub struct EventsApi;
