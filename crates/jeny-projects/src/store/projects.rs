//! The `projects` table.

use crate::model::{MetricsRetention, Project, ValidProject};
use jeny_core::{PageRequest, Timestamp, new_id};
use jeny_store::{AnyRow, Row, Store, StoreError, WriteTx, sqlx};

const COLUMNS: &str = "id, name, title, description, repository, deploy_command, \
     output_retention_days, output_retention_bytes, metrics_retention_raw_days, \
     metrics_retention_5m_days, metrics_retention_1h_days, version, created_at, updated_at";

pub(crate) async fn list(store: &Store, page: &PageRequest) -> Result<Vec<Project>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM projects WHERE ($1 IS NULL OR name > $1) ORDER BY name LIMIT $2"
    ))
    .bind(page.after.clone())
    .bind(page.fetch_limit())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

pub(crate) async fn get(store: &Store, name: &str) -> Result<Option<Project>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM projects WHERE name = $1"))
        .bind(name)
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn get_for_update(
    tx: &mut WriteTx,
    name: &str,
) -> Result<Option<Project>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM projects WHERE name = $1{}",
        tx.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(name)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn insert(
    tx: &mut WriteTx,
    project: &ValidProject,
) -> Result<Project, StoreError> {
    let now = Timestamp::now();
    let id = new_id();
    sqlx::query(
        "INSERT INTO projects (id, name, title, description, repository, deploy_command, \
         output_retention_days, output_retention_bytes, metrics_retention_raw_days, \
         metrics_retention_5m_days, metrics_retention_1h_days, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12)",
    )
    .bind(&id)
    .bind(project.name.as_str())
    .bind(&project.title)
    .bind(&project.description)
    .bind(project.repository.clone())
    .bind(&project.deploy_command)
    .bind(project.output_retention_days.map(i64::from))
    .bind(retention_bytes_column(project))
    .bind(project.metrics_retention.raw_days.map(i64::from))
    .bind(project.metrics_retention.rollup_5m_days.map(i64::from))
    .bind(project.metrics_retention.rollup_1h_days.map(i64::from))
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(Project {
        id,
        name: project.name.to_string(),
        title: project.title.clone(),
        description: project.description.clone(),
        repository: project.repository.clone(),
        deploy_command: project.deploy_command.clone(),
        output_retention_days: project.output_retention_days,
        output_retention_bytes: project.output_retention_bytes,
        metrics_retention: project.metrics_retention,
        created_at: now,
        updated_at: now,
        version: 1,
    })
}

pub(crate) async fn replace(
    tx: &mut WriteTx,
    current: &Project,
    project: &ValidProject,
) -> Result<Project, StoreError> {
    let now = Timestamp::now();
    sqlx::query(
        "UPDATE projects SET title = $2, description = $3, repository = $4, deploy_command = $5, \
         output_retention_days = $6, output_retention_bytes = $7, \
         metrics_retention_raw_days = $8, metrics_retention_5m_days = $9, \
         metrics_retention_1h_days = $10, version = version + 1, updated_at = $11 WHERE id = $1",
    )
    .bind(&current.id)
    .bind(&project.title)
    .bind(&project.description)
    .bind(project.repository.clone())
    .bind(&project.deploy_command)
    .bind(project.output_retention_days.map(i64::from))
    .bind(retention_bytes_column(project))
    .bind(project.metrics_retention.raw_days.map(i64::from))
    .bind(project.metrics_retention.rollup_5m_days.map(i64::from))
    .bind(project.metrics_retention.rollup_1h_days.map(i64::from))
    .bind(now.as_micros())
    .execute(tx.conn())
    .await?;
    Ok(Project {
        title: project.title.clone(),
        description: project.description.clone(),
        repository: project.repository.clone(),
        deploy_command: project.deploy_command.clone(),
        output_retention_days: project.output_retention_days,
        output_retention_bytes: project.output_retention_bytes,
        metrics_retention: project.metrics_retention,
        updated_at: now,
        version: current.version + 1,
        ..current.clone()
    })
}

/// Deletes the project; its environments and variables go with it (foreign keys cascade).
pub(crate) async fn delete(tx: &mut WriteTx, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// `output_retention_bytes` as the signed column holds it; validation keeps it at most `i64::MAX`.
fn retention_bytes_column(project: &ValidProject) -> Option<i64> {
    project.output_retention_bytes.map(|bytes| {
        debug_assert!(
            i64::try_from(bytes).is_ok(),
            "unvalidated output_retention_bytes {bytes}"
        );
        i64::try_from(bytes).unwrap_or(i64::MAX)
    })
}

/// A nullable count of days from its column.
fn days_column(row: &AnyRow, column: &str) -> Result<Option<u32>, StoreError> {
    let days: Option<i64> = row.try_get(column)?;
    days.map(|days| {
        u32::try_from(days).map_err(|_| StoreError::Corrupt(format!("{column} {days}")))
    })
    .transpose()
}

fn from_row(row: &AnyRow) -> Result<Project, StoreError> {
    let retention_bytes: Option<i64> = row.try_get("output_retention_bytes")?;
    Ok(Project {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        repository: row.try_get("repository")?,
        deploy_command: row.try_get("deploy_command")?,
        output_retention_days: days_column(row, "output_retention_days")?,
        output_retention_bytes: retention_bytes
            .map(|bytes| {
                u64::try_from(bytes)
                    .map_err(|_| StoreError::Corrupt(format!("output_retention_bytes {bytes}")))
            })
            .transpose()?,
        metrics_retention: MetricsRetention {
            raw_days: days_column(row, "metrics_retention_raw_days")?,
            rollup_5m_days: days_column(row, "metrics_retention_5m_days")?,
            rollup_1h_days: days_column(row, "metrics_retention_1h_days")?,
        },
        version: row.try_get("version")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        updated_at: Timestamp::from_micros(row.try_get("updated_at")?),
    })
}
