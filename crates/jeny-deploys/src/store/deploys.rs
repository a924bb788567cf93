//! The `deploys` table: reading and listing deploys, the queue (insert, supersede, claim,
//! cancel), leases on the database's clock, and ends.

use crate::model::{Deploy, DeployStatus, DeployVariable, TargetHost};
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
}

/// A JSON column of deploy `id`, parsed; `Corrupt` when it does not parse.
fn json_column<T: serde::de::DeserializeOwned>(
    id: &str,
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|error| StoreError::Corrupt(format!("deploy {id}: {column}: {error}")))
}

/// A JSON list column that is NULL until the deploy starts (`hosts`, `variables`): NULL is
/// empty.
fn json_list_column<T: serde::de::DeserializeOwned>(
    id: &str,
    column: &str,
    text: Option<String>,
) -> Result<Vec<T>, StoreError> {
    match text {
        Some(text) => json_column(id, column, &text),
        None => Ok(Vec::new()),
    }
}

/// A deploy from its row (`COLUMNS`). A value the code would not have written (an unknown
/// status, JSON that does not parse, an exit code out of range) is `Corrupt`, never coerced.
pub(crate) fn from_row(row: &AnyRow) -> Result<DeployRow, StoreError> {
    let id: String = row.try_get("id")?;
    let status_text: String = row.try_get("status")?;
    let status = DeployStatus::parse(&status_text).ok_or_else(|| {
        StoreError::Corrupt(format!("deploy {id}: unknown status {status_text:?}"))
    })?;
    let queued_at = Timestamp::from_micros(row.try_get("queued_at")?);
    let started_at: Option<i64> = row.try_get("started_at")?;
    let finished_at: Option<i64> = row.try_get("finished_at")?;
    let duration_ms =
        finished_at.map(|end| (end - started_at.unwrap_or(queued_at.as_micros())) / 1000);
    let stored_exit_code: Option<i64> = row.try_get("exit_code")?;
    let exit_code = stored_exit_code
        .map(|code| {
            i32::try_from(code)
                .map_err(|_| StoreError::Corrupt(format!("deploy {id}: exit_code {code}")))
        })
        .transpose()?;
    let hosts: Vec<TargetHost> = json_list_column(&id, "hosts", row.try_get("hosts")?)?;
    let variables: Vec<DeployVariable> =
        json_list_column(&id, "variables", row.try_get("variables")?)?;
    let host_filter_text: String = row.try_get("host_filter")?;
    let host_filter: Tags = json_column(&id, "host_filter", &host_filter_text)?;
    Ok(DeployRow {
        deploy: Deploy {
            project: row.try_get("project")?,
            environment: row.try_get("environment")?,
            status,
            git_ref: row.try_get("git_ref")?,
            sha: row.try_get("sha")?,
            description: row.try_get("description")?,
            exit_code,
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
            node: row.try_get("runner_node")?,
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

/// Which deploys to list, by id (names are resolved first, so every filter is an index).
#[derive(Debug, Clone, Default)]
pub(crate) struct ListFilter {
    pub project_id: Option<String>,
    pub environment_id: Option<String>,
    pub status: Option<DeployStatus>,
    pub user: Option<String>,
}

/// Newest first; `before` is the id of the last deploy of the previous page. Only the filters
/// given are in the statement, so each walks one index (`(project_id, id)`, `(environment_id,
/// id)`, `(status, id)`, `(user_email, id)` or the primary key) backwards and stops at `limit`.
pub(crate) async fn list(
    store: &Store,
    filter: &ListFilter,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<DeployRow>, StoreError> {
    let mut conditions = Vec::new();
    let mut values: Vec<String> = Vec::new();
    let mut condition = |column: &str, value: Option<&str>, operator: &str| {
        if let Some(value) = value {
            values.push(value.to_owned());
            conditions.push(format!("{column} {operator} ${}", values.len()));
        }
    };
    condition("project_id", filter.project_id.as_deref(), "=");
    condition("environment_id", filter.environment_id.as_deref(), "=");
    condition("status", filter.status.map(DeployStatus::as_str), "=");
    condition("user_email", filter.user.as_deref(), "=");
    condition("id", before, "<");
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM deploys {clause} ORDER BY id DESC LIMIT ${}",
        values.len() + 1
    );
    let mut query = sqlx::query(&sql);
    for value in values {
        query = query.bind(value);
    }
    let rows = query.bind(limit).fetch_all(store.reader()).await?;
    rows.iter().map(from_row).collect()
}

/// The newest deploy of an environment, or its newest with `status`.
pub(crate) async fn latest_in(
    store: &Store,
    environment_id: &str,
    status: Option<DeployStatus>,
) -> Result<Option<DeployRow>, StoreError> {
    let row =
        match status {
            Some(status) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM deploys WHERE environment_id = $1 AND status = $2 \
                 ORDER BY id DESC LIMIT 1"
                ))
                .bind(environment_id)
                .bind(status.as_str())
                .fetch_optional(store.reader())
                .await?
            }
            None => sqlx::query(&format!(
                "SELECT {COLUMNS} FROM deploys WHERE environment_id = $1 ORDER BY id DESC LIMIT 1"
            ))
            .bind(environment_id)
            .fetch_optional(store.reader())
            .await?,
        };
    row.as_ref().map(from_row).transpose()
}

/// The queue positions of `rows`' queued deploys (1 for the next to run in its environment), in
/// one statement.
pub(crate) async fn queue_positions(
    store: &Store,
    rows: &[DeployRow],
) -> Result<std::collections::HashMap<String, i64>, StoreError> {
    let queued: Vec<&DeployRow> = rows
        .iter()
        .filter(|row| row.deploy.status == DeployStatus::Queued)
        .collect();
    if queued.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let placeholders: Vec<String> = (1..=queued.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT d.id, (SELECT COUNT(*) FROM deploys q WHERE q.environment_id = d.environment_id \
         AND q.status = 'queued' AND (q.queued_at < d.queued_at OR (q.queued_at = d.queued_at AND q.id <= d.id))) \
         FROM deploys d WHERE d.id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
    for row in &queued {
        query = query.bind(&row.deploy.id);
    }
    Ok(query.fetch_all(store.reader()).await?.into_iter().collect())
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
    sqlx::query(&format!(
        "INSERT INTO deploys (id, project_id, environment_id, project, environment, status, git_ref, \
         description, host_filter, user_email, redeploy_of, queued_at) \
         VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9, $10, {now})",
        now = tx.now_sql()
    ))
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
    let result = sqlx::query(&format!(
        "UPDATE deploys SET status = $3, exit_code = $4, reason = $5, cancelled_by = COALESCE($6, cancelled_by), \
         finished_at = {now}, lease_token = NULL, lease_expires_at = NULL WHERE id = $1 AND status = $2 \
         AND ($7 IS NULL OR lease_token = $7)",
        now = tx.now_sql()
    ))
    .bind(id)
    .bind(from.as_str())
    .bind(ending.status.as_str())
    .bind(ending.exit_code.map(i64::from))
    .bind(ending.reason.map(str::to_owned))
    .bind(ending.cancelled_by.map(str::to_owned))
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

/// The lock every transaction that changes an environment's queue takes first (queueing,
/// superseding, cancelling), before any deploy row and before the event-order lock that
/// `jeny_events::append` takes last: one order, so they cannot deadlock on PostgreSQL.
pub(crate) async fn lock_queue(tx: &mut WriteTx, environment_id: &str) -> Result<(), StoreError> {
    tx.lock_named(&format!("deploys:queue:{environment_id}"))
        .await
}

/// Asks the supervisor of a running deploy to stop its command (it polls for this).
pub(crate) async fn request_cancel(
    tx: &mut WriteTx,
    id: &str,
    actor: &str,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "UPDATE deploys SET cancel_requested_at = COALESCE(cancel_requested_at, {}), \
         cancelled_by = COALESCE(cancelled_by, $2) WHERE id = $1",
        tx.now_sql()
    ))
    .bind(id)
    .bind(actor)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The environment a deploy belongs to, read outside any transaction (to take its queue lock).
pub(crate) async fn environment_of(store: &Store, id: &str) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT environment_id FROM deploys WHERE id = $1")
            .bind(id)
            .fetch_optional(store.reader())
            .await?,
    )
}

