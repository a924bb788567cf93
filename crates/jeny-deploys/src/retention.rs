//! Output retention, per project: the output of finished deploys older than the project's
//! `output_retention_days`, and of its oldest finished deploys beyond `output_retention_bytes`
//! in all, is removed. The deploy records stay (what ran, who, how it ended); their output is
//! replaced by one line saying why it is gone. `run_retention` applies it every ten minutes as a
//! job of its own, on one node of a cluster at a time (the `deploy-retention` lease), reading
//! deploys in pages and removing each one's output in a transaction of its own, so it never holds
//! the writer long nor sits in the dispatcher's way. It is idempotent.

use crate::store;
use jeny_core::ErrorChain;
use jeny_store::{Channel, Row, Store, StoreError, sqlx};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often retention is applied.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Finished deploys read per query.
const PAGE: i64 = 200;
const LEASE: &str = "deploy-retention";

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deploys: u64,
    pub bytes: i64,
}

/// Applies retention every `PRUNE_EVERY` until `shutdown`, while this node (`holder`, unique per
/// process) holds the `deploy-retention` lease.
pub async fn run_retention(store: Store, holder: String, shutdown: CancellationToken) {
    loop {
        match jeny_store::hold_lease(&store, LEASE, &holder, PRUNE_EVERY * 2).await {
            Ok(true) => match prune_output(&store).await {
                Ok(pruned) if pruned.deploys > 0 => tracing::info!(
                    deploys = pruned.deploys,
                    bytes = pruned.bytes,
                    "removed deploy output past the projects' retention"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(
                    error = %ErrorChain(&error),
                    "cannot apply output retention; retrying later"
                ),
            },
            Ok(false) => {}
            Err(error) => tracing::warn!(
                error = %ErrorChain(&error),
                "cannot take the output retention lease; retrying later"
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = shutdown.cancelled() => break,
        }
    }
    let _ = jeny_store::release_lease(&store, LEASE, &holder).await;
}

/// Applies every project's retention settings once.
pub async fn prune_output(store: &Store) -> Result<Pruned, StoreError> {
    let projects = sqlx::query(
        "SELECT id, output_retention_days, output_retention_bytes FROM projects \
         WHERE output_retention_days IS NOT NULL OR output_retention_bytes IS NOT NULL",
    )
    .fetch_all(store.reader())
    .await?;
    let now = store.now().await?.as_micros();
    let mut pruned = Pruned::default();
    for project in projects {
        let project_id: String = project.try_get("id")?;
        let days: Option<i64> = project.try_get("output_retention_days")?;
        let max_bytes: Option<i64> = project.try_get("output_retention_bytes")?;
        let oldest_kept = days.map(|days| now - days * 86_400_000_000);
        let mut kept_bytes = 0i64;
        // Finished deploys whose output is still kept, newest first, a page at a time.
        let mut after: Option<(i64, String)> = None;
        loop {
            let deploys = sqlx::query(
                "SELECT id, finished_at, output_bytes FROM deploys WHERE project_id = $1 \
                 AND finished_at IS NOT NULL AND output_pruned_at IS NULL \
                 AND ($2 IS NULL OR finished_at < $2 OR (finished_at = $2 AND id < $3)) \
                 ORDER BY finished_at DESC, id DESC LIMIT $4",
            )
            .bind(&project_id)
            .bind(after.as_ref().map(|(finished_at, _)| *finished_at))
            .bind(after.as_ref().map(|(_, id)| id.clone()))
            .bind(PAGE)
            .fetch_all(store.reader())
            .await?;
            let full_page = deploys.len() as i64 == PAGE;
            for deploy in deploys {
                let id: String = deploy.try_get("id")?;
                let finished_at: i64 = deploy.try_get("finished_at")?;
                let bytes: i64 = deploy.try_get("output_bytes")?;
                after = Some((finished_at, id.clone()));
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
            if !full_page {
                break;
            }
        }
    }
    Ok(pruned)
}

/// Replaces a deploy's output with a line saying why it is gone. The batch with the highest
/// sequence number is kept (emptied), so the line comes after it: a sequence number is never
/// used twice, and a viewer that had read up to it sees the line as new.
async fn remove_output(store: &Store, id: &str, why: &str) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    store::empty_output(&mut tx, id).await?;
    sqlx::query(&format!(
        "UPDATE deploys SET output_pruned_at = {}, output_bytes = 0 WHERE id = $1",
        tx.now_sql()
    ))
    .bind(id)
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
