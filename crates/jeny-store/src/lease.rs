//! Leases: work that one node of a cluster does at a time. A holder renews its lease before it
//! expires; once it has expired, any node may take it. On SQLite (one node) it still works, and
//! costs one write per renewal.

use crate::{Store, StoreError};
use std::time::Duration;

/// Takes or renews the lease `name` for `holder` for `ttl`. True when `holder` now holds it:
/// it was free, expired, or already this holder's.
pub async fn hold_lease(
    store: &Store,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let ttl_micros = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX / 2);
    let mut tx = store.begin().await?;
    // Written and compared with the database's clock: nodes' clocks may disagree.
    let now = tx.now_sql();
    let taken = sqlx::query(&format!(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, {now} + $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE leases.holder = excluded.holder OR leases.expires_at < {now}"
    ))
    .bind(name)
    .bind(holder)
    .bind(ttl_micros)
    .execute(tx.conn())
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(taken == 1)
}

/// Gives the lease `name` up, if `holder` holds it, so another node takes it at once (a node
/// that stops cleanly; one that dies leaves it to expire).
pub async fn release_lease(store: &Store, name: &str, holder: &str) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(tx.conn())
        .await?;
    tx.commit().await
}
