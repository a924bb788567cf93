//! The `deploy_output` table: batches of output frames, appended under the deploy's lease,
//! compressed once it ends, removed by retention (sequence numbers are never reused).

use jeny_core::Timestamp;
use jeny_store::{Store, StoreError, WriteTx, sqlx};

/// Appends one batch of output frames; returns its seq. The seq is taken as the next after the
/// deploy's last batch, so that the server can add a line after a lost supervisor's output.
pub(crate) async fn append_output(
    tx: &mut WriteTx,
    deploy_id: &str,
    raw_bytes: i64,
    frames: Vec<u8>,
) -> Result<i64, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO deploy_output (deploy_id, seq, encoding, raw_bytes, data) \
         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM deploy_output WHERE deploy_id = $1), 'raw', $2, $3) \
         RETURNING seq",
    )
    .bind(deploy_id)
    .bind(raw_bytes)
    .bind(frames)
    .fetch_one(tx.conn())
    .await?;
    Ok(seq)
}

/// Removes a deploy's output but for its last batch, which is emptied: the next batch appended
/// takes the next sequence number, never one a reader has seen before.
pub(crate) async fn empty_output(tx: &mut WriteTx, id: &str) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM deploy_output WHERE deploy_id = $1 \
         AND seq < (SELECT MAX(seq) FROM deploy_output WHERE deploy_id = $1)",
    )
    .bind(id)
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "UPDATE deploy_output SET data = $2, encoding = 'raw', raw_bytes = 0 WHERE deploy_id = $1",
    )
    .bind(id)
    .bind(Vec::<u8>::new())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Appends a line of jeny's own to a deploy's output.
pub(crate) async fn append_jeny_line(
    tx: &mut WriteTx,
    deploy_id: &str,
    line: &str,
) -> Result<(), StoreError> {
    let mut frames = Vec::new();
    let text = format!("{line}\n");
    crate::output::encode_frame(
        &mut frames,
        crate::OutputStream::Jeny,
        Timestamp::now(),
        text.as_bytes(),
    );
    append_output(tx, deploy_id, text.len() as i64, frames).await?;
    sqlx::query("UPDATE deploys SET output_bytes = output_bytes + $2 WHERE id = $1")
        .bind(deploy_id)
        .bind(text.len() as i64)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Counts a stored batch of output on its deploy, only while `lease_token` holds it; false when
/// it no longer does (the batch must then not be stored).
pub(crate) async fn count_output(
    tx: &mut WriteTx,
    id: &str,
    lease_token: &str,
    payload: i64,
    omitted: i64,
    head_end: Option<i64>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE deploys SET output_bytes = output_bytes + $3, output_omitted_bytes = $4, \
         output_head_end = $5 WHERE id = $1 AND lease_token = $2",
    )
    .bind(id)
    .bind(lease_token)
    .bind(payload)
    .bind(omitted)
    .bind(head_end)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes one stored batch of output (the oldest of a rolling tail).
pub(crate) async fn delete_output_batch(
    tx: &mut WriteTx,
    id: &str,
    seq: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM deploy_output WHERE deploy_id = $1 AND seq = $2")
        .bind(id)
        .bind(seq)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// A finished deploy's output batches still stored raw.
pub(crate) async fn raw_output_batches(store: &Store, id: &str) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT seq FROM deploy_output WHERE deploy_id = $1 AND encoding = 'raw' ORDER BY seq",
    )
    .bind(id)
    .fetch_all(store.reader())
    .await?)
}

pub(crate) async fn raw_output_batch(
    store: &Store,
    id: &str,
    seq: i64,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT data FROM deploy_output WHERE deploy_id = $1 AND seq = $2 AND encoding = 'raw'",
    )
    .bind(id)
    .bind(seq)
    .fetch_optional(store.reader())
    .await?)
}

pub(crate) async fn replace_with_deflated(
    tx: &mut WriteTx,
    id: &str,
    seq: i64,
    compressed: Vec<u8>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE deploy_output SET data = $3, encoding = 'deflate' WHERE deploy_id = $1 AND seq = $2 AND encoding = 'raw'",
    )
    .bind(id)
    .bind(seq)
    .bind(compressed)
    .execute(tx.conn())
    .await?;
    Ok(())
}
