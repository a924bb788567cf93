//! Output retention never reuses a sequence number: a viewer that read a deploy's output up to
//! batch N sees the line saying the output was removed as batch N + 1 or later, not as a batch it
//! has already read. Both backends.

mod common;

use jeny_deploys::prune_output;
use jeny_store::{Backend, Store, both_backends, sqlx, testing::TestDatabase};

both_backends!(removed_output_is_replaced_by_a_line_after_the_last_sequence_number);

async fn finished_deploy_with_output(store: &Store) -> String {
    let id = common::queued_deploy(
        store,
        serde_json::json!({"name": "app", "deploy_command": "true", "output_retention_bytes": 1048576}),
        serde_json::json!({"name": "production"}),
    )
    .await;
    // As a supervisor leaves it: three batches of output, then the end.
    let mut tx = store.begin().await.unwrap();
    for seq in 1..=3i64 {
        sqlx::query(
            "INSERT INTO deploy_output (deploy_id, seq, encoding, raw_bytes, data) VALUES ($1, $2, 'raw', 0, $3)",
        )
        .bind(&id)
        .bind(seq)
        .bind(Vec::<u8>::new())
        .execute(tx.conn())
        .await
        .unwrap();
    }
    sqlx::query(&format!(
        "UPDATE deploys SET status = 'succeeded', exit_code = 0, output_bytes = 2000000, \
         started_at = {now}, finished_at = {now} WHERE id = $1",
        now = tx.now_sql()
    ))
    .bind(&id)
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn removed_output_is_replaced_by_a_line_after_the_last_sequence_number(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let id = finished_deploy_with_output(&store).await;

    let pruned = prune_output(&store).await.unwrap();

    assert_eq!(pruned.deploys, 1);
    let seqs: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM deploy_output WHERE deploy_id = $1 ORDER BY seq")
            .bind(&id)
            .fetch_all(store.reader())
            .await
            .unwrap();
    assert_eq!(
        seqs,
        vec![3, 4],
        "the last batch kept (emptied) and the retention line after it"
    );
    assert_eq!(prune_output(&store).await.unwrap().deploys, 0, "done once");
    store.close().await;
}
