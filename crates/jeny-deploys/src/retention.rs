//! Output retention, per project: the output of finished deploys older than the project's
//! `output_retention_days`, and of its oldest finished deploys beyond `output_retention_bytes`
//! in all, is removed. The deploy records stay (what ran, who, how it ended); their output is
//! replaced by one line saying why it is gone. `run_retention` applies it every ten minutes as a
//! job of its own, on one node of a cluster at a time (the `deploy-retention` lease), reading
//! deploys in pages and removing each one's output in a transaction of its own, so it never holds
//! the writer long nor sits in the dispatcher's way. It is idempotent.

use crate::{DeployError, store};
use jeny_core::page::decode_cursor;
use jeny_core::{ErrorChain, PageRequest};
use jeny_projects::Project;
use jeny_store::{Channel, Store, StoreError};
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
pub async fn prune_output(store: &Store) -> Result<Pruned, DeployError> {
    let now = store.now().await?.as_micros();
    let mut pruned = Pruned::default();
    for project in projects_with_retention(store).await? {
        let days = project.output_retention_days.map(i64::from);
        let max_bytes = project
            .output_retention_bytes
            .map(|max| i64::try_from(max).unwrap_or(i64::MAX));
        let oldest_kept = days.map(|days| now - days * 86_400_000_000);
        let mut kept_bytes = 0i64;
        // Finished deploys whose output is still kept, newest first, a page at a time.
        let mut last_seen: Option<store::KeptOutput> = None;
        loop {
            let after = last_seen.as_ref().map(|deploy| store::KeptOutputCursor {
                finished_at: deploy.finished_at,
                id: &deploy.id,
            });
            let deploys = store::kept_output(store, &project.id, after, PAGE).await?;
            let full_page = deploys.len() as i64 == PAGE;
            for deploy in deploys {
                let why = if oldest_kept.is_some_and(|oldest| deploy.finished_at < oldest) {
                    Some(format!(
                        "it finished more than {} day(s) ago",
                        days.unwrap_or_default()
                    ))
                } else if max_bytes.is_some_and(|max| kept_bytes + deploy.output_bytes > max) {
                    Some(format!(
                        "the project keeps at most {} bytes of deploy output",
                        max_bytes.unwrap_or_default()
                    ))
                } else {
                    kept_bytes += deploy.output_bytes;
                    None
                };
                if let Some(why) = why {
                    remove_output(store, &deploy.id, &why).await?;
                    pruned.deploys += 1;
                    pruned.bytes += deploy.output_bytes;
                }
                last_seen = Some(deploy);
            }
            if !full_page {
                break;
            }
        }
    }
    Ok(pruned)
}

/// The projects that set a retention, through `jeny-projects` (whose table this part does not
/// read), a page at a time.
async fn projects_with_retention(store: &Store) -> Result<Vec<Project>, DeployError> {
    let mut projects = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let found = jeny_projects::list_projects(store, &page).await?;
        projects.extend(found.items.into_iter().filter(|project| {
            project.output_retention_days.is_some() || project.output_retention_bytes.is_some()
        }));
        let Some(cursor) = found.next_cursor else {
            return Ok(projects);
        };
        page.after = Some(decode_cursor(&cursor).ok_or_else(|| {
            StoreError::Corrupt(format!("projects page cursor {cursor:?} does not decode"))
        })?);
    }
}

/// Replaces a deploy's output with a line saying why it is gone. The batch with the highest
/// sequence number is kept (emptied), so the line comes after it: a sequence number is never
/// used twice, and a viewer that had read up to it sees the line as new.
async fn remove_output(store: &Store, id: &str, why: &str) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    store::empty_output(&mut tx, id).await?;
    store::mark_output_pruned(&mut tx, id).await?;
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
