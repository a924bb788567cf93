//! The `deploys`, `deploy_output` and `environment_locks` tables. Only this crate reads them.

use crate::model::{Deploy, DeployStatus, DeployVariable, EnvironmentLock, TargetHost};
use jeny_core::Timestamp;
use jeny_hosts::Tags;
use jeny_store::{AnyRow, Row, Store, StoreError, WriteTx, sqlx};

pub(crate) const COLUMNS: &str = "id, project_id, environment_id, project, environment, status, git_ref, sha, \
     description, host_filter, user_email, redeploy_of, command, variables, hosts, exit_code, reason, \
     cancelled_by, queued_at, started_at, finished_at, output_bytes, runner_node";

/// A deploy row with the ids the API does not show.
#[derive(Debug, Clone)]
pub(crate) struct DeployRow {
    pub deploy: Deploy,
    pub environment_id: String,
    /// The node whose dispatcher started it.
    pub runner_node: Option<String>,
}

fn json_or_default<T: serde::de::DeserializeOwned + Default>(text: Option<String>) -> T {
    text.and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

pub(crate) fn from_row(row: &AnyRow) -> Result<DeployRow, StoreError> {
    let status: String = row.try_get("status")?;
    let queued_at = Timestamp::from_micros(row.try_get("queued_at")?);
    let started_at: Option<i64> = row.try_get("started_at")?;
    let finished_at: Option<i64> = row.try_get("finished_at")?;
    let duration_ms =
        finished_at.map(|end| (end - started_at.unwrap_or(queued_at.as_micros())) / 1000);
    let exit_code: Option<i64> = row.try_get("exit_code")?;
    let id: String = row.try_get("id")?;
    let hosts: Vec<TargetHost> = json_or_default(row.try_get("hosts")?);
    let variables: Vec<DeployVariable> = json_or_default(row.try_get("variables")?);
    let host_filter: Tags = json_or_default(Some(row.try_get("host_filter")?));
    Ok(DeployRow {
        environment_id: row.try_get("environment_id")?,
        runner_node: row.try_get("runner_node")?,
        deploy: Deploy {
            project: row.try_get("project")?,
            environment: row.try_get("environment")?,
            status: DeployStatus::parse(&status).unwrap_or(DeployStatus::Errored),
            git_ref: row.try_get("git_ref")?,
            sha: row.try_get("sha")?,
            description: row.try_get("description")?,
            exit_code: exit_code.map(|code| code as i32),
            user: row.try_get("user_email")?,
            queue_position: None,
            queued_at,
            started_at: started_at.map(Timestamp::from_micros),
            finished_at: finished_at.map(Timestamp::from_micros),
            duration_ms,
            hosts,
            host_filter,
            reason: row.try_get("reason")?,
            cancelled_by: row.try_get("cancelled_by")?,
            redeploy_of: row.try_get("redeploy_of")?,
            command: row.try_get("command")?,
            variables,
            output_bytes: row.try_get("output_bytes")?,
            url: String::new(),
            output_url: format!("/api/v1/deploys/{id}/output"),
            id,
        },
    })
}

pub(crate) async fn get(store: &Store, id: &str) -> Result<Option<DeployRow>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM deploys WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.reader())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn get_in(tx: &mut WriteTx, id: &str) -> Result<Option<DeployRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM deploys WHERE id = $1{}",
        tx.for_update()
    );
    let row = sqlx::query(&sql).bind(id).fetch_optional(tx.conn()).await?;
    row.as_ref().map(from_row).transpose()
}

/// Which deploys to list.
#[derive(Debug, Clone, Default)]
pub struct DeployFilter {
    pub project: Option<String>,
    pub environment: Option<String>,
    pub status: Option<DeployStatus>,
    /// The email of who started them.
    pub user: Option<String>,
}

