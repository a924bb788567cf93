//! The server's side of running deploys: it claims queued deploys (the oldest of each environment
//! with none running, up to this node's runner concurrency), records what each will run, and
//! starts a supervisor process for it; and it ends as `interrupted` the running deploys whose
//! supervisor has stopped renewing its lease.
//!
//! The one-at-a-time rule is the database's: a unique index admits one `running` deploy per
//! environment, and the claim is a transaction (on PostgreSQL with `FOR UPDATE SKIP LOCKED`), so
//! two nodes, or a node and its restarted self, can never start two deploys of one environment.

use crate::environment::{DeployFacts, command_environment};
use crate::model::{DeployStatus, DeployVariable, TargetHost};
use crate::service::{Links, finished_event};
use crate::store::{self, DeployRow, Ending};
use crate::supervisor::SupervisorSpec;
use jeny_core::{PageRequest, SecretBox, Timestamp, new_id};
use jeny_events::NewEvent;
use jeny_store::{Backend, Channel, Row, Store, StoreError, sqlx};
use serde_json::json;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

/// How often output retention is applied.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// How this node runs deploys.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// This node's name, recorded on the deploys it runs (its runner concurrency counts them).
    pub node: String,
    /// Deploys this node runs at once (across environments).
    pub concurrency: usize,
    /// The shell that runs deploy commands with `-c`.
    pub shell: String,
    /// A supervisor that has not renewed its lease for this long is presumed gone.
    pub lease_ttl: Duration,
    /// Output kept per deploy: head and tail halves past it.
    pub output_cap_bytes: u64,
    /// Holds `deploys/` (each deploy's directory) and `mirrors/` (git mirrors).
    pub data_dir: PathBuf,
    /// The database URL the supervisors connect to.
    pub database_url: String,
    /// The `jeny` binary to start supervisors with (`jeny supervise`).
    pub supervisor_program: PathBuf,
}

