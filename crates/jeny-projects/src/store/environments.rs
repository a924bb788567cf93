//! The `environments` table. Rows are read with their project's name, which the API shows.

use crate::model::{Environment, QueuePolicy, ValidEnvironment};
use jeny_core::{PageRequest, Timestamp, new_id};
use jeny_hosts::Tags;
use jeny_store::{AnyRow, Row, Store, StoreError, WriteTx, sqlx};

const COLUMNS: &str = "e.id, e.project_id, p.name AS project_name, e.name, e.host_selector, e.deploy_command, \
     e.deploy_timeout_secs, e.deploy_grace_secs, e.allow_hostless_deploys, e.queue_policy, \
     e.version, e.created_at, e.updated_at";
const FROM: &str = "FROM environments e JOIN projects p ON p.id = e.project_id";

pub(crate) async fn list(
    store: &Store,
    project_id: &str,
    page: &PageRequest,
) -> Result<Vec<Environment>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} {FROM} WHERE e.project_id = $1 AND ($2 IS NULL OR e.name > $2) ORDER BY e.name LIMIT $3"
    ))
    .bind(project_id)
    .bind(page.after.clone())
    .bind(page.fetch_limit())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

pub(crate) async fn get(
    store: &Store,
    project: &str,
    name: &str,
) -> Result<Option<Environment>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} {FROM} WHERE p.name = $1 AND e.name = $2"
    ))
    .bind(project)
    .bind(name)
    .fetch_optional(store.reader())
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn get_for_update(
    tx: &mut WriteTx,
    project_id: &str,
    name: &str,
) -> Result<Option<Environment>, StoreError> {
    // FOR UPDATE OF: lock the environment row, not the project's.
    let lock = if tx.for_update().is_empty() {
        ""
    } else {
        " FOR UPDATE OF e"
    };
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE e.project_id = $1 AND e.name = $2{lock}");
    let row = sqlx::query(&sql)
        .bind(project_id)
        .bind(name)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn insert(
    tx: &mut WriteTx,
    project_id: &str,
    project_name: &str,
    environment: &ValidEnvironment,
) -> Result<Environment, StoreError> {
    let now = Timestamp::now();
    let id = new_id();
    sqlx::query(
        "INSERT INTO environments (id, project_id, name, host_selector, deploy_command, deploy_timeout_secs, \
         deploy_grace_secs, allow_hostless_deploys, queue_policy, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10)",
    )
    .bind(&id)
    .bind(project_id)
    .bind(environment.name.as_str())
    .bind(selector_json(environment.host_selector.conditions()))
    .bind(environment.deploy_command.clone())
    .bind(i64::from(environment.deploy_timeout_secs))
    .bind(i64::from(environment.deploy_grace_secs))
    .bind(i64::from(environment.allow_hostless_deploys))
    .bind(environment.queue_policy.as_str())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(Environment {
        id,
        project_id: project_id.to_owned(),
        project: project_name.to_owned(),
        name: environment.name.to_string(),
        host_selector: environment.host_selector.conditions().clone(),
        deploy_command: environment.deploy_command.clone(),
        deploy_timeout_secs: environment.deploy_timeout_secs,
        deploy_grace_secs: environment.deploy_grace_secs,
        allow_hostless_deploys: environment.allow_hostless_deploys,
        queue_policy: environment.queue_policy,
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

pub(crate) async fn replace(
    tx: &mut WriteTx,
    current: &Environment,
    environment: &ValidEnvironment,
) -> Result<Environment, StoreError> {
    let now = Timestamp::now();
    sqlx::query(
        "UPDATE environments SET host_selector = $2, deploy_command = $3, deploy_timeout_secs = $4, \
         deploy_grace_secs = $5, allow_hostless_deploys = $6, queue_policy = $7, \
         version = version + 1, updated_at = $8 WHERE id = $1",
    )
    .bind(&current.id)
    .bind(selector_json(environment.host_selector.conditions()))
    .bind(environment.deploy_command.clone())
    .bind(i64::from(environment.deploy_timeout_secs))
    .bind(i64::from(environment.deploy_grace_secs))
    .bind(i64::from(environment.allow_hostless_deploys))
    .bind(environment.queue_policy.as_str())
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(Environment {
        host_selector: environment.host_selector.conditions().clone(),
        deploy_command: environment.deploy_command.clone(),
        deploy_timeout_secs: environment.deploy_timeout_secs,
        deploy_grace_secs: environment.deploy_grace_secs,
        allow_hostless_deploys: environment.allow_hostless_deploys,
        queue_policy: environment.queue_policy,
        updated_at: now,
        version: current.version + 1,
        ..current.clone()
    })
}

/// Deletes the environment and, through the foreign key, its variables.
pub(crate) async fn delete(tx: &mut WriteTx, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM environments WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

fn selector_json(tags: &Tags) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "{}".to_owned())
}

fn from_row(row: &AnyRow) -> Result<Environment, StoreError> {
    let selector: String = row.try_get("host_selector")?;
    let timeout: i64 = row.try_get("deploy_timeout_secs")?;
    let grace: i64 = row.try_get("deploy_grace_secs")?;
    let queue_policy: String = row.try_get("queue_policy")?;
    Ok(Environment {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        project: row.try_get("project_name")?,
        name: row.try_get("name")?,
        host_selector: serde_json::from_str(&selector)
            .map_err(|error| StoreError::Corrupt(format!("environment host_selector: {error}")))?,
        deploy_command: row.try_get("deploy_command")?,
        deploy_timeout_secs: u32::try_from(timeout)
            .map_err(|_| StoreError::Corrupt(format!("deploy_timeout_secs {timeout}")))?,
        deploy_grace_secs: u32::try_from(grace)
            .map_err(|_| StoreError::Corrupt(format!("deploy_grace_secs {grace}")))?,
        allow_hostless_deploys: row.try_get::<i64, _>("allow_hostless_deploys")? != 0,
        queue_policy: QueuePolicy::parse(&queue_policy)
            .ok_or_else(|| StoreError::Corrupt(format!("queue_policy {queue_policy:?}")))?,
        version: row.try_get("version")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        updated_at: Timestamp::from_micros(row.try_get("updated_at")?),
    })
}
