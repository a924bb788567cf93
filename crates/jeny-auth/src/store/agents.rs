//! Agent tokens: credentials for `jeny agent`, owned by no person.

use crate::model::AgentToken;
use jeny_core::{Timestamp, new_id};
use jeny_store::{AnyRow, Row, Store, StoreError, WriteTx, sqlx};

const COLUMNS: &str = "id, name, created_at, created_by, last_used_at, revoked_at";

fn from_row(row: &AnyRow) -> Result<AgentToken, StoreError> {
    let at = |column: &str| -> Result<Option<Timestamp>, StoreError> {
        Ok(row
            .try_get::<Option<i64>, _>(column)?
            .map(Timestamp::from_micros))
    };
    Ok(AgentToken {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        created_by: row.try_get("created_by")?,
        last_used_at: at("last_used_at")?,
        revoked_at: at("revoked_at")?,
    })
}

pub(crate) async fn insert(
    tx: &mut WriteTx,
    name: &str,
    token_hash: &str,
    created_by: &str,
) -> Result<String, StoreError> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO agent_tokens (id, name, token_hash, created_at, created_by) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(name)
    .bind(token_hash)
    .bind(Timestamp::now().as_micros())
    .bind(created_by)
    .execute(tx.conn())
    .await?;
    Ok(id)
}

pub(crate) async fn list(store: &Store) -> Result<Vec<AgentToken>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM agent_tokens ORDER BY created_at DESC, id DESC"
    ))
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

pub(crate) async fn get(store: &Store, id: &str) -> Result<Option<AgentToken>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM agent_tokens WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn revoke(tx: &mut WriteTx, id: &str) -> Result<Option<AgentToken>, StoreError> {
    sqlx::query("UPDATE agent_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
        .bind(id)
        .bind(Timestamp::now().as_micros())
        .execute(tx.conn())
        .await?;
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM agent_tokens WHERE id = $1"))
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// A valid (not revoked) agent token's id, name and when it was last used.
pub(crate) async fn find_valid(
    store: &Store,
    token: super::Lookup<'_>,
) -> Result<Option<(String, String, Option<i64>)>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT id, name, last_used_at FROM agent_tokens WHERE {} = $1 AND revoked_at IS NULL",
        token.column()
    ))
    .bind(token.value())
    .fetch_optional(store.reader())
    .await?;
    row.map(|row| {
        Ok((
            row.try_get("id")?,
            row.try_get("name")?,
            row.try_get("last_used_at")?,
        ))
    })
    .transpose()
}

pub(crate) async fn touch(store: &Store, id: &str, now: i64) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE agent_tokens SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(tx.conn())
        .await?;
    tx.commit().await
}
