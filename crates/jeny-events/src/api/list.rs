//! Lists events after a position, or follows them live.

use super::EventsState;
use crate::{Event, EventFilter, read_after};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use jeny_core::{Page, PageRequest};
use jeny_http::sse::{last_event_id, wants_event_stream};
use jeny_http::{ApiError, AppJson, AuthStream, QueryPairs};
use jeny_store::{Channel, Store};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The parameters of `GET /api/v1/events` (parsed from `QueryPairs`, documented here).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "documents the parameters for OpenAPI; parsing is done by `parse_query`"
)]
pub struct EventQuery {
    /// Only events with an id greater than this (the `id` of the last event you saw), or
    /// `latest`: only events from now on (a live view that has just read the current state).
    #[param(pattern = "^([0-9]{0,18}|latest)$")]
    after: Option<String>,
    /// Same as `after`, for symmetry with other lists: the `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{0,18}$")]
    cursor: Option<String>,
    /// How many events per page, 1 to 500 (default 50). Ignored for live streams.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
    /// Only this project's events.
    project: Option<String>,
    /// Only events whose type starts with this, such as `project.` or `variable.set`.
    #[param(rename = "type")]
    kind: Option<String>,
}

/// Where a list or a stream starts.
enum Start {
    After(i64),
    /// After the newest event now recorded.
    Latest,
}

struct ParsedQuery {
    after: Start,
    limit: usize,
    filter: EventFilter,
}

fn parse_query(query: &QueryPairs) -> Result<ParsedQuery, ApiError> {
    query.only(&["after", "cursor", "limit", "project", "type"])?;
    let position = |field: &str, text: &str| {
        text.parse::<i64>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| {
                ApiError::invalid(
                    field,
                    format!("{field} must be an event id (a whole number)"),
                )
            })
    };
    // An empty value means none, as for every other list's cursor.
    let nonempty = |field: &str| query.first(field).filter(|value| !value.is_empty());
    let after = match (nonempty("cursor"), nonempty("after")) {
        (Some(cursor), _) => Start::After(position("cursor", cursor)?),
        (None, Some("latest")) => Start::Latest,
        (None, Some(after)) => Start::After(position("after", after).map_err(|_| {
            ApiError::invalid(
                "after",
                "after must be an event id (a whole number) or `latest`",
            )
        })?),
        (None, None) => Start::After(0),
    };
    Ok(ParsedQuery {
        after,
        limit: query.limit()?.unwrap_or(PageRequest::DEFAULT_LIMIT),
        filter: EventFilter {
            project: query.first("project").map(str::to_owned),
            kind_prefix: query.first("type").map(str::to_owned),
        },
    })
}

/// Lists events oldest first. With `Accept: text/event-stream`, streams them live instead: each
/// SSE message has the event id as `id`, its type as `event` and the event as JSON `data`; a
/// reconnecting client resumes after its `Last-Event-ID`. A live stream ends within seconds of
/// its token's revocation or expiry, or its session's end.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    params(EventQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events, or a live stream with Accept: text/event-stream", body = Page<Event>),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 422, description = "Bad parameters", body = jeny_http::Problem),
    )
)]
pub(super) async fn list_events(
    AuthStream(_principal, guard): AuthStream,
    State(state): State<EventsState>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let ParsedQuery {
        after,
        limit,
        filter,
    } = parse_query(&query)?;
    let after = match after {
        Start::After(id) => id,
        Start::Latest => crate::latest_id(&state.store).await?,
    };
    if wants_event_stream(&headers) {
        let resume_after = last_event_id(&headers).unwrap_or(after);
        let stream = follow(state.store, resume_after, filter, state.shutdown);
        // ends with the credential: revoked, signed out, expired
        return Ok(Sse::new(guard.watch(stream))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let events = read_after(&state.store, after, limit as i64 + 1, &filter).await?;
    let page = Page::from_rows(events, limit, |event| event.id.to_string());
    // The cursor of an event list is the plain id, so `after` and `cursor` mean the same.
    let next_cursor = page
        .next_cursor
        .as_ref()
        .and(page.items.last())
        .map(|event| event.id.to_string());
    Ok(AppJson(Page {
        items: page.items,
        next_cursor,
    })
    .into_response())
}

struct Follow {
    store: Store,
    position: i64,
    filter: EventFilter,
    buffered: VecDeque<Event>,
    wake: tokio::sync::watch::Receiver<u64>,
    shutdown: CancellationToken,
}

/// A live stream of events after `position`: reads what is there, then waits for commits.
fn follow(
    store: Store,
    position: i64,
    filter: EventFilter,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<sse::Event, Infallible>> {
    let wake = store.subscribe(Channel::Events);
    let state = Follow {
        store,
        position,
        filter,
        buffered: VecDeque::new(),
        wake,
        shutdown,
    };
    stream::unfold(state, |mut state| async move {
        loop {
            if let Some(event) = state.buffered.pop_front() {
                let message = sse::Event::default()
                    .id(event.id.to_string())
                    .event(event.kind.clone())
                    .data(serde_json::to_string(&event).unwrap_or_default());
                return Some((Ok(message), state));
            }
            if state.shutdown.is_cancelled() {
                return None;
            }
            state.wake.borrow_and_update();
            match read_after(
                &state.store,
                state.position,
                PageRequest::MAX_LIMIT as i64,
                &state.filter,
            )
            .await
            {
                Ok(events) if !events.is_empty() => {
                    state.position = events
                        .last()
                        .map(|event| event.id)
                        .unwrap_or(state.position);
                    state.buffered.extend(events);
                }
                Ok(_) => {
                    tokio::select! {
                        _ = state.wake.changed() => {}
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                        _ = state.shutdown.cancelled() => return None,
                    }
                }
                Err(error) => {
                    tracing::debug!(error = %jeny_core::ErrorChain(&error), "event stream cannot read the log, retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = state.shutdown.cancelled() => return None,
                    }
                }
            }
        }
    })
}