/// Newest first; `before` is the id of the last deploy of the previous page.
pub(crate) async fn list(
    store: &Store,
    filter: &DeployFilter,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<DeployRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM deploys WHERE ($1 IS NULL OR project = $1) AND ($2 IS NULL OR environment = $2) \
         AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR id < $4) AND ($6 IS NULL OR user_email = $6) \
         ORDER BY id DESC LIMIT $5"
    ))
    .bind(filter.project.clone())
    .bind(filter.environment.clone())
    .bind(filter.status.map(|status| status.as_str().to_owned()))
    .bind(before.map(str::to_owned))
    .bind(limit)
    .bind(filter.user.clone())
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

/// The newest deploy of each environment (of one project, or of all), optionally the newest with
/// a status; by project and environment name.
pub(crate) async fn latest_per_environment(
    store: &Store,
    project: Option<&str>,
    status: Option<DeployStatus>,
) -> Result<Vec<DeployRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM deploys AS outer_deploy WHERE ($1 IS NULL OR project = $1) \
         AND id = (SELECT newest.id FROM deploys AS newest \
           WHERE newest.environment_id = outer_deploy.environment_id \
           AND ($2 IS NULL OR newest.status = $2) ORDER BY newest.id DESC LIMIT 1) \
         ORDER BY project, environment"
    ))
    .bind(project.map(str::to_owned))
    .bind(status.map(|status| status.as_str().to_owned()))
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(from_row).collect()
}

/// 1 for the next queued deploy of its environment.
pub(crate) async fn queue_position(store: &Store, row: &DeployRow) -> Result<i64, StoreError> {
    let position: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM deploys WHERE environment_id = $1 AND status = 'queued' \
         AND (queued_at < $2 OR (queued_at = $2 AND id <= $3))",
    )
    .bind(&row.environment_id)
    .bind(row.deploy.queued_at.as_micros())
    .bind(&row.deploy.id)
    .fetch_one(store.reader())
    .await?;
    Ok(position)
}

pub(crate) struct NewDeploy<'a> {
    pub project_id: &'a str,
    pub environment_id: &'a str,
    pub project: &'a str,
    pub environment: &'a str,
    pub git_ref: Option<&'a str>,
    pub description: &'a str,
    pub host_filter: &'a Tags,
    pub user: &'a str,
    pub redeploy_of: Option<&'a str>,
}

pub(crate) async fn insert(
    tx: &mut WriteTx,
    id: &str,
    new: &NewDeploy<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO deploys (id, project_id, environment_id, project, environment, status, git_ref, \
         description, host_filter, user_email, redeploy_of, queued_at) \
         VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(new.project_id)
    .bind(new.environment_id)
    .bind(new.project)
    .bind(new.environment)
    .bind(new.git_ref.map(str::to_owned))
    .bind(new.description)
    .bind(serde_json::to_string(new.host_filter).unwrap_or_else(|_| "{}".into()))
    .bind(new.user)
    .bind(new.redeploy_of.map(str::to_owned))
    .bind(Timestamp::now().as_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The queued deploys of an environment, oldest first.
pub(crate) async fn queued_in(
    tx: &mut WriteTx,
    environment_id: &str,
) -> Result<Vec<DeployRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM deploys WHERE environment_id = $1 AND status = 'queued' ORDER BY queued_at, id{}",
        tx.for_update()
    );
    let rows = sqlx::query(&sql)
        .bind(environment_id)
        .fetch_all(tx.conn())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Ends a deploy that is still `from` (queued or running); false when it no longer is.
pub(crate) async fn finish(
    tx: &mut WriteTx,
    id: &str,
    from: DeployStatus,
    ending: &Ending<'_>,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "UPDATE deploys SET status = $3, exit_code = $4, reason = $5, cancelled_by = COALESCE($6, cancelled_by), \
         finished_at = $7, lease_token = NULL, lease_expires_at = NULL WHERE id = $1 AND status = $2 \
         AND ($8 IS NULL OR lease_token = $8)",
    )
    .bind(id)
    .bind(from.as_str())
    .bind(ending.status.as_str())
    .bind(ending.exit_code.map(i64::from))
    .bind(ending.reason.map(str::to_owned))
    .bind(ending.cancelled_by.map(str::to_owned))
    .bind(Timestamp::now().as_micros())
    .bind(ending.lease_token.map(str::to_owned))
    .execute(tx.conn())
    .await?;
    Ok(result.rows_affected() == 1)
}

