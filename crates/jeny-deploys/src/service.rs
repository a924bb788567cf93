//! What can be done with deploys from the API: queue one, read them, cancel, redeploy, and lock
//! an environment. Every change appends its event in the same transaction and wakes the runner.

use crate::DeployError;
use crate::model::{Deploy, DeployRequest, DeployStatus, EnvironmentLock, LockRequest};
use crate::store::{self, DeployFilter, DeployRow, Ending, NewDeploy};
use jeny_core::{Page, PageRequest, Timestamp};
use jeny_events::NewEvent;
use jeny_projects::{Environment, QueuePolicy};
use jeny_store::{Channel, Store, WriteTx};
use serde_json::json;

/// Builds the web page URL of a deploy.
#[derive(Debug, Clone)]
pub struct Links {
    /// The server's public URL, without a trailing slash.
    pub base: String,
}

impl Links {
    pub fn deploy_page(&self, project: &str, id: &str) -> String {
        format!("{}/p/{project}/deploys/{id}", self.base)
    }
}

/// The deploys as the API shows them: queue positions (one statement for all) and links.
async fn present(
    store: &Store,
    links: &Links,
    rows: Vec<DeployRow>,
) -> Result<Vec<Deploy>, DeployError> {
    let positions = store::queue_positions(store, &rows).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let mut deploy = row.deploy;
            if deploy.status == DeployStatus::Queued {
                // At least 1: it was queued when read, even if a runner took it a moment later.
                deploy.queue_position =
                    Some(positions.get(&deploy.id).copied().unwrap_or(1).max(1));
            }
            deploy.url = links.deploy_page(&deploy.project, &deploy.id);
            deploy
        })
        .collect())
}

pub async fn get_deploy(store: &Store, links: &Links, id: &str) -> Result<Deploy, DeployError> {
    let row = store::get(store, id)
        .await?
        .ok_or_else(|| DeployError::NotFound(id.to_owned()))?;
    let mut deploys = present(store, links, vec![row]).await?;
    deploys
        .pop()
        .ok_or_else(|| DeployError::NotFound(id.to_owned()))
}

/// Deploys newest first, filtered. A project or environment that does not exist has none.
pub async fn list_deploys(
    store: &Store,
    links: &Links,
    filter: &DeployFilter,
    page: &PageRequest,
) -> Result<Page<Deploy>, DeployError> {
    let mut by_ids = store::ListFilter {
        status: filter.status,
        user: filter.user.clone(),
        ..store::ListFilter::default()
    };
    if let Some(project) = &filter.project {
        match jeny_projects::get_project(store, project).await {
            Ok(found) => by_ids.project_id = Some(found.id),
            Err(error) if is_not_found(&error) => return Ok(empty(page)),
            Err(error) => return Err(error.into()),
        }
        if let Some(environment) = &filter.environment {
            match jeny_projects::get_environment(store, project, environment).await {
                Ok(found) => by_ids.environment_id = Some(found.id),
                Err(error) if is_not_found(&error) => return Ok(empty(page)),
                Err(error) => return Err(error.into()),
            }
        }
    }
    let rows = store::list(store, &by_ids, page.after.as_deref(), page.fetch_limit()).await?;
    let deploys = present(store, links, rows).await?;
    Ok(Page::from_rows(deploys, page.limit, |deploy| {
        deploy.id.clone()
    }))
}

/// The newest deploy of each environment of `project` (of every project when `None`), or the
/// newest with `status`: what each environment runs, or is running. One indexed lookup per
/// environment, however long the history.
pub async fn latest_deploys(
    store: &Store,
    links: &Links,
    project: Option<&str>,
    status: Option<DeployStatus>,
) -> Result<Vec<Deploy>, DeployError> {
    let projects = match project {
        Some(project) => vec![project.to_owned()],
        None => all_pages(|page| async move { jeny_projects::list_projects(store, &page).await })
            .await?
            .into_iter()
            .map(|project| project.name.to_string())
            .collect(),
    };
    let mut rows = Vec::new();
    for project in &projects {
        let environments = match all_pages(|page| async move {
            jeny_projects::list_environments(store, project, &page).await
        })
        .await
        {
            Ok(environments) => environments,
            // Deleted meanwhile, or never there: it has no deploys.
            Err(error) if is_not_found(&error) => continue,
            Err(error) => return Err(error.into()),
        };
        for environment in environments {
            if let Some(row) = store::latest_in(store, &environment.id, status).await? {
                rows.push(row);
            }
        }
    }
    rows.sort_by(|a, b| {
        (&a.deploy.project, &a.deploy.environment).cmp(&(&b.deploy.project, &b.deploy.environment))
    });
    present(store, links, rows).await
}

