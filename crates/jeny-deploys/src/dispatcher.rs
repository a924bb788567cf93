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
use jeny_core::{ErrorChain, PageRequest, SecretBox, Timestamp, new_id};
use jeny_events::NewEvent;
use jeny_store::{Channel, Store, StoreError};
use serde_json::json;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

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
    /// The git transports a project's repository may use (checked again at checkout).
    pub repository_schemes: jeny_projects::RepositorySchemes,
    /// The sandbox every deploy's command runs in, or why this node cannot run deploys (no
    /// bubblewrap, root without a deploy user): each deploy it claims then ends `errored` with
    /// that reason.
    pub sandbox: Result<crate::Sandbox, String>,
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
    loop {
        wake.borrow_and_update();
        if let Err(error) = dispatcher.sweep_expired().await {
            tracing::warn!(error = %ErrorChain(&error), "cannot check deploy leases; retrying");
        }
        if let Err(error) = dispatcher.clear_leftovers().await {
            tracing::warn!(error = %ErrorChain(&error), "cannot clear interrupted deploys' leftovers; retrying");
        }
        if let Err(error) = dispatcher.start_queued(&shutdown).await {
            tracing::warn!(error = %ErrorChain(&error), "cannot start queued deploys; retrying");
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
    /// Ends as `interrupted` every running deploy whose lease has expired by the database's
    /// clock (a node's own clock may be off).
    async fn sweep_expired(&self) -> Result<(), StoreError> {
        for id in store::expired_leases(&self.store).await? {
            let mut tx = self.store.begin().await?;
            let Some(row) = store::get_in(&mut tx, &id).await? else {
                continue;
            };
            let Some(expired_at) = store::lease_expired_at(&mut tx, &id).await? else {
                continue;
            };
            let reason = format!(
                "its supervisor stopped renewing its lease, which expired at {} (the supervisor or its node was lost, or cut from the database)",
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
                store::append_jeny_line(
                    &mut tx,
                    &id,
                    &format!("[jeny] deploy interrupted: {reason}"),
                )
                .await?;
                jeny_events::append(&mut tx, finished_event(&row.deploy, "jeny", &ending, None))
                    .await?;
                tx.wake_on_commit(Channel::Deploys).await?;
            }
            tx.commit().await?;
            tracing::warn!(deploy = %id, "deploy interrupted: its supervisor's lease expired");
        }
        Ok(())
    }

    /// Clears what this node's interrupted deploys left, whichever node ended them: kills every
    /// process still carrying the deploy's `JENY_DEPLOY_ID` (its supervisor is gone, so nobody
    /// else will stop them) and removes the deploy's work folder. Runs on every pass, the first
    /// at start-up; each deploy is cleared once.
    async fn clear_leftovers(&self) -> Result<(), StoreError> {
        // A supervisor of this node that died (killed, crashed) leaves its command with nobody to
        // stop it: stop it at once, long before the lease expires and another node may start
        // the environment's next deploy.
        for (id, pid) in store::supervisors_on(&self.store, &self.config.node).await? {
            if supervisor_alive(pid) {
                continue;
            }
            let killed = kill_leftovers(&id);
            if killed > 0 {
                let mut tx = self.store.begin().await?;
                store::append_jeny_line(
                    &mut tx,
                    &id,
                    &format!(
                        "[jeny] its supervisor is gone: the {killed} process(es) its command left were killed"
                    ),
                )
                .await?;
                tx.wake_on_commit(Channel::Deploys).await?;
                tx.commit().await?;
                tracing::warn!(deploy = %id, killed, "killed what a lost supervisor's command left running");
            }
        }
        for id in store::leftovers_of(&self.store, &self.config.node).await? {
            let killed = kill_leftovers(&id);
            let work_dir = self.config.data_dir.join("deploys").join(&id);
            if let Err(error) = tokio::fs::remove_dir_all(&work_dir).await
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(deploy = %id, %error, "cannot remove an interrupted deploy's work folder");
            }
            let mut tx = self.store.begin().await?;
            if killed > 0 {
                store::append_jeny_line(
                    &mut tx,
                    &id,
                    &format!("[jeny] the {killed} process(es) its command left were killed"),
                )
                .await?;
                tx.wake_on_commit(Channel::Deploys).await?;
                tracing::warn!(deploy = %id, killed, "killed what an interrupted deploy left running");
            }
            store::leftovers_cleared(&mut tx, &id).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Claims and starts queued deploys while this node has free runners.
    async fn start_queued(&self, shutdown: &CancellationToken) -> Result<(), StoreError> {
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let running = store::running_on(&self.store, &self.config.node).await?;
            if running >= self.config.concurrency as i64 {
                return Ok(());
            }
            let Some((row, lease_token)) = self.claim_one().await? else {
                return Ok(());
            };
            if let Err(error) = self.start(&row, &lease_token).await {
                tracing::error!(deploy = %row.deploy.id, error = %ErrorChain(&error), "cannot start the deploy");
                self.end_unstarted(&row, &lease_token, &error.to_string())
                    .await?;
            }
        }
    }

    /// Takes the oldest queued deploy of an environment with nothing running, if any.
    async fn claim_one(&self) -> Result<Option<(DeployRow, String)>, StoreError> {
        if !store::anything_claimable(&self.store).await? {
            return Ok(None);
        }
        let lease_token = new_id();
        let (node, token, ttl) = (&self.config.node, &lease_token, self.config.lease_ttl);
        let claimed = self
            .store
            .write(|mut tx| async move {
                let claimed = store::claim(&mut tx, node, token, ttl).await?;
                Ok::<_, StoreError>((claimed, tx))
            })
            .await?;
        Ok(claimed.map(|row| (row, lease_token)))
    }

    /// Resolves what the deploy runs, records it, and starts its supervisor.
    async fn start(&self, row: &DeployRow, lease_token: &str) -> Result<(), StartError> {
        let sandbox = self.config.sandbox.clone().map_err(StartError::NoSandbox)?;
        let deploy = &row.deploy;
        let project = jeny_projects::get_project(&self.store, &deploy.project).await?;
        let environment =
            jeny_projects::get_environment(&self.store, &deploy.project, &deploy.environment)
                .await?;
        let command = environment
            .deploy_command
            .clone()
            .unwrap_or_else(|| project.deploy_command.clone());
        let filter = jeny_hosts::TagSelector::from_tags("host_filter", deploy.host_filter.clone())
            .map_err(jeny_hosts::HostError::from)?;
        let hosts = match environment.selector().and(&filter) {
            Some(selector) if !environment.selector().is_empty() => {
                let mut hosts = Vec::new();
                let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
                loop {
                    let found = jeny_hosts::select(&self.store, &selector, &page).await?;
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
            return Err(StartError::NoHosts);
        }
        let variables = jeny_projects::resolve_variables(
            &self.store,
            &self.secrets,
            &deploy.project,
            &deploy.environment,
        )
        .await?;
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
        let environment_variables =
            command_environment(self.server_environment(), &variables, &facts);
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
        let grace = Duration::from_secs(u64::from(environment.deploy_grace_secs));
        let lease_ttl = crate::supervisor::lease_for(self.config.lease_ttl, grace);
        let node = &self.config.node;
        let (command_ref, shell) = (&command, &self.config.shell);
        let (variables_ref, targets_ref) = (&recorded_variables, &targets);
        self.store
            .write(|mut tx| async move {
                store::record_start(
                    &mut tx,
                    &deploy.id,
                    command_ref,
                    shell,
                    variables_ref,
                    targets_ref,
                )
                .await?;
                jeny_events::append(
                    &mut tx,
                    NewEvent::new(
                        "deploy.started",
                        &deploy.user,
                        json!({
                            "id": deploy.id, "user": deploy.user, "ref": deploy.git_ref,
                            "host_count": targets_ref.len(), "node": node,
                        }),
                    )
                    .in_project(&deploy.project)
                    .in_environment(&deploy.environment),
                )
                .await?;
                tx.wake_on_commit(Channel::Deploys).await?;
                Ok::<_, StoreError>(((), tx))
            })
            .await?;
        let spec = SupervisorSpec {
            database_url: self.config.database_url.clone(),
            deploy_id: deploy.id.clone(),
            lease_token: lease_token.to_owned(),
            lease_ttl_ms: lease_ttl.as_millis() as u64,
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
            repository_schemes: self.config.repository_schemes.as_slice().to_vec(),
            sandbox,
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

    /// The server's variables a deploy may inherit: a deploy user gets its own `HOME`, `USER` and
    /// `LOGNAME`, and no SSH agent of the server's.
    fn server_environment(&self) -> Vec<(String, String)> {
        let mut variables: Vec<(String, String)> = std::env::vars().collect();
        if let Some(user) = self
            .config
            .sandbox
            .as_ref()
            .ok()
            .and_then(|s| s.user.as_ref())
        {
            variables.retain(|(name, _)| {
                !matches!(name.as_str(), "HOME" | "USER" | "LOGNAME" | "SSH_AUTH_SOCK")
            });
            variables.extend([
                ("HOME".to_owned(), user.home.display().to_string()),
                ("USER".to_owned(), user.name.clone()),
                ("LOGNAME".to_owned(), user.name.clone()),
            ]);
        }
        variables
    }

    /// Starts `jeny supervise` and hands it the spec on its standard input. The supervisor
    /// puts itself in a session of its own, so it outlives this process.
    async fn spawn_supervisor(&self, spec: &SupervisorSpec) -> Result<(), StartError> {
        let log_path = self.config.data_dir.join("supervisors.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|error| StartError::Io {
                what: format!("cannot open {}", log_path.display()),
                error,
            })?;
        let mut child = tokio::process::Command::new(&self.config.supervisor_program)
            .arg("supervise")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .env_remove("JENY_DATABASE_URL")
            .spawn()
            .map_err(|error| StartError::Io {
                what: format!(
                    "cannot start the supervisor {}",
                    self.config.supervisor_program.display()
                ),
                error,
            })?;
        let payload = serde_json::to_vec(spec).map_err(|error| StartError::Io {
            what: "cannot encode the deploy for its supervisor".to_owned(),
            error: error.into(),
        })?;
        let mut stdin = child.stdin.take().ok_or_else(|| StartError::Io {
            what: "cannot hand the deploy to its supervisor".to_owned(),
            error: std::io::Error::other("the supervisor has no stdin"),
        })?;
        stdin
            .write_all(&payload)
            .await
            .map_err(|error| StartError::Io {
                what: "cannot hand the deploy to its supervisor".to_owned(),
                error,
            })?;
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

/// Why a claimed deploy could not be started (it then ends `errored`, saying so).
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Project(#[from] jeny_projects::ProjectError),
    #[error(transparent)]
    Host(#[from] jeny_hosts::HostError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no host matches the environment's host selector and filter any more")]
    NoHosts,
    #[error("{0}")]
    NoSandbox(String),
    #[error("{what}: {error}")]
    Io {
        what: String,
        #[source]
        error: std::io::Error,
    },
}

impl jeny_store::MaybeContention for StartError {
    fn is_contention(&self) -> bool {
        matches!(self, StartError::Store(error) if error.is_contention())
    }
}

/// Whether the supervisor process `pid` still runs (a zombie does not; a pid taken by another
/// process counts as running, which only delays the kill to the lease's expiry).
fn supervisor_alive(pid: i64) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Err(nix::errno::Errno::ESRCH) => false,
        _ => !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        }),
    }
}

/// Kills what is left of a deploy whose supervisor is gone: every process of this machine whose
/// environment carries the deploy's `JENY_DEPLOY_ID` (the command and everything it started,
/// unless it cleared its environment). Returns how many were killed.
fn kill_leftovers(deploy_id: &str) -> usize {
    let marker = format!("JENY_DEPLOY_ID={deploy_id}");
    let mut killed = 0;
    for (pid, path) in crate::sandbox::processes() {
        let Ok(environ) = std::fs::read(path.join("environ")) else {
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
