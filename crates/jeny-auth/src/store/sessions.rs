//! Browser sessions: a row per sign-in, found by the hash of the cookie's value.

use crate::model::Session;
use jeny_core::{Timestamp, new_id};
use jeny_store::{AnyRow, Row, Store, StoreError, WriteTx, sqlx};

pub(crate) struct NewSession<'a> {
    pub person_id: &'a str,
    pub token_hash: &'a str,
    pub method: &'a str,
    pub expires_at: Timestamp,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
}

pub(crate) async fn insert(
    tx: &mut WriteTx,
    session: NewSession<'_>,
) -> Result<String, StoreError> {
    let id = new_id();
    let now = Timestamp::now().as_micros();
    sqlx::query(
        "INSERT INTO sessions (id, person_id, token_hash, method, created_at, last_seen_at, expires_at, user_agent, ip) \
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(session.person_id)
    .bind(session.token_hash)
    .bind(session.method)
    .bind(now)
    .bind(session.expires_at.as_micros())
    .bind(session.user_agent)
    .bind(session.ip)
    .execute(tx.conn())
    .await?;
    Ok(id)
}

/// A live session's owner: not revoked, not past its absolute expiry, and used within `idle`.
pub(crate) struct SessionOwner {
    pub session_id: String,
    pub person_id: String,
    pub email: String,
    pub role: String,
    pub last_seen_at: i64,
}

pub(crate) async fn find_live(
    store: &Store,
    session: super::Lookup<'_>,
    now: i64,
    idle_micros: i64,
) -> Result<Option<SessionOwner>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT s.id, s.last_seen_at, p.id AS person_id, p.email, p.role \
         FROM sessions s JOIN people p ON p.id = s.person_id \
         WHERE s.{} = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.last_seen_at > $3",
        session.column()
    ))
    .bind(session.value())
    .bind(now)
    .bind(now - idle_micros)
    .fetch_optional(store.reader())
    .await?;
    row.map(|row| {
        Ok(SessionOwner {
            session_id: row.try_get("id")?,
            person_id: row.try_get("person_id")?,
            email: row.try_get("email")?,
            role: row.try_get("role")?,
            last_seen_at: row.try_get("last_seen_at")?,
        })
    })
    .transpose()
}

pub(crate) async fn touch(store: &Store, session_id: &str, now: i64) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2")
        .bind(session_id)
        .bind(now)
        .execute(tx.conn())
        .await?;
    tx.commit().await
}

const COLUMNS: &str =
    "id, method, created_at, last_seen_at, expires_at, revoked_at, user_agent, ip";

fn from_row(row: &AnyRow, idle_micros: i64) -> Result<Session, StoreError> {
    let last_seen_at: i64 = row.try_get("last_seen_at")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    Ok(Session {
        id: row.try_get("id")?,
        method: row.try_get("method")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        last_seen_at: Timestamp::from_micros(last_seen_at),
        expires_at: Timestamp::from_micros(expires_at.min(last_seen_at + idle_micros)),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(Timestamp::from_micros),
        user_agent: row.try_get("user_agent")?,
        ip: row.try_get("ip")?,
        current: false,
    })
}

/// A person's sessions that have not ended, newest first.
pub(crate) async fn live_of(
    store: &Store,
    person_id: &str,
    now: i64,
    idle_micros: i64,
) -> Result<Vec<Session>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE person_id = $1 AND revoked_at IS NULL \
         AND expires_at > $2 AND last_seen_at > $3 ORDER BY created_at DESC, id DESC"
    ))
    .bind(person_id)
    .bind(now)
    .bind(now - idle_micros)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(|row| from_row(row, idle_micros)).collect()
}

/// Ends one session of `person_id`; `None` when they have no such session.
pub(crate) async fn revoke(
    tx: &mut WriteTx,
    person_id: &str,
    session_id: &str,
    idle_micros: i64,
) -> Result<Option<Session>, StoreError> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND person_id = $2",
    )
    .bind(session_id)
    .bind(person_id)
    .bind(Timestamp::now().as_micros())
    .execute(tx.conn())
    .await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE id = $1 AND person_id = $2"
    ))
    .bind(session_id)
    .bind(person_id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(|row| from_row(&row, idle_micros)).transpose()
}

/// Ends the session with this cookie hash, whoever's it is (sign-out).
pub(crate) async fn revoke_by_hash(
    tx: &mut WriteTx,
    token_hash: &str,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT id FROM sessions WHERE token_hash = $1 AND revoked_at IS NULL")
        .bind(token_hash)
        .fetch_optional(tx.conn())
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id: String = row.try_get("id")?;
    sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1")
        .bind(&id)
        .bind(Timestamp::now().as_micros())
        .execute(tx.conn())
        .await?;
    Ok(Some(id))
}

/// Ends every session of a person; how many were live.
pub(crate) async fn revoke_all_of(tx: &mut WriteTx, person_id: &str) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $2 WHERE person_id = $1 AND revoked_at IS NULL",
    )
    .bind(person_id)
    .bind(Timestamp::now().as_micros())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}
