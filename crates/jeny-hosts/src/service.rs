//! What can be done with hosts: the business rules between the API and the store. Every change
//! appends its event in the same transaction.

use crate::model::{Host, HostInput, HostSource, TagSelector};
use crate::{HostError, store};
use jeny_core::{Page, PageRequest, Precondition};
use jeny_events::NewEvent;
use jeny_store::Store;
use serde_json::json;

/// Hosts matching `selector`; every host for an empty selector.
pub async fn list_hosts(
    store: &Store,
    selector: &TagSelector,
    page: &PageRequest,
) -> Result<Page<Host>, HostError> {
    let rows = store::list(store, selector, page).await?;
    Ok(Page::from_rows(rows, page.limit, |host| host.name.clone()))
}

/// The hosts an environment's selector picks. An empty selector picks no host: an environment
/// must say which hosts it targets, never "all of them" by omission.
pub async fn select(
    store: &Store,
    selector: &TagSelector,
    page: &PageRequest,
) -> Result<Page<Host>, HostError> {
    if selector.is_empty() {
        return Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    list_hosts(store, selector, page).await
}

pub async fn get_host(store: &Store, name: &str) -> Result<Host, HostError> {
    store
        .cached(format!("host:{name}"), store::get(store, name))
        .await?
        .ok_or_else(|| HostError::NotFound(name.to_owned()))
}

pub async fn create_host(store: &Store, actor: &str, input: HostInput) -> Result<Host, HostError> {
    let host = input.validate(None)?;
    let mut tx = store.begin().await?;
    let created = store::insert(&mut tx, &host, HostSource::Manual)
        .await
        .map_err(|error| {
            if error.is_conflict() {
                HostError::NameTaken(host.name.as_str().to_owned())
            } else {
                error.into()
            }
        })?;
    let payload = json!({"name": created.name, "address": created.address, "tags": created.tags, "source": created.source});
    jeny_events::append(&mut tx, NewEvent::new("host.created", actor, payload)).await?;
    tx.commit().await?;
    Ok(created)
}

/// Changes a host's writable fields: `change` gets the current ones and returns the new ones
/// (a whole replacement for PUT, a merge patch for PATCH), inside the transaction that holds
/// the host, so concurrent updates apply one after the other.
pub async fn update_host<E: From<HostError>>(
    store: &Store,
    actor: &str,
    name: &str,
    precondition: &Precondition,
    change: impl FnOnce(HostInput) -> Result<HostInput, E>,
) -> Result<Host, E> {
    let mut tx = store.begin().await.map_err(HostError::from)?;
    let current = store::get_for_update(&mut tx, name)
        .await
        .map_err(HostError::from)?
        .ok_or_else(|| HostError::NotFound(name.to_owned()))?;
    if !precondition.allows(&current.etag()) {
        return Err(HostError::Changed {
            current_etag: current.etag(),
        }
        .into());
    }
    let wanted = change(current.to_input())?.validate(Some(name))?;
    let updated = store::replace(&mut tx, &current, &wanted)
        .await
        .map_err(HostError::from)?;
    let payload = json!({
        "name": updated.name,
        "before": {"address": current.address, "tags": current.tags},
        "after": {"address": updated.address, "tags": updated.tags},
    });
    jeny_events::append(&mut tx, NewEvent::new("host.updated", actor, payload))
        .await
        .map_err(HostError::from)?;
    tx.commit().await.map_err(HostError::from)?;
    Ok(updated)
}

pub async fn delete_host(
    store: &Store,
    actor: &str,
    name: &str,
    precondition: &Precondition,
) -> Result<(), HostError> {
    let mut tx = store.begin().await?;
    let current = store::get_for_update(&mut tx, name)
        .await?
        .ok_or_else(|| HostError::NotFound(name.to_owned()))?;
    if !precondition.allows(&current.etag()) {
        return Err(HostError::Changed {
            current_etag: current.etag(),
        });
    }
    store::delete(&mut tx, &current.id).await?;
    let payload = json!({"name": current.name, "address": current.address, "tags": current.tags});
    jeny_events::append(&mut tx, NewEvent::new("host.deleted", actor, payload)).await?;
    tx.commit().await?;
    Ok(())
}
