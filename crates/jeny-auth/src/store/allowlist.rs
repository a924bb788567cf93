//! The allowlist entries added through the API (the configuration's are not stored).

use crate::model::AllowlistEntry;
use jeny_core::Timestamp;
use jeny_store::{Row, Store, StoreError, WriteTx, sqlx};

pub(crate) async fn list(store: &Store) -> Result<Vec<AllowlistEntry>, StoreError> {
    let rows = sqlx::query("SELECT entry, created_at, created_by FROM allowlist ORDER BY entry")
        .fetch_all(store.reader())
        .await?;
    rows.iter()
        .map(|row| {
            Ok(AllowlistEntry {
                entry: row.try_get("entry")?,
                source: "api".to_owned(),
                created_at: Some(Timestamp::from_micros(row.try_get("created_at")?)),
                created_by: row.try_get("created_by")?,
            })
        })
        .collect()
}

/// Adds an entry; `false` when it was already there.
pub(crate) async fn insert(tx: &mut WriteTx, entry: &str, actor: &str) -> Result<bool, StoreError> {
    let exists = sqlx::query("SELECT entry FROM allowlist WHERE entry = $1")
        .bind(entry)
        .fetch_optional(tx.conn())
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    sqlx::query("INSERT INTO allowlist (entry, created_at, created_by) VALUES ($1, $2, $3)")
        .bind(entry)
        .bind(Timestamp::now().as_micros())
        .bind(actor)
        .execute(tx.conn())
        .await?;
    Ok(true)
}

/// Removes an entry; `false` when there was none.
pub(crate) async fn delete(tx: &mut WriteTx, entry: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM allowlist WHERE entry = $1")
        .bind(entry)
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The ids and emails of everyone (to find who an entry's removal shuts out).
pub(crate) async fn everyone(tx: &mut WriteTx) -> Result<Vec<(String, String)>, StoreError> {
    let rows = sqlx::query("SELECT id, email FROM people")
        .fetch_all(tx.conn())
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("email")?)))
        .collect()
}

/// The API's entries, read inside a transaction.
pub(crate) async fn entries_in(tx: &mut WriteTx) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT entry FROM allowlist")
        .fetch_all(tx.conn())
        .await?;
    rows.iter().map(|row| Ok(row.try_get("entry")?)).collect()
}

/// The API's entries.
pub(crate) async fn entries(store: &Store) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT entry FROM allowlist")
        .fetch_all(store.reader())
        .await?;
    rows.iter().map(|row| Ok(row.try_get("entry")?)).collect()
}