/// How a deploy ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ending<'a> {
    pub status: DeployStatus,
    pub exit_code: Option<i32>,
    pub reason: Option<&'a str>,
    pub cancelled_by: Option<&'a str>,
    /// Only end it if this lease still holds it (a supervisor ending its own deploy).
    pub lease_token: Option<&'a str>,
}

/// Appends one batch of output frames; returns its seq. The seq is taken as the next after the
/// deploy's last batch, so that the server can add a line after a lost supervisor's output.
pub(crate) async fn append_output(
    tx: &mut WriteTx,
    deploy_id: &str,
    raw_bytes: i64,
    frames: Vec<u8>,
) -> Result<i64, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO deploy_output (deploy_id, seq, encoding, raw_bytes, data) \
         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM deploy_output WHERE deploy_id = $1), 'raw', $2, $3) \
         RETURNING seq",
    )
    .bind(deploy_id)
    .bind(raw_bytes)
    .bind(frames)
    .fetch_one(tx.conn())
    .await?;
    Ok(seq)
}

/// Appends a line of jeny's own to a deploy's output.
pub(crate) async fn append_jeny_line(
    tx: &mut WriteTx,
    deploy_id: &str,
    line: &str,
) -> Result<(), StoreError> {
    let mut frames = Vec::new();
    let text = format!("{line}\n");
    crate::output::encode_frame(
        &mut frames,
        crate::OutputStream::Jeny,
        Timestamp::now(),
        text.as_bytes(),
    );
    append_output(tx, deploy_id, text.len() as i64, frames).await?;
    sqlx::query("UPDATE deploys SET output_bytes = output_bytes + $2 WHERE id = $1")
        .bind(deploy_id)
        .bind(text.len() as i64)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The environment's lock in force now (an expired lock is no lock), read with `executor`: the
/// store's reader pool, or a write transaction's connection.
pub(crate) async fn lock_in<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    environment_id: &str,
    project: &str,
    environment: &str,
) -> Result<Option<EnvironmentLock>, StoreError> {
    let row = sqlx::query(
        "SELECT reason, locked_by, locked_at, expires_at FROM environment_locks WHERE environment_id = $1 \
         AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(environment_id)
    .bind(Timestamp::now().as_micros())
    .fetch_optional(executor)
    .await?;
    row.map(|row| lock_from_row(&row, project, environment))
        .transpose()
}

pub(crate) fn lock_from_row(
    row: &AnyRow,
    project: &str,
    environment: &str,
) -> Result<EnvironmentLock, StoreError> {
    let expires_at: Option<i64> = row.try_get("expires_at")?;
    Ok(EnvironmentLock {
        project: project.to_owned(),
        environment: environment.to_owned(),
        reason: row.try_get("reason")?,
        locked_by: row.try_get("locked_by")?,
        locked_at: Timestamp::from_micros(row.try_get("locked_at")?),
        expires_at: expires_at.map(Timestamp::from_micros),
    })
}

pub(crate) async fn put_lock(
    tx: &mut WriteTx,
    environment_id: &str,
    lock: &EnvironmentLock,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM environment_locks WHERE environment_id = $1")
        .bind(environment_id)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO environment_locks (environment_id, reason, locked_by, locked_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(environment_id)
    .bind(&lock.reason)
    .bind(&lock.locked_by)
    .bind(lock.locked_at.as_micros())
    .bind(lock.expires_at.map(Timestamp::as_micros))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Removes the lock; false when there was none in force.
pub(crate) async fn delete_lock(
    tx: &mut WriteTx,
    environment_id: &str,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "DELETE FROM environment_locks WHERE environment_id = $1 AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(environment_id)
    .bind(Timestamp::now().as_micros())
    .execute(tx.conn())
    .await?;
    sqlx::query("DELETE FROM environment_locks WHERE environment_id = $1")
        .bind(environment_id)
        .execute(tx.conn())
        .await?;
    Ok(result.rows_affected() == 1)
}
