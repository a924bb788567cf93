//! A deploy's output: plain text (all of it so far, or followed to the end with `?follow=true`),
//! or a live server-sent event stream that resumes from `Last-Event-ID`.

use super::DeploysState;
use super::feed::{Encoded, Feed, Next};
use crate::OutputStream;
use crate::output::{OutputBatch, read_after};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{self, Stream};
use jeny_core::Timestamp;
use jeny_http::sse::{last_event_id, wants_event_stream};
use jeny_http::{ApiError, AuthStream, QueryPairs};
use jeny_store::{Channel, Store};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;
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
    pub(crate) fn of(batch: &OutputBatch) -> OutputEvent {
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

/// What a live viewer that falls behind gets (`?behind=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Behind {
    /// Every batch, read from the store when the feed no longer holds it (the default).
    Read,
    /// A `skipped` event, then the newest batch's last lines, when more than 100 ms of output
    /// behind it, and the last lines only of a batch over 16 KiB: a screen stays live however
    /// fast a command prints.
    Skip,
}

/// The `data` of an SSE `skipped` event: the batches after `after` up to `until` were not sent
/// whole; the `output` event that follows is the last lines of batch `until`.
/// `GET .../output?after=` reads them all.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SkippedEvent {
    pub after: i64,
    pub until: i64,
}

