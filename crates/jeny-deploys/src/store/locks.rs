//! The `environment_locks` table.

use crate::model::EnvironmentLock;
use jeny_core::Timestamp;
use jeny_store::{AnyRow, Backend, Row, StoreError, WriteTx, sqlx};

/// The environment's lock in force now by the database's clock (an expired lock is no lock),
/// read with `executor`: the store's reader pool, or a write transaction's connection, on
/// `backend`.
pub(crate) async fn lock_in<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    backend: Backend,
    environment_id: &str,
    project: &str,
    environment: &str,
) -> Result<Option<EnvironmentLock>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT reason, locked_by, locked_at, expires_at FROM environment_locks WHERE environment_id = $1 \
         AND (expires_at IS NULL OR expires_at > {})",
        backend.now_sql()
    ))
    .bind(environment_id)
    .fetch_optional(executor)
    .await?;
    row.map(|row| lock_from_row(&row, project, environment))
        .transpose()
}

pub(crate) fn lock_from_row(
    row: &AnyRow,
    project: &str,
    environment: &str,
) -> Result<EnvironmentLock, StoreError> {
    let expires_at: Option<i64> = row.try_get("expires_at")?;
    Ok(EnvironmentLock {
        project: project.to_owned(),
        environment: environment.to_owned(),
        reason: row.try_get("reason")?,
        locked_by: row.try_get("locked_by")?,
        locked_at: Timestamp::from_micros(row.try_get("locked_at")?),
        expires_at: expires_at.map(Timestamp::from_micros),
    })
}

pub(crate) async fn put_lock(
    tx: &mut WriteTx,
    environment_id: &str,
    lock: &EnvironmentLock,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM environment_locks WHERE environment_id = $1")
        .bind(environment_id)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO environment_locks (environment_id, reason, locked_by, locked_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(environment_id)
    .bind(&lock.reason)
    .bind(&lock.locked_by)
    .bind(lock.locked_at.as_micros())
    .bind(lock.expires_at.map(Timestamp::as_micros))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Removes the lock; false when there was none in force.
pub(crate) async fn delete_lock(
    tx: &mut WriteTx,
    environment_id: &str,
) -> Result<bool, StoreError> {
    let result = sqlx::query(&format!(
        "DELETE FROM environment_locks WHERE environment_id = $1 AND (expires_at IS NULL OR expires_at > {})",
        tx.now_sql()
    ))
    .bind(environment_id)
    .execute(tx.conn())
    .await?;
    sqlx::query("DELETE FROM environment_locks WHERE environment_id = $1")
        .bind(environment_id)
        .execute(tx.conn())
        .await?;
    Ok(result.rows_affected() == 1)
}
