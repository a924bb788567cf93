//! What can be done with hosts: the business rules between the API and the store. Every change
//! appends its event in the same transaction.

use crate::model::{
    GoneFilter, Host, HostInput, HostSource, ObservedHost, ReconcileCounts, TagSelector,
};
use crate::{HostError, store};
use jeny_core::{Page, PageRequest, Precondition};
use jeny_events::NewEvent;
use jeny_store::Store;
use serde_json::json;

/// Hosts matching `selector` that are not gone; every such host for an empty selector.
pub async fn list_hosts(
    store: &Store,
    selector: &TagSelector,
    page: &PageRequest,
) -> Result<Page<Host>, HostError> {
    list_hosts_filtered(store, selector, GoneFilter::Exclude, page).await
}

/// Hosts matching `selector`, gone ones included or not as `gone` says.
pub async fn list_hosts_filtered(
    store: &Store,
    selector: &TagSelector,
    gone: GoneFilter,
    page: &PageRequest,
) -> Result<Page<Host>, HostError> {
    let rows = store::list(store, selector, gone, page).await?;
    Ok(Page::from_rows(rows, page.limit, |host| host.name.clone()))
}

/// Brings the hosts kept by `managed_by` in line with what a sync observed, inside the caller's
/// transaction: new ones are added (named after their preferred name, made valid and unique),
/// changed ones updated, missing ones marked gone (never deleted), and every one observed
/// marked seen. Only what differs is written.
pub async fn reconcile(
    tx: &mut jeny_store::WriteTx,
    source: HostSource,
    managed_by: &str,
    observed: Vec<ObservedHost>,
) -> Result<ReconcileCounts, HostError> {
    let now = jeny_core::Timestamp::now().as_micros();
    let existing = store::managed_by(tx, managed_by).await?;
    let mut by_external_id: std::collections::HashMap<&str, &store::ManagedRow> = existing
        .iter()
        .map(|row| (row.external_id.as_str(), row))
        .collect();
    let mut names: Option<std::collections::HashSet<String>> = None;
    let mut counts = ReconcileCounts::default();
    for host in &observed {
        match by_external_id.remove(host.external_id.as_str()) {
            Some(row) => {
                let tags_changed = row.tags != host.tags;
                if tags_changed || row.address != host.address || row.gone {
                    store::update_managed(
                        tx,
                        &row.id,
                        &host.address,
                        tags_changed.then_some(&host.tags),
                        now,
                    )
                    .await?;
                    counts.changed += 1;
                } else {
                    counts.unchanged += 1;
                }
            }
            None => {
                if names.is_none() {
                    names = Some(store::all_names(tx).await?.into_iter().collect());
                }
                let taken = names.as_mut().expect("the names were just read");
                let name = free_name(&host.preferred_name, &host.external_id, taken);
                store::insert_managed(
                    tx,
                    store::NewManaged {
                        name: &name,
                        address: &host.address,
                        tags: &host.tags,
                        source,
                        managed_by,
                        external_id: &host.external_id,
                    },
                    now,
                )
                .await?;
                taken.insert(name);
                counts.added += 1;
            }
        }
    }
    for row in by_external_id.values().filter(|row| !row.gone) {
        store::mark_gone(tx, &row.id, now).await?;
        counts.gone += 1;
    }
    store::seen(tx, managed_by, now).await?;
    Ok(counts)
}

/// The `managed_by` values of hosts that start with `prefix` (such as `aws:main/`): the places a
/// sync keeps hosts from.
pub async fn managed_sources(
    tx: &mut jeny_store::WriteTx,
    prefix: &str,
) -> Result<Vec<String>, HostError> {
    Ok(store::managed_sources(tx, prefix).await?)
}

/// A valid host name not in `taken`: the preferred one made valid, else it with the external
/// id appended, else the external id itself (made valid).
fn free_name(
    preferred: &str,
    external_id: &str,
    taken: &std::collections::HashSet<String>,
) -> String {
    let clean = |raw: &str| -> String {
        let replaced: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let trimmed = replaced.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
        trimmed.chars().take(200).collect()
    };
    let id = clean(external_id);
    let preferred = clean(preferred);
    [preferred.clone(), format!("{preferred}-{id}"), id.clone()]
        .into_iter()
        .find(|name| !name.is_empty() && !name.starts_with('-') && !taken.contains(name))
        .unwrap_or_else(|| format!("{id}-{}", jeny_core::new_id()))
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
    if let Some(managed_by) = &current.managed_by {
        return Err(HostError::Managed {
            name: current.name.clone(),
            managed_by: managed_by.clone(),
        }
        .into());
    }
    let wanted = change(current.to_input())?
        .validate(Some(name))
        .map_err(HostError::from)?;
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
    // a gone host may be removed: nothing will sync it again
    if let Some(managed_by) = current
        .managed_by
        .as_ref()
        .filter(|_| current.gone_at.is_none())
    {
        return Err(HostError::Managed {
            name: current.name.clone(),
            managed_by: managed_by.clone(),
        });
    }
    store::delete(&mut tx, &current.id).await?;
    let payload = json!({"name": current.name, "address": current.address, "tags": current.tags});
    jeny_events::append(&mut tx, NewEvent::new("host.deleted", actor, payload)).await?;
    tx.commit().await?;
    Ok(())
}
