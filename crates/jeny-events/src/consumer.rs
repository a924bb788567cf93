//! Consumers of the event log. A `Subscriber` handles batches of events in order;
//! `run_subscriber` feeds it from its durable cursor, sleeps until the next commit, and moves the
//! cursor only after the subscriber succeeded, so delivery is at-least-once: after a crash the
//! last batch may be handled again, never skipped. A failing subscriber is retried with backoff
//! and holds back only itself.

use crate::{Event, EventFilter, latest_id, read_after};
use futures_util::future::BoxFuture;
use jeny_core::Timestamp;
use jeny_store::{Channel, Row, Store, StoreError, sqlx};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Something that reacts to events: writes metrics, notifies a chat, evaluates alerts.
pub trait Subscriber: Send + Sync + 'static {
    /// The cursor's name; stable across releases, unique among subscribers.
    fn name(&self) -> &'static str;

    /// Handles a batch in order. An error makes the same batch come again later.
    fn handle<'a>(&'a self, events: &'a [Event]) -> BoxFuture<'a, Result<(), BoxError>>;
}

/// Where a subscriber that has never run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// Every event ever recorded.
    Beginning,
    /// Only events after the subscriber's first start.
    Now,
}

const BATCH: i64 = 500;
/// A safety net for a lost wake-up; normally a commit wakes the subscriber at once.
const IDLE_POLL: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Feeds `subscriber` until `shutdown` is cancelled.
pub async fn run_subscriber(
    store: Store,
    subscriber: Arc<dyn Subscriber>,
    start: StartFrom,
    shutdown: CancellationToken,
) {
    let name = subscriber.name();
    let mut wake = store.subscribe(Channel::Events);
    let mut backoff = Duration::from_millis(200);
    let mut position = None;
    while !shutdown.is_cancelled() {
        wake.borrow_and_update();
        let step = async {
            let current = match position {
                Some(current) => current,
                None => load_or_create_cursor(&store, name, start).await?,
            };
            position = Some(current);
            let batch = read_after(&store, current, BATCH, &EventFilter::default()).await?;
            let Some(last) = batch.last().map(|event| event.id) else {
                return Ok::<bool, BoxError>(false);
            };
            subscriber.handle(&batch).await?;
            save_cursor(&store, name, last).await?;
            position = Some(last);
            Ok(batch.len() as i64 == BATCH)
        };
        match step.await {
            Ok(true) => backoff = Duration::from_millis(200),
            Ok(false) => {
                backoff = Duration::from_millis(200);
                tokio::select! {
                    _ = wake.changed() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            Err(error) => {
                tracing::warn!(subscriber = name, error = %jeny_core::ErrorChain(&*error), retry_in_ms = backoff.as_millis() as u64, "event subscriber failed");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The id of the last event `name` has handled, if it has a cursor.
pub async fn cursor_position(store: &Store, name: &str) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query("SELECT position FROM event_cursors WHERE consumer = $1")
        .bind(name)
        .fetch_optional(store.reader())
        .await?;
    Ok(match row {
        Some(row) => Some(row.try_get("position")?),
        None => None,
    })
}

/// The position of `name`'s cursor, created at `start` if it has none yet.
pub async fn load_or_create_cursor(
    store: &Store,
    name: &str,
    start: StartFrom,
) -> Result<i64, StoreError> {
    if let Some(position) = cursor_position(store, name).await? {
        return Ok(position);
    }
    let initial = match start {
        StartFrom::Beginning => 0,
        StartFrom::Now => latest_id(store).await?,
    };
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO event_cursors (consumer, position, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (consumer) DO NOTHING",
    )
    .bind(name)
    .bind(initial)
    .bind(Timestamp::now().as_micros())
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(cursor_position(store, name).await?.unwrap_or(initial))
}

/// Moves `name`'s cursor to `position` (after the events up to it were handled).
pub async fn save_cursor(store: &Store, name: &str, position: i64) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE event_cursors SET position = $2, updated_at = $3 WHERE consumer = $1")
        .bind(name)
        .bind(position)
        .bind(Timestamp::now().as_micros())
        .execute(tx.conn())
        .await?;
    tx.commit().await
}