/// Runs the dispatcher loop until `shutdown`. Running deploys are left to their supervisors.
pub async fn run_dispatcher(
    store: Store,
    secrets: SecretBox,
    links: Links,
    config: RunnerConfig,
    shutdown: CancellationToken,
) {
    let dispatcher = Dispatcher {
        store,
        secrets,
        links,
        config: Arc::new(config),
    };
    let mut wake = dispatcher.store.subscribe(Channel::Deploys);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune: Option<std::time::Instant> = None;
    loop {
        wake.borrow_and_update();
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(std::time::Instant::now());
            match crate::retention::prune_output(&dispatcher.store).await {
                Ok(pruned) if pruned.deploys > 0 => tracing::info!(
                    deploys = pruned.deploys,
                    bytes = pruned.bytes,
                    "removed deploy output past the projects' retention"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "cannot apply output retention; retrying later")
                }
            }
        }
        if let Err(error) = dispatcher.sweep_expired().await {
            tracing::warn!(%error, "cannot check deploy leases; retrying");
        }
        if let Err(error) = dispatcher.start_queued(&shutdown).await {
            tracing::warn!(%error, "cannot start queued deploys; retrying");
        }
        tokio::select! {
            _ = wake.changed() => {}
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

struct Dispatcher {
    store: Store,
    secrets: SecretBox,
    links: Links,
    config: Arc<RunnerConfig>,
}

impl Dispatcher {
    /// Ends as `interrupted` every running deploy whose lease has expired.
    async fn sweep_expired(&self) -> Result<(), StoreError> {
        let now = Timestamp::now().as_micros();
        let expired: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM deploys WHERE status = 'running' AND lease_expires_at < $1",
        )
        .bind(now)
        .fetch_all(self.store.reader())
        .await?;
        for id in expired {
            let mut tx = self.store.begin().await?;
            let Some(row) = store::get_in(&mut tx, &id).await? else {
                continue;
            };
            let still_expired: Option<i64> = sqlx::query_scalar(
                "SELECT lease_expires_at FROM deploys WHERE id = $1 AND status = 'running' AND lease_expires_at < $2",
            )
            .bind(&id)
            .bind(now)
            .fetch_optional(tx.conn())
            .await?;
            let Some(expired_at) = still_expired else {
                continue;
            };
            let reason = format!(
                "its supervisor process is gone: it last renewed its lease before {}",
                Timestamp::from_micros(expired_at).to_rfc3339()
            );
            let ending = Ending {
                status: DeployStatus::Interrupted,
                exit_code: None,
                reason: Some(&reason),
                cancelled_by: None,
                lease_token: None,
            };
            if store::finish(&mut tx, &id, DeployStatus::Running, &ending).await? {
                let mut line = format!("[jeny] deploy interrupted: {reason}");
                if row.runner_node.as_deref() == Some(self.config.node.as_str()) {
                    let killed = kill_leftovers(&id);
                    if killed > 0 {
                        line.push_str(&format!(
                            "; the {killed} process(es) its command left were killed"
                        ));
                    }
                }
                store::append_jeny_line(&mut tx, &id, &line).await?;
                jeny_events::append(&mut tx, finished_event(&row.deploy, "jeny", &ending, None))
                    .await?;
                tx.wake_on_commit(Channel::Deploys).await?;
            }
            tx.commit().await?;
            tracing::warn!(deploy = %id, "deploy interrupted: its supervisor's lease expired");
        }
        Ok(())
    }

    /// Claims and starts queued deploys while this node has free runners.
    async fn start_queued(&self, shutdown: &CancellationToken) -> Result<(), StoreError> {
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let running: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM deploys WHERE status = 'running' AND runner_node = $1",
            )
            .bind(&self.config.node)
            .fetch_one(self.store.reader())
            .await?;
            if running >= self.config.concurrency as i64 {
                return Ok(());
            }
            let Some((row, lease_token)) = self.claim_one().await? else {
                return Ok(());
            };
            if let Err(error) = self.start(&row, &lease_token).await {
                tracing::error!(deploy = %row.deploy.id, %error, "cannot start the deploy");
                self.end_unstarted(&row, &lease_token, &error).await?;
            }
        }
    }

    /// Takes the oldest queued deploy of an environment with nothing running, if any.
    async fn claim_one(&self) -> Result<Option<(DeployRow, String)>, StoreError> {
        // A read first: the dispatcher is woken by every commit (output batches included), and
        // a write transaction for nothing would take SQLite's write lock from the supervisors.
        let queued: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM deploys WHERE status = 'queued' LIMIT 1")
                .fetch_optional(self.store.reader())
                .await?;
        if queued.is_none() {
            return Ok(None);
        }
        let mut tx = self.store.begin().await?;
        let lock = match tx.backend() {
            Backend::Postgres => " FOR UPDATE OF d SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT d.id FROM deploys d WHERE d.status = 'queued' \
             AND NOT EXISTS (SELECT 1 FROM deploys r WHERE r.environment_id = d.environment_id AND r.status = 'running') \
             AND NOT EXISTS (SELECT 1 FROM deploys q WHERE q.environment_id = d.environment_id AND q.status = 'queued' \
                 AND (q.queued_at < d.queued_at OR (q.queued_at = d.queued_at AND q.id < d.id))) \
             ORDER BY d.queued_at, d.id LIMIT 1{lock}"
        );
        let Some(row) = sqlx::query(&sql).fetch_optional(tx.conn()).await? else {
            return Ok(None);
        };
        let id: String = row.try_get("id")?;
        let lease_token = new_id();
        let now = Timestamp::now().as_micros();
        let claimed = sqlx::query(
            "UPDATE deploys SET status = 'running', started_at = $2, runner_node = $3, lease_token = $4, \
             lease_expires_at = $5 WHERE id = $1 AND status = 'queued'",
        )
        .bind(&id)
        .bind(now)
        .bind(&self.config.node)
        .bind(&lease_token)
        .bind(now + self.config.lease_ttl.as_micros() as i64)
        .execute(tx.conn())
        .await;
        match claimed.map_err(StoreError::from) {
            Ok(done) if done.rows_affected() == 1 => {}
            // Another node started a deploy of this environment first (the unique index).
            Err(error) if error.is_conflict() => return Ok(None),
            Err(error) => return Err(error),
            Ok(_) => return Ok(None),
        }
        let Some(row) = store::get_in(&mut tx, &id).await? else {
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some((row, lease_token)))
    }

    /// Resolves what the deploy runs, records it, and starts its supervisor.
    async fn start(&self, row: &DeployRow, lease_token: &str) -> Result<(), String> {
        let deploy = &row.deploy;
        let project = jeny_projects::get_project(&self.store, &deploy.project)
            .await
            .map_err(|e| e.to_string())?;
        let environment =
            jeny_projects::get_environment(&self.store, &deploy.project, &deploy.environment)
                .await
                .map_err(|e| e.to_string())?;
        let command = environment
            .deploy_command
            .clone()
            .unwrap_or_else(|| project.deploy_command.clone());
        let filter = jeny_hosts::TagSelector::from_tags("host_filter", deploy.host_filter.clone())
            .map_err(|e| e.to_string())?;
        let hosts = match environment.selector().and(&filter) {
            Some(selector) if !environment.selector().is_empty() => {
                let mut hosts = Vec::new();
                let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
                loop {
                    let found = jeny_hosts::select(&self.store, &selector, &page)
                        .await
                        .map_err(|e| e.to_string())?;
                    hosts.extend(found.items);
                    match found.next_cursor {
                        Some(cursor) => page.after = jeny_core::page::decode_cursor(&cursor),
                        None => break,
                    }
                }
                hosts
            }
            _ => Vec::new(),
        };
        if hosts.is_empty()
            && !environment.selector().is_empty()
            && !environment.allow_hostless_deploys
        {
            return Err(
                "no host matches the environment's host selector and filter any more".to_owned(),
            );
        }
        let variables = jeny_projects::resolve_variables(
            &self.store,
            &self.secrets,
            &deploy.project,
            &deploy.environment,
        )
        .await
        .map_err(|e| e.to_string())?;
        let work_dir = self.config.data_dir.join("deploys").join(&deploy.id);
        let inventory_path = work_dir.join("inventory.yml");
        let facts = DeployFacts {
            project: deploy.project.clone(),
            environment: deploy.environment.clone(),
            deploy_id: deploy.id.clone(),
            git_ref: deploy.git_ref.clone().unwrap_or_default(),
            user: deploy.user.clone(),
            hosts: hosts.iter().map(|host| host.name.clone()).collect(),
            inventory: inventory_path.display().to_string(),
            url: self.links.deploy_page(&deploy.project, &deploy.id),
        };
        let environment_variables = command_environment(std::env::vars(), &variables, &facts);
        let recorded_variables: Vec<DeployVariable> = variables
            .iter()
            .map(|variable| DeployVariable {
                key: variable.key.clone(),
                scope: if variable.from_environment {
                    "environment"
                } else {
                    "project"
                }
                .to_owned(),
                secret: variable.secret,
                variable_id: variable.variable_id.clone(),
                version: variable.version,
                value: (!variable.secret).then(|| variable.value.expose().clone()),
            })
            .collect();
        let targets: Vec<TargetHost> = hosts
            .iter()
            .map(|host| TargetHost {
                name: host.name.clone(),
                address: host.address.clone(),
                tags: host.tags.clone(),
            })
            .collect();
        let record = async {
            let mut tx = self.store.begin().await?;
            sqlx::query(
                "UPDATE deploys SET command = $2, shell = $3, variables = $4, hosts = $5 WHERE id = $1",
            )
            .bind(&deploy.id)
            .bind(&command)
            .bind(&self.config.shell)
            .bind(serde_json::to_string(&recorded_variables).unwrap_or_default())
            .bind(serde_json::to_string(&targets).unwrap_or_default())
            .execute(tx.conn())
            .await?;
            jeny_events::append(
                &mut tx,
                NewEvent::new(
                    "deploy.started",
                    &deploy.user,
                    json!({
                        "id": deploy.id, "user": deploy.user, "ref": deploy.git_ref,
                        "host_count": targets.len(), "node": self.config.node,
                        "queued_ms": (Timestamp::now().as_micros() - deploy.queued_at.as_micros()) / 1000,
                    }),
                )
                .in_project(&deploy.project)
                .in_environment(&deploy.environment),
            )
            .await?;
            tx.wake_on_commit(Channel::Deploys).await?;
            tx.commit().await
        };
        record.await.map_err(|e: StoreError| e.to_string())?;
        let spec = SupervisorSpec {
            database_url: self.config.database_url.clone(),
            deploy_id: deploy.id.clone(),
            lease_token: lease_token.to_owned(),
            lease_ttl_ms: self.config.lease_ttl.as_millis() as u64,
            work_dir,
            mirrors_dir: self.config.data_dir.join("mirrors"),
            project: deploy.project.clone(),
            repository: project.repository.clone(),
            git_ref: deploy.git_ref.clone(),
            shell: self.config.shell.clone(),
            command,
            secrets: variables
                .iter()
                .filter(|variable| variable.secret)
                .map(|variable| variable.value.expose().clone())
                .collect(),
            environment: environment_variables
                .into_iter()
                .map(|(key, value)| (key, value.expose().clone()))
                .collect(),
            inventory: jeny_hosts::inventory::inventory_file(&hosts),
            timeout_ms: u64::from(environment.deploy_timeout_secs) * 1000,
            grace_ms: u64::from(environment.deploy_grace_secs) * 1000,
            output_cap_bytes: self.config.output_cap_bytes,
            notes: variables
                .iter()
                .filter(|variable| {
                    variable.secret
                        && !variable.value.expose().is_empty()
                        && variable.value.expose().len() < crate::mask::MIN_MASKED_LEN
                })
                .map(|variable| {
                    format!(
                        "the secret {} is shorter than {} bytes, so it is not masked in this output",
                        variable.key,
                        crate::mask::MIN_MASKED_LEN
                    )
                })
                .collect(),
        };
        self.spawn_supervisor(&spec).await
    }

    /// Starts `jeny supervise` and hands it the spec on its standard input. The supervisor
    /// puts itself in a session of its own, so it outlives this process.
    async fn spawn_supervisor(&self, spec: &SupervisorSpec) -> Result<(), String> {
        let log_path = self.config.data_dir.join("supervisors.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
        let mut child = tokio::process::Command::new(&self.config.supervisor_program)
            .arg("supervise")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .env_remove("JENY_DATABASE_URL")
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start the supervisor {}: {e}",
                    self.config.supervisor_program.display()
                )
            })?;
        let payload = serde_json::to_vec(spec).map_err(|e| e.to_string())?;
        let mut stdin = child.stdin.take().ok_or("the supervisor has no stdin")?;
        stdin
            .write_all(&payload)
            .await
            .map_err(|e| format!("cannot hand the deploy to its supervisor: {e}"))?;
        drop(stdin);
        let deploy = spec.deploy_id.clone();
        // Reap it when it ends (it normally outlives nothing: it ends with its deploy).
        tokio::spawn(async move {
            match child.wait().await {
                Ok(status) if !status.success() => {
                    tracing::warn!(%deploy, %status, "a deploy supervisor exited with an error");
                }
                _ => {}
            }
        });
        Ok(())
    }

    /// A claimed deploy that could not be started ends `errored` with the reason in its output.
    async fn end_unstarted(
        &self,
        row: &DeployRow,
        lease_token: &str,
        why: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        let ending = Ending {
            status: DeployStatus::Errored,
            exit_code: None,
            reason: Some(why),
            cancelled_by: None,
            lease_token: Some(lease_token),
        };
        if store::finish(&mut tx, &row.deploy.id, DeployStatus::Running, &ending).await? {
            store::append_jeny_line(
                &mut tx,
                &row.deploy.id,
                &format!("[jeny] cannot run this deploy: {why}"),
            )
            .await?;
            jeny_events::append(&mut tx, finished_event(&row.deploy, "jeny", &ending, None))
                .await?;
        }
        tx.wake_on_commit(Channel::Deploys).await?;
        tx.commit().await
    }
}

/// Kills what is left of a deploy whose supervisor is gone: every process of this machine whose
/// environment carries the deploy's `JENY_DEPLOY_ID` (the command and everything it started,
/// unless it cleared its environment). Returns how many were killed.
fn kill_leftovers(deploy_id: &str) -> usize {
    let marker = format!("JENY_DEPLOY_ID={deploy_id}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|byte| *byte == 0)
            .any(|variable| variable == marker.as_bytes())
            && nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            )
            .is_ok()
        {
            killed += 1;
        }
    }
    killed
}