/// The oldest queued deploy of each environment with nothing running, oldest first.
const CLAIMABLE: &str = "SELECT d.id FROM deploys d WHERE d.status = 'queued' \
     AND NOT EXISTS (SELECT 1 FROM deploys r WHERE r.environment_id = d.environment_id AND r.status = 'running') \
     AND NOT EXISTS (SELECT 1 FROM deploys q WHERE q.environment_id = d.environment_id AND q.status = 'queued' \
         AND (q.queued_at < d.queued_at OR (q.queued_at = d.queued_at AND q.id < d.id))) \
     ORDER BY d.queued_at, d.id";

/// Takes the oldest queued deploy of an environment with nothing running, if any: sets it
/// `running` on `node` with a lease of `ttl` by the database's clock. `None` when there is none,
/// or another node took it or its environment first.
pub(crate) async fn claim(
    tx: &mut WriteTx,
    node: &str,
    lease_token: &str,
    ttl: std::time::Duration,
) -> Result<Option<DeployRow>, StoreError> {
    let lock = match tx.backend() {
        jeny_store::Backend::Postgres => " FOR UPDATE OF d SKIP LOCKED",
        jeny_store::Backend::Sqlite => "",
    };
    let sql = format!("{CLAIMABLE} LIMIT 1{lock}");
    let Some(id): Option<String> = sqlx::query_scalar(&sql).fetch_optional(tx.conn()).await? else {
        return Ok(None);
    };
    let now = tx.now_sql();
    let claimed = sqlx::query(&format!(
        "UPDATE deploys SET status = 'running', started_at = {now}, runner_node = $2, lease_token = $3, \
         lease_expires_at = {now} + $4 WHERE id = $1 AND status = 'queued'"
    ))
    .bind(&id)
    .bind(node)
    .bind(lease_token)
    .bind(micros(ttl))
    .execute(tx.conn())
    .await;
    match claimed.map_err(StoreError::from) {
        Ok(done) if done.rows_affected() == 1 => {}
        // Another node started a deploy of this environment first (the unique index).
        Err(error) if error.is_conflict() => return Ok(None),
        Err(error) => return Err(error),
        Ok(_) => return Ok(None),
    }
    get_in(tx, &id).await
}