fn is_not_found(error: &jeny_projects::ProjectError) -> bool {
    matches!(
        error,
        jeny_projects::ProjectError::ProjectNotFound(_)
            | jeny_projects::ProjectError::EnvironmentNotFound { .. }
    )
}

fn empty(page: &PageRequest) -> Page<Deploy> {
    Page::from_rows(Vec::new(), page.limit, |deploy: &Deploy| deploy.id.clone())
}

/// Every item of a paged listing.
async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, jeny_projects::ProjectError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, jeny_projects::ProjectError>>,
{
    let mut items = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let found = fetch(page.clone()).await?;
        items.extend(found.items);
        match found.next_cursor {
            Some(cursor) => page.after = jeny_core::page::decode_cursor(&cursor),
            None => return Ok(items),
        }
    }
}

/// The hosts a deploy to `environment` with `filter` would target; refuses (unless the environment
/// allows host-less deploys) a filter or a selector that targets no host. An environment whose
/// selector is empty is host-less by design: its deploys target no host.
pub(crate) async fn check_targets(
    store: &Store,
    environment: &Environment,
    filter: &jeny_hosts::TagSelector,
) -> Result<jeny_hosts::TagSelector, DeployError> {
    let selector = environment.selector();
    let Some(combined) = selector.and(filter) else {
        return Err(DeployError::invalid(
            "host_filter",
            format!(
                "the host filter contradicts the environment's host selector {:?}",
                selector.conditions()
            ),
        ));
    };
    if selector.is_empty() {
        if !filter.is_empty() && !environment.allow_hostless_deploys {
            return Err(DeployError::NoHosts {
                field: Some("host_filter".into()),
                why: format!(
                    "{} has an empty host selector, so a host filter has nothing to narrow",
                    environment.name
                ),
            });
        }
        return Ok(jeny_hosts::TagSelector::default());
    }
    let found = jeny_hosts::select(store, &combined, &PageRequest::first(1)).await?;
    if found.items.is_empty() && !environment.allow_hostless_deploys {
        let (field, why) = if filter.is_empty() {
            (
                None,
                format!(
                    "no host matches {}'s host selector {:?}",
                    environment.name,
                    selector.conditions()
                ),
            )
        } else {
            (
                Some("host_filter".into()),
                format!("no host matches {:?}", combined.conditions()),
            )
        };
        return Err(DeployError::NoHosts { field, why });
    }
    Ok(combined)
}

/// Queues a deploy of `environment` for `user`. It starts as soon as its environment's queue
/// and a runner allow (the runner is woken at commit).
pub async fn create_deploy(
    store: &Store,
    links: &Links,
    user: &str,
    project: &str,
    environment: &str,
    request: DeployRequest,
) -> Result<Deploy, DeployError> {
    queue(store, links, user, project, environment, request, None).await
}

