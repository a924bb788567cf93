//! Output retention, per project: the output of finished deploys older than the project's
//! `output_retention_days`, and of its oldest finished deploys beyond `output_retention_bytes`
//! in all, is removed. The deploy records stay (what ran, who, how it ended); their output is
//! replaced by one line saying why it is gone. The dispatcher runs this every few minutes; it is
//! idempotent, so several nodes running it at once do no harm.

use crate::store;
use jeny_core::Timestamp;
use jeny_store::{Channel, Row, Store, StoreError, sqlx};

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deploys: u64,
    pub bytes: i64,
}

/// Applies every project's retention settings once.
pub async fn prune_output(store: &Store) -> Result<Pruned, StoreError> {
    let projects = sqlx::query(
        "SELECT id, output_retention_days, output_retention_bytes FROM projects \
         WHERE output_retention_days IS NOT NULL OR output_retention_bytes IS NOT NULL",
    )
    .fetch_all(store.reader())
    .await?;
    let mut pruned = Pruned::default();
    for project in projects {
        let project_id: String = project.try_get("id")?;
        let days: Option<i64> = project.try_get("output_retention_days")?;
        let max_bytes: Option<i64> = project.try_get("output_retention_bytes")?;
        // Finished deploys whose output is still kept, newest first.
        let deploys = sqlx::query(
            "SELECT id, finished_at, output_bytes FROM deploys WHERE project_id = $1 \
             AND finished_at IS NOT NULL AND output_pruned_at IS NULL ORDER BY finished_at DESC, id DESC",
        )
        .bind(&project_id)
        .fetch_all(store.reader())
        .await?;
        let oldest_kept = days.map(|days| Timestamp::now().as_micros() - days * 86_400_000_000);
        let mut kept_bytes = 0i64;
        for deploy in deploys {
            let id: String = deploy.try_get("id")?;
            let finished_at: i64 = deploy.try_get("finished_at")?;
            let bytes: i64 = deploy.try_get("output_bytes")?;
            let why = if oldest_kept.is_some_and(|oldest| finished_at < oldest) {
                Some(format!(
                    "it finished more than {} day(s) ago",
                    days.unwrap_or_default()
                ))
            } else if max_bytes.is_some_and(|max| kept_bytes + bytes > max) {
                Some(format!(
                    "the project keeps at most {} bytes of deploy output",
                    max_bytes.unwrap_or_default()
                ))
            } else {
                kept_bytes += bytes;
                None
            };
            if let Some(why) = why {
                remove_output(store, &id, &why).await?;
                pruned.deploys += 1;
                pruned.bytes += bytes;
            }
        }
    }
    Ok(pruned)
}

async fn remove_output(store: &Store, id: &str, why: &str) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM deploy_output WHERE deploy_id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    sqlx::query("UPDATE deploys SET output_pruned_at = $2, output_bytes = 0 WHERE id = $1")
        .bind(id)
        .bind(Timestamp::now().as_micros())
        .execute(tx.conn())
        .await?;
    store::append_jeny_line(
        &mut tx,
        id,
        &format!(
            "[jeny] this deploy's output was removed by the project's retention policy: {why}"
        ),
    )
    .await?;
    tx.wake_on_commit(Channel::Deploys).await?;
    tx.commit().await
}