/// Whether some queued deploy could be claimed now: the claim's own question, asked on a reader
/// first, because the dispatcher is woken by every commit and a write transaction for nothing
/// would take SQLite's writer from the supervisors.
pub(crate) async fn anything_claimable(store: &Store) -> Result<bool, StoreError> {
    let claimable: Option<String> = sqlx::query_scalar(&format!("{CLAIMABLE} LIMIT 1"))
        .fetch_optional(store.reader())
        .await?;
    Ok(claimable.is_some())
}

/// How many deploys `node` is running.
pub(crate) async fn running_on(store: &Store, node: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM deploys WHERE status = 'running' AND runner_node = $1",
    )
    .bind(node)
    .fetch_one(store.reader())
    .await?)
}

fn micros(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX / 4)
}

/// The supervisor's first write: records its pid and renews the lease for `ttl` by the
/// database's clock, only if `lease_token` still holds the running deploy. False when it does
/// not: the supervisor must not run anything.
pub(crate) async fn start_supervisor(
    tx: &mut WriteTx,
    id: &str,
    lease_token: &str,
    pid: u32,
    ttl: std::time::Duration,
) -> Result<bool, StoreError> {
    let done = sqlx::query(&format!(
        "UPDATE deploys SET supervisor_pid = $3, lease_expires_at = {} + $4 \
         WHERE id = $1 AND lease_token = $2 AND status = 'running'",
        tx.now_sql()
    ))
    .bind(id)
    .bind(lease_token)
    .bind(i64::from(pid))
    .bind(micros(ttl))
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Extends the lease to `ttl` from the database's now; false when `lease_token` no longer holds
/// the running deploy.
pub(crate) async fn renew_lease(
    tx: &mut WriteTx,
    id: &str,
    lease_token: &str,
    ttl: std::time::Duration,
) -> Result<bool, StoreError> {
    let done = sqlx::query(&format!(
        "UPDATE deploys SET lease_expires_at = {} + $3 \
         WHERE id = $1 AND lease_token = $2 AND status = 'running'",
        tx.now_sql()
    ))
    .bind(id)
    .bind(lease_token)
    .bind(micros(ttl))
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Who asked to cancel the deploy, if someone did.
pub(crate) async fn cancel_request(
    store: &Store,
    id: &str,
) -> Result<Option<Option<String>>, StoreError> {
    let row: Option<(Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT cancel_requested_at, cancelled_by FROM deploys WHERE id = $1")
            .bind(id)
            .fetch_optional(store.reader())
            .await?;
    Ok(row.and_then(|(requested_at, by)| requested_at.map(|_| by)))
}

/// Records the commit a deploy checked out, if its lease still holds it.
pub(crate) async fn record_sha(
    tx: &mut WriteTx,
    id: &str,
    lease_token: &str,
    sha: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE deploys SET sha = $3 WHERE id = $1 AND lease_token = $2")
        .bind(id)
        .bind(lease_token)
        .bind(sha)
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Running deploys whose lease has expired by the database's clock.
pub(crate) async fn expired_leases(store: &Store) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT id FROM deploys WHERE status = 'running' AND lease_expires_at < {}",
        store.now_sql()
    ))
    .fetch_all(store.reader())
    .await?)
}