async fn queue(
    store: &Store,
    links: &Links,
    user: &str,
    project: &str,
    environment: &str,
    request: DeployRequest,
    redeploy_of: Option<&str>,
) -> Result<Deploy, DeployError> {
    let request = request.validate()?;
    let environment = jeny_projects::get_environment(store, project, environment).await?;
    let project = jeny_projects::get_project(store, project).await?;
    let command = environment
        .deploy_command
        .clone()
        .unwrap_or_else(|| project.deploy_command.clone());
    if command.trim().is_empty() {
        return Err(DeployError::invalid(
            "deploy_command",
            format!(
                "project {} has no deploy command (and {} does not override it): set one first",
                project.name, environment.name
            ),
        ));
    }
    check_targets(store, &environment, &request.host_filter).await?;
    let id = jeny_core::new_id();
    let (project, environment, request) = (&project, &environment, &request);
    let id_ref = &id;
    store
        .write(|mut tx| async move {
            // Locks in one order: the environment's queue, then deploy rows, then (appending an
            // event) the event order. Cancels and ends take them in the same order.
            store::lock_queue(&mut tx, &environment.id).await?;
            let backend = tx.backend();
            if let Some(lock) =
                store::lock_in(tx.conn(), backend, &environment.id, &project.name, &environment.name).await?
            {
                return Err(DeployError::Locked {
                    environment: format!("{}/{}", project.name, environment.name),
                    reason: lock.reason,
                    locked_by: lock.locked_by,
                    expires_at: lock.expires_at,
                });
            }
            let superseded = match environment.queue_policy {
                QueuePolicy::NewestWins => store::queued_in(&mut tx, &environment.id).await?,
                QueuePolicy::Fifo => Vec::new(),
            };
            // The event before the row: appending takes the event-order lock (on PostgreSQL),
            // which holds until commit, so `queued_at`, the database's clock read after it,
            // follows commit order. The queue is then first committed, first run, even for
            // deploys posted at the same moment on several nodes.
            let payload = json!({
                "id": id_ref, "ref": request.git_ref, "user": user, "description": request.description,
                "redeploy_of": redeploy_of,
            });
            jeny_events::append(
                &mut tx,
                NewEvent::new("deploy.queued", user, payload)
                    .in_project(&project.name)
                    .in_environment(&environment.name),
            )
            .await?;
            store::insert(
                &mut tx,
                id_ref,
                &NewDeploy {
                    project_id: &project.id,
                    environment_id: &environment.id,
                    project: &project.name,
                    environment: &environment.name,
                    git_ref: request.git_ref.as_deref(),
                    description: &request.description,
                    host_filter: request.host_filter.conditions(),
                    user,
                    redeploy_of,
                },
            )
            .await?;
            let reason = format!("superseded by the newer deploy {id_ref}");
            for older in &superseded {
                end_queued(&mut tx, older, user, &reason, None).await?;
            }
            tx.wake_on_commit(Channel::Deploys).await?;
            Ok(((), tx))
        })
        .await?;
    get_deploy(store, links, &id).await
}

/// Ends a queued deploy as cancelled, with its event.
async fn end_queued(
    tx: &mut WriteTx,
    row: &DeployRow,
    actor: &str,
    reason: &str,
    cancelled_by: Option<&str>,
) -> Result<bool, DeployError> {
    let ending = Ending {
        status: DeployStatus::Cancelled,
        exit_code: None,
        reason: Some(reason),
        cancelled_by,
        lease_token: None,
    };
    if !store::finish(tx, &row.deploy.id, DeployStatus::Queued, &ending).await? {
        return Ok(false);
    }
    store::append_jeny_line(
        tx,
        &row.deploy.id,
        &format!("[jeny] cancelled before it started: {reason}"),
    )
    .await?;
    jeny_events::append(tx, finished_event(&row.deploy, actor, &ending, None)).await?;
    Ok(true)
}

/// The `deploy.finished` event: what chat, metrics and notifications need without reading more.
pub(crate) fn finished_event(
    deploy: &Deploy,
    actor: &str,
    ending: &Ending<'_>,
    sha: Option<&str>,
) -> NewEvent {
    let finished_at = Timestamp::now().as_micros();
    let duration_ms =
        (finished_at - deploy.started_at.unwrap_or(deploy.queued_at).as_micros()) / 1000;
    NewEvent::new(
        "deploy.finished",
        actor,
        json!({
            "id": deploy.id,
            "status": ending.status,
            "exit_code": ending.exit_code,
            "reason": ending.reason,
            "cancelled_by": ending.cancelled_by,
            "user": deploy.user,
            "ref": deploy.git_ref,
            "sha": sha.or(deploy.sha.as_deref()),
            "host_count": deploy.hosts.len(),
            "started": deploy.started_at.is_some(),
            "duration_ms": duration_ms,
        }),
    )
    .in_project(&deploy.project)
    .in_environment(&deploy.environment)
}

