//! A deploy's output: plain text (all of it so far, or followed to the end with `?follow=true`),
//! or a live server-sent event stream that resumes from `Last-Event-ID`.

use super::DeploysState;
use crate::output::{OutputBatch, read_after};
use crate::{Deploy, OutputStream};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use jeny_core::Timestamp;
use jeny_http::sse::{last_event_id, wants_event_stream};
use jeny_http::{ApiError, Auth, QueryPairs};
use jeny_store::{Channel, Store};
use serde::Serialize;
use std::collections::VecDeque;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How much output one read takes from the store.
const READ_BYTES: i64 = 4 * 1024 * 1024;

/// The `data` of an SSE `output` event: one stored batch of output.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutputEvent {
    /// The batch's position; also the event's `id`, for `Last-Event-ID`.
    pub seq: i64,
    pub chunks: Vec<OutputText>,
}

/// A piece of output as it arrived, as text (invalid UTF-8 shows as U+FFFD; ANSI colour codes are
/// kept).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutputText {
    pub stream: OutputStream,
    pub at: Timestamp,
    pub text: String,
}

impl OutputEvent {
    fn of(batch: &OutputBatch) -> OutputEvent {
        OutputEvent {
            seq: batch.seq,
            chunks: batch
                .chunks
                .iter()
                .map(|chunk| OutputText {
                    stream: chunk.stream,
                    at: chunk.at,
                    text: String::from_utf8_lossy(&chunk.bytes).into_owned(),
                })
                .collect(),
        }
    }
}

/// The deploy's output. With `Accept: text/event-stream` it is streamed live: an `output` event
/// per stored batch (`id` = its `seq`), then one `end` event whose data is the finished deploy;
/// a reconnecting client resumes after its `Last-Event-ID`. Otherwise it is plain text (stdout,
/// stderr and jeny's own lines interleaved as they came): what there is so far, or, with
/// `?follow=true`, streamed until the deploy ends.
#[utoipa::path(
    get,
    path = "/api/v1/deploys/{id}/output",
    tag = "deploys",
    params(
        ("id" = String, Path, description = "The deploy's id"),
        ("after" = Option<i64>, Query, description = "Only batches after this seq"),
        ("follow" = Option<bool>, Query, description = "Plain text: keep streaming until the deploy ends"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Plain text, or an event stream of OutputEvent with Accept: text/event-stream", body = String, content_type = "text/plain"),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 404, description = "No such deploy", body = jeny_http::Problem),
        (status = 422, description = "A bad parameter", body = jeny_http::Problem),
    )
)]
pub(super) async fn deploy_output(
    _auth: Auth,
    State(state): State<DeploysState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    query.only(&["after", "follow"])?;
    let after = match query.first("after") {
        None => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|seq| *seq >= 0)
            .ok_or_else(|| ApiError::invalid("after", "after must be a seq (a whole number)"))?,
    };
    let follow = match query.first("follow") {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(_) => return Err(ApiError::invalid("follow", "follow is true or false")),
    };
    // 404 for an unknown deploy before any stream starts.
    crate::get_deploy(&state.store, &state.links, &id).await?;
    let follower = Follower::new(&state, id, after);
    if wants_event_stream(&headers) {
        let resume = Follower {
            after: last_event_id(&headers).unwrap_or(after),
            ..follower
        };
        return Ok(Sse::new(resume.events())
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let body = Body::from_stream(follower.text(follow));
    Ok((
        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response())
}

/// What a follower yields.
enum Item {
    Batch(OutputBatch),
    End(Box<Deploy>),
}

struct Follower {
    store: Store,
    links: crate::Links,
    id: String,
    after: i64,
    shutdown: CancellationToken,
}

struct FollowState {
    follower: Follower,
    wake: tokio::sync::watch::Receiver<u64>,
    buffered: VecDeque<OutputBatch>,
    done: bool,
    /// Stop at the end of what is stored now instead of waiting for the deploy to end.
    follow: bool,
}

impl Follower {
    fn new(state: &DeploysState, id: String, after: i64) -> Follower {
        Follower {
            store: state.store.clone(),
            links: state.links.clone(),
            id,
            after,
            shutdown: state.shutdown.clone(),
        }
    }

    /// Batches after `after`, then the finished deploy. Status is read before output: a deploy
    /// seen finished has all its output stored, so an empty read after that is the end.
    fn items(self, follow: bool) -> impl Stream<Item = Item> {
        let wake = self.store.subscribe(Channel::Deploys);
        let state = FollowState {
            follower: self,
            wake,
            buffered: VecDeque::new(),
            done: false,
            follow,
        };
        stream::unfold(state, |mut state| async move {
            loop {
                if let Some(batch) = state.buffered.pop_front() {
                    return Some((Item::Batch(batch), state));
                }
                if state.done || state.follower.shutdown.is_cancelled() {
                    return None;
                }
                state.wake.borrow_and_update();
                let follower = &state.follower;
                let deploy =
                    crate::get_deploy(&follower.store, &follower.links, &follower.id).await;
                let read =
                    read_after(&follower.store, &follower.id, follower.after, READ_BYTES).await;
                match (deploy, read) {
                    (Ok(_), Ok(batches)) if !batches.is_empty() => {
                        state.follower.after = batches
                            .last()
                            .map(|b| b.seq)
                            .unwrap_or(state.follower.after);
                        state.buffered.extend(batches);
                    }
                    (Ok(deploy), Ok(_)) if deploy.status.is_finished() || !state.follow => {
                        state.done = true;
                        return Some((Item::End(Box::new(deploy)), state));
                    }
                    (Ok(_), Ok(_)) => {
                        tokio::select! {
                            _ = state.wake.changed() => {}
                            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                            _ = state.follower.shutdown.cancelled() => return None,
                        }
                    }
                    (Err(error), _) => {
                        tracing::debug!(%error, "output stream cannot read its deploy");
                        return None;
                    }
                    (_, Err(error)) => {
                        tracing::debug!(%error, "output stream cannot read, retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = state.follower.shutdown.cancelled() => return None,
                        }
                    }
                }
            }
        })
    }

    fn events(self) -> impl Stream<Item = Result<sse::Event, std::convert::Infallible>> {
        use futures_util::StreamExt;
        self.items(true).map(|item| {
            Ok(match item {
                Item::Batch(batch) => sse::Event::default()
                    .id(batch.seq.to_string())
                    .event("output")
                    .data(serde_json::to_string(&OutputEvent::of(&batch)).unwrap_or_default()),
                Item::End(deploy) => sse::Event::default()
                    .event("end")
                    .data(serde_json::to_string(&deploy).unwrap_or_default()),
            })
        })
    }

    fn text(self, follow: bool) -> impl Stream<Item = Result<Vec<u8>, std::convert::Infallible>> {
        use futures_util::StreamExt;
        self.items(follow).filter_map(|item| async move {
            match item {
                Item::Batch(batch) => {
                    let mut text = Vec::with_capacity(batch.byte_len());
                    for chunk in batch.chunks {
                        text.extend_from_slice(&chunk.bytes);
                    }
                    Some(Ok(text))
                }
                Item::End(_) => None,
            }
        })
    }
}
