//! The queries of output retention on the `deploys` table: which finished deploys still keep
//! their output, a page at a time, and marking a deploy's output as removed. Emptying the output
//! itself is `output.rs`'s (`empty_output`).

use jeny_store::{Store, StoreError, WriteTx, sqlx};

/// A finished deploy whose output is still kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeptOutput {
    pub id: String,
    /// Unix microseconds.
    pub finished_at: i64,
    pub output_bytes: i64,
}

/// Where a page of `kept_output` starts: after this deploy, in its newest-first order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeptOutputCursor<'a> {
    pub finished_at: i64,
    pub id: &'a str,
}

/// A project's finished deploys whose output is still kept, newest first (by `finished_at`,
/// then id), at most `limit`, after `after`.
pub(crate) async fn kept_output(
    store: &Store,
    project_id: &str,
    after: Option<KeptOutputCursor<'_>>,
    limit: i64,
) -> Result<Vec<KeptOutput>, StoreError> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT id, finished_at, output_bytes FROM deploys WHERE project_id = $1 \
         AND finished_at IS NOT NULL AND output_pruned_at IS NULL \
         AND ($2 IS NULL OR finished_at < $2 OR (finished_at = $2 AND id < $3)) \
         ORDER BY finished_at DESC, id DESC LIMIT $4",
    )
    .bind(project_id)
    .bind(after.map(|cursor| cursor.finished_at))
    .bind(after.map(|cursor| cursor.id.to_owned()))
    .bind(limit)
    .fetch_all(store.reader())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, finished_at, output_bytes)| KeptOutput {
            id,
            finished_at,
            output_bytes,
        })
        .collect())
}

/// Records that a deploy's output was removed (now, by the database's clock): it counts no
/// bytes, and retention passes it by from then on.
pub(crate) async fn mark_output_pruned(tx: &mut WriteTx, id: &str) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "UPDATE deploys SET output_pruned_at = {}, output_bytes = 0 WHERE id = $1",
        tx.now_sql()
    ))
    .bind(id)
    .execute(tx.conn())
    .await?;
    Ok(())
}