/// The deploy's output. With `Accept: text/event-stream` it is streamed live: an `output` event
/// per stored batch (`id` = its `seq`), then one `end` event whose data is the finished deploy;
/// a reconnecting client resumes after its `Last-Event-ID`. With `?behind=skip`, a viewer more
/// than 100 ms of output behind, or given a batch over 16 KiB, gets a `skipped` event and the
/// batch's last lines (at most 16 KiB) instead, so that a screen stays live however fast the
/// command prints; the history before it connected is always sent. Otherwise it is plain text (stdout,
/// stderr and jeny's own lines interleaved as they came): what there is so far, or, with
/// `?follow=true`, streamed until the deploy ends. A stream or a followed output ends within
/// seconds of its token's revocation or expiry, or its session's end.
#[utoipa::path(
    get,
    path = "/api/v1/deploys/{id}/output",
    tag = "deploys",
    params(
        ("id" = String, Path, description = "The deploy's id"),
        ("after" = Option<i64>, Query, description = "Only batches after this seq"),
        ("follow" = Option<bool>, Query, description = "Plain text: keep streaming until the deploy ends"),
        ("behind" = Option<Behind>, Query, description = "Event stream: what a viewer that falls behind gets (read: every batch; skip: a skipped event, then the newest)"),
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
    AuthStream(_principal, guard): AuthStream,
    State(state): State<DeploysState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    query.only(&["after", "follow", "behind"])?;
    let skip = match query.first("behind") {
        None | Some("read") => false,
        Some("skip") => true,
        Some(_) => return Err(ApiError::invalid("behind", "behind is read or skip")),
    };
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
    if !wants_event_stream(&headers) {
        // a followed output lasts: it ends with the credential too
        let body = if follow {
            Body::from_stream(guard.watch(plain_text(state, id, after, follow)))
        } else {
            Body::from_stream(plain_text(state, id, after, follow))
        };
        return Ok((
            [
                (http::header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (http::header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response());
    }
    let feed = state
        .hub
        .feed(&state.store, &state.links, &state.shutdown, &id)
        .await?;
    let viewer = Viewer {
        store: state.store.clone(),
        behind_readers: state.hub.behind_readers.clone(),
        rx: feed.subscribe(),
        feed,
        cursor: last_event_id(&headers).unwrap_or(after),
        pending: VecDeque::new(),
        done: false,
        skip,
        shutdown: state.shutdown.clone(),
    };
    Ok((
        [
            (http::header::CONTENT_TYPE, "text/event-stream"),
            (http::header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(guard.watch(viewer.stream())),
    )
        .into_response())
}

/// State of a plain-text reader.
struct PlainText {
    state: DeploysState,
    id: String,
    cursor: i64,
    follow: bool,
    done: bool,
    /// State changes of any deploy (the end), and this deploy's output.
    wake: tokio::sync::watch::Receiver<u64>,
    output_wake: jeny_store::KeyedWake,
    _close: Option<jeny_store::CloseFollowGuard>,
}

/// The output after `after` as plain text: what is stored now, or (`follow`) everything until
/// the deploy ends. Each reader reads the store (plain-text followers are few: a CLI waiting for
/// its deploy). Status is read before output, so a deploy seen finished has all its output
/// stored and an empty read after that is the end.
fn plain_text(
    state: DeploysState,
    id: String,
    after: i64,
    follow: bool,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    let reader = PlainText {
        wake: state.store.subscribe(Channel::Deploys),
        output_wake: state.store.subscribe_key(Channel::DeployOutput, &id),
        _close: follow.then(|| state.store.follow_closely()),
        state,
        id,
        cursor: after,
        follow,
        done: false,
    };
    stream::unfold(reader, |mut reader| async move {
        loop {
            if reader.done {
                return None;
            }
            reader.wake.borrow_and_update();
            reader.output_wake.borrow_and_update();
            let finished = !reader.follow
                || crate::get_deploy(&reader.state.store, &reader.state.links, &reader.id)
                    .await
                    .map_or(true, |deploy| deploy.status.is_finished());
            match read_after(&reader.state.store, &reader.id, reader.cursor, READ_BYTES).await {
                Ok(batches) if !batches.is_empty() => {
                    let mut text = Vec::new();
                    for batch in &batches {
                        reader.cursor = batch.seq;
                        for chunk in &batch.chunks {
                            text.extend_from_slice(&chunk.bytes);
                        }
                    }
                    return Some((Ok(Bytes::from(text)), reader));
                }
                Ok(_) if finished => return None,
                Ok(_) => {
                    tokio::select! {
                        _ = reader.wake.changed() => {}
                        _ = reader.output_wake.changed() => {}
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                        _ = reader.state.shutdown.cancelled() => return None,
                    }
                }
                Err(error) => {
                    reader.done = true;
                    return Some((Err(std::io::Error::other(error.to_string())), reader));
                }
            }
        }
    })
}

/// One viewer of a deploy's live output: sends what the feed encoded, reading the store itself
/// for what came before the feed started or what it fell behind on.
struct Viewer {
    store: Store,
    behind_readers: Arc<tokio::sync::Semaphore>,
    feed: Arc<Feed>,
    rx: tokio::sync::watch::Receiver<u64>,
    cursor: i64,
    pending: VecDeque<Bytes>,
    done: bool,
    /// `?behind=skip`.
    skip: bool,
    shutdown: CancellationToken,
}

/// A comment line that keeps an idle event stream open through proxies.
const KEEP_ALIVE: &[u8] = b":\n\n";
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);

impl Viewer {
    fn stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
        stream::unfold(self, |mut viewer| async move {
            loop {
                if let Some(bytes) = viewer.pending.pop_front() {
                    return Some((Ok(bytes), viewer));
                }
                if viewer.done || viewer.shutdown.is_cancelled() {
                    return None;
                }
                viewer.rx.borrow_and_update();
                match viewer.feed.next(viewer.cursor, viewer.skip) {
                    Next::Skip(newest) => viewer.skip_to(&newest),
                    Next::Ready(batches) => {
                        for batch in batches {
                            // A batch over the tail's size is more output at once than a
                            // screen shows: a viewer that skips gets its end only.
                            if viewer.skip && batch.large {
                                viewer.skip_to(&batch);
                            } else {
                                viewer.cursor = batch.seq;
                                viewer.push(&batch);
                            }
                        }
                    }
                    Next::Behind { until } => {
                        let Ok(_permit) = viewer.behind_readers.clone().acquire_owned().await
                        else {
                            return None;
                        };
                        // One batch at a time: a viewer far behind costs one batch of memory.
                        let read =
                            read_after(&viewer.store, &viewer.feed.id, viewer.cursor, 1).await;
                        match read {
                            Ok(batches) if batches.is_empty() => viewer.cursor = until,
                            Ok(batches) => {
                                for batch in batches {
                                    let seq = batch.seq;
                                    let encoded = Encoded::of(viewer.cursor, batch);
                                    viewer.cursor = seq;
                                    viewer.push(&encoded);
                                }
                            }
                            Err(error) => {
                                tracing::debug!(%error, "an output viewer cannot read the store");
                                return Some((
                                    Err(std::io::Error::other(error.to_string())),
                                    viewer,
                                ));
                            }
                        }
                    }
                    Next::Wait => {
                        tokio::select! {
                            _ = viewer.rx.changed() => {}
                            _ = tokio::time::sleep(KEEP_ALIVE_EVERY) => {
                                viewer.pending.push_back(Bytes::from_static(KEEP_ALIVE));
                            }
                            _ = viewer.shutdown.cancelled() => return None,
                        }
                    }
                    Next::End(deploy) => {
                        let data = serde_json::to_string(&*deploy).unwrap_or_default();
                        viewer
                            .pending
                            .push_back(Bytes::from(format!("event: end\ndata: {data}\n\n")));
                        viewer.done = true;
                    }
                    Next::Stopped => viewer.done = true,
                }
            }
        })
    }

    fn push(&mut self, batch: &Encoded) {
        self.pending.push_back(batch.sse());
    }

    /// A `skipped` event from where the viewer is, then `batch`'s last lines.
    fn skip_to(&mut self, batch: &Encoded) {
        let data = serde_json::to_string(&SkippedEvent {
            after: self.cursor,
            until: batch.seq,
        })
        .unwrap_or_default();
        self.pending
            .push_back(Bytes::from(format!("event: skipped\ndata: {data}\n\n")));
        self.pending.push_back(batch.tail());
        self.cursor = batch.seq;
    }
}
