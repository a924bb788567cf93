//! Projects.

use crate::ProjectError;
use crate::model::{Project, ProjectInput};
use crate::store::{projects as store, taken};
use jeny_core::{Page, PageRequest, Precondition};
use jeny_events::NewEvent;
use jeny_store::Store;
use serde_json::json;

pub async fn list_projects(
    store: &Store,
    page: &PageRequest,
) -> Result<Page<Project>, ProjectError> {
    let rows = store::list(store, page).await?;
    Ok(Page::from_rows(rows, page.limit, |project| {
        project.name.clone()
    }))
}

pub async fn get_project(store: &Store, name: &str) -> Result<Project, ProjectError> {
    store
        .cached(format!("project:{name}"), store::get(store, name))
        .await?
        .ok_or_else(|| ProjectError::ProjectNotFound(name.to_owned()))
}

pub async fn create_project(
    store: &Store,
    actor: &str,
    input: ProjectInput,
) -> Result<Project, ProjectError> {
    let project = input.validate(None)?;
    let mut tx = store.begin().await?;
    let created = store::insert(&mut tx, &project)
        .await
        .map_err(|error| taken(error, "project", project.name.as_str()))?;
    jeny_events::append(
        &mut tx,
        NewEvent::new("project.created", actor, fields(&created)).in_project(&created.name),
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

pub async fn update_project<E: From<ProjectError>>(
    store: &Store,
    actor: &str,
    name: &str,
    precondition: &Precondition,
    change: impl FnOnce(ProjectInput) -> Result<ProjectInput, E>,
) -> Result<Project, E> {
    let mut tx = store.begin().await.map_err(ProjectError::from)?;
    let current = store::get_for_update(&mut tx, name)
        .await
        .map_err(ProjectError::from)?
        .ok_or_else(|| ProjectError::ProjectNotFound(name.to_owned()))?;
    if !precondition.allows(&current.etag()) {
        return Err(ProjectError::Changed {
            what: "project",
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
    jeny_events::append(
        &mut tx,
        NewEvent::new("project.updated", actor, payload).in_project(name),
    )
    .await
    .map_err(ProjectError::from)?;
    tx.commit().await.map_err(ProjectError::from)?;
    Ok(updated)
}

/// Deletes a project with its environments and variables.
pub async fn delete_project(
    store: &Store,
    actor: &str,
    name: &str,
    precondition: &Precondition,
) -> Result<(), ProjectError> {
    let mut tx = store.begin().await?;
    let current = store::get_for_update(&mut tx, name)
        .await?
        .ok_or_else(|| ProjectError::ProjectNotFound(name.to_owned()))?;
    if !precondition.allows(&current.etag()) {
        return Err(ProjectError::Changed {
            what: "project",
            current_etag: current.etag(),
        });
    }
    store::delete(&mut tx, &current.id).await?;
    jeny_events::append(
        &mut tx,
        NewEvent::new("project.deleted", actor, fields(&current)).in_project(name),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn fields(project: &Project) -> serde_json::Value {
    json!({
        "name": project.name,
        "title": project.title,
        "description": project.description,
        "repository": project.repository,
        "deploy_command": project.deploy_command,
        "output_retention_days": project.output_retention_days,
        "output_retention_bytes": project.output_retention_bytes,
    })
}
