//! Appending to and reading the log.
//!
//! Ordering: a consumer reads "events after id N", so an event must never become visible with an
//! id lower than one already seen. SQLite has one writer, so ids follow commit order by
//! construction. On PostgreSQL, sequence values are taken at insert time but transactions commit
//! in any order; `append` therefore takes a transaction-scoped advisory lock before inserting,
//! which serialises event-appending transactions from that point to their commit. The lock is
//! taken last in a transaction (events are appended after the change they describe), so it is
//! held only for the insert and the commit.

use crate::{Event, NewEvent};
use jeny_core::Timestamp;
use jeny_store::{AnyRow, Backend, Channel, Row, Store, StoreError, WriteTx, sqlx};

/// Arbitrary constant naming the event-order lock among PostgreSQL advisory locks.
const EVENT_ORDER_LOCK: i64 = 0x006a_656e_7965_7674;

/// Appends `event` in the caller's transaction; returns its id. Waiters are woken at commit.
pub async fn append(tx: &mut WriteTx, event: NewEvent) -> Result<i64, StoreError> {
    if tx.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(EVENT_ORDER_LOCK)
            .execute(tx.conn())
            .await?;
    }
    let row = sqlx::query(
        "INSERT INTO events (type, project, environment, actor, time, payload) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(event.kind)
    .bind(event.project)
    .bind(event.environment)
    .bind(event.actor)
    .bind(Timestamp::now().as_micros())
    .bind(event.payload.to_string())
    .fetch_one(tx.conn())
    .await?;
    tx.wake_on_commit(Channel::Events).await?;
    Ok(row.try_get("id")?)
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this project's events.
    pub project: Option<String>,
    /// Only events whose type starts with this (`project.` or `project.created`).
    pub kind_prefix: Option<String>,
}

/// Up to `limit` events with an id greater than `after`, oldest first.
pub async fn read_after(
    store: &Store,
    after: i64,
    limit: i64,
    filter: &EventFilter,
) -> Result<Vec<Event>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, type, project, environment, actor, time, payload FROM events \
         WHERE id > $1 AND ($2 IS NULL OR project = $2) AND ($3 IS NULL OR type LIKE $3 ESCAPE '\\') \
         ORDER BY id LIMIT $4",
    )
    .bind(after)
    .bind(filter.project.clone())
    .bind(filter.kind_prefix.as_ref().map(|prefix| format!("{}%", escape_like(prefix))))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(event_from_row).collect()
}

/// The id of the newest event, 0 when there is none.
pub async fn latest_id(store: &Store) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS latest FROM events")
        .fetch_one(store.reader())
        .await?;
    Ok(row.try_get("latest")?)
}

fn event_from_row(row: &AnyRow) -> Result<Event, StoreError> {
    let payload: String = row.try_get("payload")?;
    Ok(Event {
        id: row.try_get("id")?,
        kind: row.try_get("type")?,
        project: row.try_get("project")?,
        environment: row.try_get("environment")?,
        actor: row.try_get("actor")?,
        time: Timestamp::from_micros(row.try_get("time")?),
        payload: serde_json::from_str(&payload)
            .map_err(|error| StoreError::Corrupt(format!("event payload is not JSON: {error}")))?,
    })
}

/// Makes `prefix` match literally in a LIKE pattern with `ESCAPE '\\'`.
fn escape_like(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for character in prefix.chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}
