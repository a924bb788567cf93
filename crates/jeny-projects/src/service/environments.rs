//! Environments of a project, and the hosts each one targets.

use crate::ProjectError;
use crate::model::{Environment, EnvironmentInput};
use crate::store::{environments as store, projects, taken};
use jeny_core::{Page, PageRequest, Precondition};
use jeny_events::NewEvent;
use jeny_hosts::Host;
use jeny_store::Store;
use serde_json::json;

pub async fn list_environments(
    store: &Store,
    project: &str,
    page: &PageRequest,
) -> Result<Page<Environment>, ProjectError> {
    let project = crate::get_project(store, project).await?;
    let rows = store::list(store, &project.id, page).await?;
    Ok(Page::from_rows(rows, page.limit, |environment| {
        environment.name.clone()
    }))
}

pub async fn get_environment(
    store: &Store,
    project: &str,
    name: &str,
) -> Result<Environment, ProjectError> {
    let key = format!("environment:{project}/{name}");
    match store.cached(key, store::get(store, project, name)).await? {
        Some(environment) => Ok(environment),
        None => {
            // Say which of the two is missing.
            crate::get_project(store, project).await?;
            Err(ProjectError::EnvironmentNotFound {
                project: project.to_owned(),
                environment: name.to_owned(),
            })
        }
    }
}

/// The hosts the environment's selector picks, by name.
pub async fn environment_hosts(
    store: &Store,
    project: &str,
    name: &str,
    page: &PageRequest,
) -> Result<Page<Host>, ProjectError> {
    let environment = get_environment(store, project, name).await?;
    Ok(jeny_hosts::select(store, &environment.selector(), page).await?)
}

pub async fn create_environment(
    store: &Store,
    actor: &str,
    project: &str,
    input: EnvironmentInput,
) -> Result<Environment, ProjectError> {
    let environment = input.validate(None)?;
    let mut tx = store.begin().await?;
    let owner = projects::get_for_update(&mut tx, project)
        .await?
        .ok_or_else(|| ProjectError::ProjectNotFound(project.to_owned()))?;
    let created = store::insert(&mut tx, &owner.id, &owner.name, &environment)
        .await
        .map_err(|error| taken(error, "environment", environment.name.as_str()))?;
    let event = NewEvent::new("environment.created", actor, fields(&created))
        .in_project(&owner.name)
        .in_environment(&created.name);
    jeny_events::append(&mut tx, event).await?;
    tx.commit().await?;
    Ok(created)
}

pub async fn update_environment<E: From<ProjectError>>(
    store: &Store,
    actor: &str,
    project: &str,
    name: &str,
    precondition: &Precondition,
    change: impl FnOnce(EnvironmentInput) -> Result<EnvironmentInput, E>,
) -> Result<Environment, E> {
    let mut tx = store.begin().await.map_err(ProjectError::from)?;
    let current = find_for_update(&mut tx, project, name).await?;
    if !precondition.allows(&current.etag()) {
        return Err(ProjectError::Changed {
            what: "environment",
            current_etag: current.etag(),
        }
        .into());
    }
    let wanted = change(current.to_input())?
        .validate(Some(name))
        .map_err(ProjectError::from)?;
    let updated = store::replace(&mut tx, &current, &wanted)
        .await
        .map_err(ProjectError::from)?;
    let payload = json!({"name": name, "before": fields(&current), "after": fields(&updated)});
    let event = NewEvent::new("environment.updated", actor, payload)
        .in_project(project)
        .in_environment(name);
    jeny_events::append(&mut tx, event)
        .await
        .map_err(ProjectError::from)?;
    tx.commit().await.map_err(ProjectError::from)?;
    Ok(updated)
}

/// Deletes an environment with its variables.
pub async fn delete_environment(
    store: &Store,
    actor: &str,
    project: &str,
    name: &str,
    precondition: &Precondition,
) -> Result<(), ProjectError> {
    let mut tx = store.begin().await?;
    let current = find_for_update(&mut tx, project, name).await?;
    if !precondition.allows(&current.etag()) {
        return Err(ProjectError::Changed {
            what: "environment",
            current_etag: current.etag(),
        });
    }
    store::delete(&mut tx, &current.id).await?;
    let event = NewEvent::new("environment.deleted", actor, fields(&current))
        .in_project(project)
        .in_environment(name);
    jeny_events::append(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}

async fn find_for_update(
    tx: &mut jeny_store::WriteTx,
    project: &str,
    name: &str,
) -> Result<Environment, ProjectError> {
    let owner = projects::get_for_update(tx, project)
        .await?
        .ok_or_else(|| ProjectError::ProjectNotFound(project.to_owned()))?;
    store::get_for_update(tx, &owner.id, name)
        .await?
        .ok_or_else(|| ProjectError::EnvironmentNotFound {
            project: project.to_owned(),
            environment: name.to_owned(),
        })
}

fn fields(environment: &Environment) -> serde_json::Value {
    json!({
        "name": environment.name,
        "host_selector": environment.host_selector,
        "deploy_command": environment.deploy_command,
        "deploy_timeout_secs": environment.deploy_timeout_secs,
        "deploy_grace_secs": environment.deploy_grace_secs,
        "allow_hostless_deploys": environment.allow_hostless_deploys,
        "queue_policy": environment.queue_policy,
    })
}