/// When the lease of a running deploy expired, if it has (by the database's clock), read in the
/// transaction that will end it.
pub(crate) async fn lease_expired_at(
    tx: &mut WriteTx,
    id: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT lease_expires_at FROM deploys WHERE id = $1 AND status = 'running' AND lease_expires_at < {}",
        tx.now_sql()
    ))
    .bind(id)
    .fetch_optional(tx.conn())
    .await?)
}

/// `node`'s running deploys whose supervisor has started, with its pid.
pub(crate) async fn supervisors_on(
    store: &Store,
    node: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, supervisor_pid FROM deploys WHERE status = 'running' AND runner_node = $1 \
         AND supervisor_pid IS NOT NULL",
    )
    .bind(node)
    .fetch_all(store.reader())
    .await?)
}

/// `node`'s interrupted deploys whose leftovers (processes, work folder) it has not cleared.
pub(crate) async fn leftovers_of(store: &Store, node: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM deploys WHERE runner_node = $1 AND status = 'interrupted' \
         AND leftovers_cleared_at IS NULL",
    )
    .bind(node)
    .fetch_all(store.reader())
    .await?)
}

pub(crate) async fn leftovers_cleared(tx: &mut WriteTx, id: &str) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "UPDATE deploys SET leftovers_cleared_at = {} WHERE id = $1",
        tx.now_sql()
    ))
    .bind(id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records what a claimed deploy runs: its command, shell, variables and hosts.
pub(crate) async fn record_start(
    tx: &mut WriteTx,
    id: &str,
    command: &str,
    shell: &str,
    variables: &[crate::model::DeployVariable],
    hosts: &[TargetHost],
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE deploys SET command = $2, shell = $3, variables = $4, hosts = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(command)
    .bind(shell)
    .bind(serde_json::to_string(variables).map_err(|error| StoreError::Corrupt(error.to_string()))?)
    .bind(serde_json::to_string(hosts).map_err(|error| StoreError::Corrupt(error.to_string()))?)
    .execute(tx.conn())
    .await?;
    Ok(())
}