/// Cancels a deploy: a queued one ends at once; a running one is asked to stop, and its
/// supervisor stops the command (SIGTERM to its process group, the grace period, SIGKILL).
pub async fn cancel_deploy(
    store: &Store,
    links: &Links,
    actor: &str,
    id: &str,
) -> Result<Deploy, DeployError> {
    let environment_id = store::environment_of(store, id)
        .await?
        .ok_or_else(|| DeployError::NotFound(id.to_owned()))?;
    let environment_id = &environment_id;
    store
        .write(|mut tx| async move {
            store::lock_queue(&mut tx, environment_id).await?;
            let row = store::get_in(&mut tx, id)
                .await?
                .ok_or_else(|| DeployError::NotFound(id.to_owned()))?;
            match row.deploy.status {
                DeployStatus::Queued => {
                    end_queued(
                        &mut tx,
                        &row,
                        actor,
                        &format!("cancelled by {actor}"),
                        Some(actor),
                    )
                    .await?;
                }
                DeployStatus::Running => {
                    store::request_cancel(&mut tx, id, actor).await?;
                    jeny_events::append(
                        &mut tx,
                        NewEvent::new("deploy.cancel_requested", actor, json!({"id": id}))
                            .in_project(&row.deploy.project)
                            .in_environment(&row.deploy.environment),
                    )
                    .await?;
                }
                status => return Err(DeployError::NotCancellable { status }),
            }
            tx.wake_on_commit(Channel::Deploys).await?;
            Ok(((), tx))
        })
        .await?;
    get_deploy(store, links, id).await
}

/// Queues the same thing again: the commit the deploy ran when it recorded one (so redeploying
/// an older deploy is a rollback), else its ref; the same host filter.
pub async fn redeploy(
    store: &Store,
    links: &Links,
    user: &str,
    id: &str,
) -> Result<Deploy, DeployError> {
    let original = store::get(store, id)
        .await?
        .ok_or_else(|| DeployError::NotFound(id.to_owned()))?
        .deploy;
    let description = match &original.git_ref {
        Some(git_ref) => format!("redeploy of {} ({git_ref})", original.id),
        None => format!("redeploy of {}", original.id),
    };
    let request = DeployRequest {
        git_ref: original.sha.clone().or(original.git_ref.clone()),
        description: Some(description),
        host_filter: original.host_filter.clone(),
    };
    queue(
        store,
        links,
        user,
        &original.project,
        &original.environment,
        request,
        Some(&original.id),
    )
    .await
}

/// The environment's lock in force, or `None` when it is not locked.
pub async fn get_lock(
    store: &Store,
    project: &str,
    environment: &str,
) -> Result<Option<EnvironmentLock>, DeployError> {
    let found = jeny_projects::get_environment(store, project, environment).await?;
    Ok(store::lock_in(
        store.reader(),
        store.backend(),
        &found.id,
        project,
        environment,
    )
    .await?)
}

/// Locks an environment against new deploys (a running or queued one is not touched).
pub async fn lock_environment(
    store: &Store,
    actor: &str,
    project: &str,
    environment: &str,
    request: LockRequest,
) -> Result<EnvironmentLock, DeployError> {
    let request = request.validate()?;
    let found = jeny_projects::get_environment(store, project, environment).await?;
    let lock = EnvironmentLock {
        project: project.to_owned(),
        environment: environment.to_owned(),
        reason: request.reason,
        locked_by: actor.to_owned(),
        locked_at: Timestamp::now(),
        expires_at: request.expires_at,
    };
    let mut tx = store.begin().await?;
    store::put_lock(&mut tx, &found.id, &lock).await?;
    jeny_events::append(
        &mut tx,
        NewEvent::new(
            "environment.locked",
            actor,
            json!({"reason": lock.reason, "expires_at": lock.expires_at}),
        )
        .in_project(project)
        .in_environment(environment),
    )
    .await?;
    tx.commit().await?;
    Ok(lock)
}

pub async fn unlock_environment(
    store: &Store,
    actor: &str,
    project: &str,
    environment: &str,
) -> Result<(), DeployError> {
    let found = jeny_projects::get_environment(store, project, environment).await?;
    let mut tx = store.begin().await?;
    if !store::delete_lock(&mut tx, &found.id).await? {
        return Err(DeployError::NotLocked {
            environment: format!("{project}/{environment}"),
        });
    }
    jeny_events::append(
        &mut tx,
        NewEvent::new("environment.unlocked", actor, json!({}))
            .in_project(project)
            .in_environment(environment),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
