//! The supervisor: a small process (`jeny supervise`, the same binary in a hidden mode) that owns
//! one deploy's command. The server starts it and hands it everything it needs on its standard
//! input (never on a command line: the variables include secrets); from then on the supervisor
//! needs only the database. It checks the code out, writes the inventory, runs the command in a
//! process group of its own, masks and persists the output in batches, renews its lease, watches
//! for a cancel, and records how the deploy ended. It is in a session of its own, so a server
//! that stops, restarts or is killed leaves it running: the new server simply finds its output
//! and status in the store. If the supervisor itself dies, its lease expires and the server marks
//! the deploy `interrupted`.

use crate::model::DeployStatus;
use crate::output::{OutputStream, encode_frame};
use crate::runner::{self, CommandSpec};
use crate::sandbox::{self, Sandbox};
use crate::store::{self, Ending};
use crate::{Masker, OutputChunk, checkout};
use jeny_core::{ErrorChain, Secret, Timestamp};
use jeny_store::{Channel, Store, StoreError, StoreOptions, sqlx};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Output is stored in batches of at most this many bytes.
pub const BATCH_BYTES: usize = 1024 * 1024;
/// A batch this large means the command is printing fast: the writer waits up to `FILL_WAIT`
/// for the batch to fill before storing it.
const LOADED_BATCH: usize = 128 * 1024;
const FILL_WAIT: Duration = Duration::from_millis(2);
/// How often the supervisor looks for a cancel request.
const CANCEL_POLL: Duration = Duration::from_millis(200);

/// Everything a supervisor needs, sent by the server on the supervisor's standard input.
#[derive(Clone, Serialize, Deserialize)]
pub struct SupervisorSpec {
    pub database_url: String,
    pub deploy_id: String,
    pub lease_token: String,
    pub lease_ttl_ms: u64,
    /// The deploy's own directory (`<data>/deploys/<id>`); removed when it ends.
    pub work_dir: PathBuf,
    /// Where the git mirrors are kept (`<data>/mirrors`).
    pub mirrors_dir: PathBuf,
    pub project: String,
    pub repository: Option<String>,
    pub git_ref: Option<String>,
    /// The git transports the repository may use (empty: jeny's default ones).
    #[serde(default)]
    pub repository_schemes: Vec<String>,
    pub shell: String,
    pub command: String,
    /// The command's whole environment, secrets included.
    pub environment: BTreeMap<String, String>,
    /// Values to mask in the output.
    pub secrets: Vec<String>,
    /// The Ansible inventory file's text (YAML) to write at `environment["JENY_INVENTORY"]`.
    pub inventory: String,
    pub timeout_ms: u64,
    pub grace_ms: u64,
    pub output_cap_bytes: u64,
    /// Lines jeny writes at the start of the output (warnings about the deploy).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The sandbox the command runs in (the supervisor stays outside it).
    pub sandbox: Sandbox,
}

impl std::fmt::Debug for SupervisorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorSpec")
            .field("deploy_id", &self.deploy_id)
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

/// Why the command was asked to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StopReason {
    Cancelled { by: String },
    LostLease,
}

/// Between the command being gone and the lease expiring, at the least: the supervisor starts
/// stopping its command this long plus the grace period before the lease could expire.
pub const FENCE_MARGIN: Duration = Duration::from_millis(500);

/// The lease a deploy's supervisor holds: the server's `deploy_lease_secs`, raised when needed so
/// that the supervisor, stopping its command when it has not renewed the lease for
/// `lease - grace - FENCE_MARGIN`, still has half the lease to renew in (a lease shorter than
/// twice `grace + FENCE_MARGIN` would leave no room).
pub fn lease_for(configured: Duration, grace: Duration) -> Duration {
    configured.max((grace + FENCE_MARGIN) * 2)
}

/// When a supervisor that cannot renew its lease must stop its command: measured on the
/// monotonic clock from the moment it sent its last successful renewal (the database wrote an
/// expiry at least a lease after that), early enough for the command's grace period and the
/// margin to run out before the lease can expire. Whether renewals fail or hang, the command is
/// gone before another node may start the environment's next deploy.
#[derive(Debug, Clone, Copy)]
struct Fence {
    ttl: Duration,
    /// How long after a renewal the command must start stopping without another.
    stop_after: Duration,
    last_renewal: std::time::Instant,
}

impl Fence {
    fn new(ttl: Duration, grace: Duration, last_renewal: std::time::Instant) -> Fence {
        let stop_after = ttl.saturating_sub(grace + FENCE_MARGIN).max(ttl / 4);
        Fence {
            ttl,
            stop_after,
            last_renewal,
        }
    }

    fn stop_at(&self) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.last_renewal + self.stop_after)
    }

    /// Renewals come three times per fence window, so two may fail before it closes.
    fn next_renewal(&self) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.last_renewal + self.stop_after / 3)
    }
}

/// Runs the deploy described by `spec` to its end. Returns an error only when the store cannot be
/// reached at all; everything else ends the deploy with a status.
pub async fn supervise(spec: SupervisorSpec) -> Result<(), jeny_store::StoreError> {
    let store = Store::connect(
        &spec.database_url,
        StoreOptions {
            max_connections: 2,
            watch_other_writers: None,
            ..StoreOptions::default()
        },
    )
    .await?;
    let started = std::time::Instant::now();
    let ttl = Duration::from_millis(spec.lease_ttl_ms.max(300));
    let grace = Duration::from_millis(spec.grace_ms);
    // The lease is checked before anything runs: only a supervisor whose token still holds the
    // running deploy may start (a late one, whose deploy was already ended or taken, may not).
    let Some(fence) = confirm_lease(&store, &spec, ttl, grace).await else {
        tracing::warn!(deploy = %spec.deploy_id, "this supervisor does not hold the deploy's lease: nothing runs");
        let _ = tokio::fs::remove_dir_all(&spec.work_dir).await;
        return Ok(());
    };
    let stop = CancellationToken::new();
    let lost_lease = CancellationToken::new();
    let (reason_tx, reason_rx) = tokio::sync::watch::channel(None::<StopReason>);
    let reason_tx = std::sync::Arc::new(reason_tx);
    let keeper = tokio::spawn(keep_lease(
        store.clone(),
        spec.clone(),
        fence,
        stop.clone(),
        lost_lease.clone(),
        reason_tx.clone(),
    ));
    let canceller = tokio::spawn(watch_for_cancel(
        store.clone(),
        spec.deploy_id.clone(),
        stop.clone(),
        reason_tx,
    ));
    let (output, writer) = OutputWriter::start(store.clone(), &spec, lost_lease.clone());

    for note in &spec.notes {
        output.line(&format!("[jeny] note: {note}")).await;
    }
    let outcome = run_deploy(&spec, &output, stop.clone()).await;
    canceller.abort();
    let stop_reason = reason_rx.borrow().clone();
    if stop_reason == Some(StopReason::LostLease) || lost_lease.is_cancelled() {
        // Fenced: the command is gone, and the deploy is no longer this supervisor's to write.
        // Whatever output is still buffered is dropped; a server ends the deploy `interrupted`.
        tracing::warn!(deploy = %spec.deploy_id, "lost the deploy's lease: its command was stopped");
        keeper.abort();
        writer.abort();
        let _ = tokio::fs::remove_dir_all(&spec.work_dir).await;
        return Ok(());
    }
    let (status, exit_code, reason, cancelled_by) = match (&outcome, stop_reason) {
        (Outcome::Errored(why), _) => (DeployStatus::Errored, None, Some(why.clone()), None),
        (Outcome::Ended(runner::Ending::Cancelled), Some(StopReason::Cancelled { by })) => (
            DeployStatus::Cancelled,
            None,
            Some(format!("cancelled by {by}")),
            Some(by),
        ),
        (Outcome::Ended(runner::Ending::Cancelled), _) => (
            DeployStatus::Interrupted,
            None,
            Some("its supervisor lost its lease (the database was unreachable too long, or the deploy was ended elsewhere)".to_owned()),
            None,
        ),
        (Outcome::Ended(runner::Ending::TimedOut), _) => (
            DeployStatus::TimedOut,
            None,
            Some(format!(
                "it ran longer than the environment's timeout of {}s",
                spec.timeout_ms / 1000
            )),
            None,
        ),
        (Outcome::Ended(runner::Ending::Exited(0)), _) => (DeployStatus::Succeeded, Some(0), None, None),
        (Outcome::Ended(runner::Ending::Exited(code)), _) => {
            (DeployStatus::Failed, Some(*code), None, None)
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    let summary = match (&status, &reason) {
        (DeployStatus::Succeeded, _) => format!("[jeny] deploy succeeded in {elapsed:.1}s"),
        (DeployStatus::Failed, _) => format!(
            "[jeny] deploy failed in {elapsed:.1}s: the command exited with code {}",
            exit_code.unwrap_or_default()
        ),
        (status, Some(reason)) => format!("[jeny] deploy {status} after {elapsed:.1}s: {reason}"),
        (status, None) => format!("[jeny] deploy {status} after {elapsed:.1}s"),
    };
    output.line(&summary).await;
    drop(output);
    let written = writer.await.unwrap_or_default();
    if written.omitted > 0 {
        tracing::info!(omitted = written.omitted, "output over the cap");
    }
    let ending = Ending {
        status,
        exit_code,
        reason: reason.as_deref(),
        cancelled_by: cancelled_by.as_deref(),
        lease_token: Some(&spec.lease_token),
    };
    // The end must be recorded; while the store is away, keep trying for as long as the lease
    // would have held (after that the server has marked the deploy interrupted anyway).
    let give_up =
        std::time::Instant::now() + Duration::from_millis(spec.lease_ttl_ms.max(1000) * 4);
    loop {
        let attempt = tokio::time::timeout(STORE_CALL_LIMIT, record_end(&store, &spec, &ending))
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut)));
        match attempt {
            Ok(()) => break,
            Err(error) if std::time::Instant::now() < give_up => {
                tracing::warn!(error = %ErrorChain(&error), "cannot record the deploy's end yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => {
                tracing::error!(error = %ErrorChain(&error), "giving up recording the deploy's end");
                break;
            }
        }
    }
    keeper.abort();
    compress_output(&store, &spec.deploy_id).await;
    let _ = tokio::fs::remove_dir_all(&spec.work_dir).await;
    store.close().await;
    Ok(())
}

async fn record_end(
    store: &Store,
    spec: &SupervisorSpec,
    ending: &Ending<'_>,
) -> Result<(), jeny_store::StoreError> {
    let mut tx = store.begin().await?;
    let Some(row) = store::get_in(&mut tx, &spec.deploy_id).await? else {
        return Ok(());
    };
    if store::finish(&mut tx, &spec.deploy_id, DeployStatus::Running, ending).await? {
        let event = crate::service::finished_event(&row.deploy, &row.deploy.user, ending, None);
        jeny_events::append(&mut tx, event).await?;
    }
    tx.wake_on_commit(Channel::Deploys).await?;
    tx.commit().await
}

enum Outcome {
    Ended(runner::Ending),
    Errored(String),
}

/// Prepares the working directory and runs the command.
async fn run_deploy(
    spec: &SupervisorSpec,
    output: &OutputSender,
    stop: CancellationToken,
) -> Outcome {
    // The environment's timeout covers the checkout and the command together.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(spec.timeout_ms);
    let source = spec.work_dir.join("src");
    if let Err(error) = tokio::fs::create_dir_all(&spec.work_dir).await {
        return Outcome::Errored(format!(
            "cannot create {}: {error}",
            spec.work_dir.display()
        ));
    }
    if let Some(inventory) = spec.environment.get("JENY_INVENTORY")
        && let Err(error) = tokio::fs::write(inventory, &spec.inventory).await
    {
        return Outcome::Errored(format!("cannot write the inventory {inventory}: {error}"));
    }
    match &spec.repository {
        Some(repository) => {
            output
                .line(&format!(
                    "[jeny] checking out {} from {}",
                    spec.git_ref.as_deref().unwrap_or("the default branch"),
                    checkout::without_credentials(repository)
                ))
                .await;
            let schemes = jeny_projects::RepositorySchemes::parse(&spec.repository_schemes)
                .unwrap_or_default();
            let mirrors = checkout::Mirrors::new(&spec.mirrors_dir).allowing(schemes);
            let checkout = tokio::select! {
                result = mirrors.checkout(&spec.project, repository, spec.git_ref.as_deref(), &source) => result,
                _ = stop.cancelled() => return Outcome::Ended(runner::Ending::Cancelled),
                // Dropping the checkout kills git's process group and lets the mirror lock go.
                _ = tokio::time::sleep_until(deadline) => return Outcome::Ended(runner::Ending::TimedOut),
            };
            match checkout {
                Ok(done) => {
                    if !done.git_output.trim().is_empty() {
                        output
                            .text(OutputStream::Jeny, done.git_output.as_bytes())
                            .await;
                    }
                    output.line(&format!("[jeny] at commit {}", done.sha)).await;
                    if let Err(error) = record_sha(&output.store, spec, &done.sha).await {
                        tracing::warn!(error = %ErrorChain(&error), "cannot record the deploy's commit");
                    }
                }
                Err(checkout::CheckoutError::Git { step, output: text }) => {
                    output.text(OutputStream::Jeny, text.as_bytes()).await;
                    return Outcome::Errored(format!("git {step} failed (its output is above)"));
                }
                Err(error) => return Outcome::Errored(error.to_string()),
            }
        }
        None => {
            if let Err(error) = tokio::fs::create_dir_all(&source).await {
                return Outcome::Errored(format!("cannot create {}: {error}", source.display()));
            }
        }
    }
    // The command sees the git objects its checkout borrows from the mirror, and owns its folder.
    let mut sandbox = spec.sandbox.clone();
    sandbox.readable.extend(sandbox::git_alternates(&source));
    // The server's own SSH agent, when the deploy runs as the server's user (its socket is
    // usually under /tmp, which the sandbox replaces).
    if let Some(folder) = spec
        .environment
        .get("SSH_AUTH_SOCK")
        .and_then(|socket| std::path::Path::new(socket).parent())
        .filter(|folder| folder.is_dir() && sandbox.user.is_none())
    {
        sandbox.readable.push(folder.to_path_buf());
    }
    if let Some(user) = &sandbox.user {
        let (work_dir, user) = (spec.work_dir.clone(), user.clone());
        let given = tokio::task::spawn_blocking(move || sandbox::give_to(&work_dir, &user)).await;
        if let Err(error) = given.unwrap_or_else(|error| Err(std::io::Error::other(error))) {
            return Outcome::Errored(format!(
                "cannot give {} to the deploy user: {error}",
                spec.work_dir.display()
            ));
        }
    }
    let command = CommandSpec {
        sandbox: Some(sandbox),
        shell: spec.shell.clone(),
        command: spec.command.clone(),
        environment: spec
            .environment
            .iter()
            .map(|(key, value)| (key.clone(), Secret::new(value.clone())))
            .collect(),
        working_dir: source,
        timeout: deadline.saturating_duration_since(tokio::time::Instant::now()),
        grace: Duration::from_millis(spec.grace_ms),
    };
    let (chunks_tx, mut chunks_rx) = mpsc::channel::<OutputChunk>(64);
    let forward = {
        let output = output.clone();
        tokio::spawn(async move {
            while let Some(chunk) = chunks_rx.recv().await {
                output.send(chunk).await;
            }
        })
    };
    let ending = runner::run(&command, chunks_tx, stop).await;
    let _ = forward.await;
    match ending {
        Ok(ending) => Outcome::Ended(ending),
        Err(error) => Outcome::Errored(format!("cannot start {}: {error}", spec.shell)),
    }
}

/// How long one store call of the supervisor may take before it counts as failed (a split network
/// hangs rather than fails).
const STORE_CALL_LIMIT: Duration = Duration::from_secs(5);

/// Records the supervisor's pid and renews the lease, if the lease still holds the deploy.
/// Tried until half the lease has passed; `None` when the lease is not this supervisor's, or the
/// store could not confirm it in time (then nothing may run: a server ends the deploy).
async fn confirm_lease(
    store: &Store,
    spec: &SupervisorSpec,
    ttl: Duration,
    grace: Duration,
) -> Option<Fence> {
    let give_up = std::time::Instant::now() + ttl / 2;
    loop {
        let sent = std::time::Instant::now();
        let attempt = store.write(|mut tx| async move {
            let started = store::start_supervisor(
                &mut tx,
                &spec.deploy_id,
                &spec.lease_token,
                std::process::id(),
                ttl,
            )
            .await?;
            Ok::<_, StoreError>((started, tx))
        });
        match tokio::time::timeout(STORE_CALL_LIMIT, attempt).await {
            Ok(Ok(true)) => return Some(Fence::new(ttl, grace, sent)),
            Ok(Ok(false)) => return None,
            Ok(Err(error)) => {
                tracing::warn!(error = %ErrorChain(&error), "cannot confirm the deploy's lease yet")
            }
            Err(_) => tracing::warn!("confirming the deploy's lease takes too long"),
        }
        if std::time::Instant::now() >= give_up {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Renews the lease until aborted (also while a cancelled command uses its grace period). When
/// the lease is lost (a renewal finds it taken) or the fence closes (no renewal succeeded in
/// time, whether they failed or hung), stops the command and says so.
async fn keep_lease(
    store: Store,
    spec: SupervisorSpec,
    mut fence: Fence,
    stop: CancellationToken,
    lost_lease: CancellationToken,
    reason: std::sync::Arc<tokio::sync::watch::Sender<Option<StopReason>>>,
) {
    let lose = |why: &str| {
        tracing::warn!(deploy = %spec.deploy_id, "{why}: stopping the command");
        reason.send_replace(Some(StopReason::LostLease));
        lost_lease.cancel();
        stop.cancel();
    };
    loop {
        tokio::time::sleep_until(fence.next_renewal()).await;
        loop {
            let sent = std::time::Instant::now();
            let (deploy_id, lease_token, ttl) = (&spec.deploy_id, &spec.lease_token, fence.ttl);
            let renewal = store.write(|mut tx| async move {
                let renewed = store::renew_lease(&mut tx, deploy_id, lease_token, ttl).await?;
                Ok::<_, StoreError>((renewed, tx))
            });
            match tokio::time::timeout_at(fence.stop_at(), renewal).await {
                Ok(Ok(true)) => {
                    fence.last_renewal = sent;
                    break;
                }
                Ok(Ok(false)) => {
                    return lose("the deploy's lease was taken (the deploy was ended elsewhere)");
                }
                Ok(Err(error)) => {
                    tracing::warn!(error = %ErrorChain(&error), "cannot renew the deploy's lease; retrying");
                    let retry_at = tokio::time::Instant::now() + Duration::from_millis(200);
                    if retry_at >= fence.stop_at() {
                        tokio::time::sleep_until(fence.stop_at()).await;
                        return lose("the deploy's lease could not be renewed in time");
                    }
                    tokio::time::sleep_until(retry_at).await;
                }
                Err(_) => return lose("the deploy's lease could not be renewed in time"),
            }
        }
    }
}

/// Looks for a cancel request every `CANCEL_POLL` and stops the command when there is one.
async fn watch_for_cancel(
    store: Store,
    deploy_id: String,
    stop: CancellationToken,
    reason: std::sync::Arc<tokio::sync::watch::Sender<Option<StopReason>>>,
) {
    let mut tick = tokio::time::interval(CANCEL_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.is_cancelled() {
        tick.tick().await;
        let request =
            tokio::time::timeout(STORE_CALL_LIMIT, store::cancel_request(&store, &deploy_id)).await;
        if let Ok(Ok(Some(by))) = request {
            reason.send_if_modified(|reason| {
                let first = reason.is_none();
                if first {
                    *reason = Some(StopReason::Cancelled {
                        by: by.unwrap_or_else(|| "someone".to_owned()),
                    });
                }
                first
            });
            stop.cancel();
        }
    }
}

async fn record_sha(
    store: &Store,
    spec: &SupervisorSpec,
    sha: &str,
) -> Result<bool, jeny_store::StoreError> {
    let write = store.write(|mut tx| async move {
        let recorded = store::record_sha(&mut tx, &spec.deploy_id, &spec.lease_token, sha).await?;
        Ok::<_, StoreError>((recorded, tx))
    });
    match tokio::time::timeout(STORE_CALL_LIMIT, write).await {
        Ok(result) => result,
        Err(_) => Ok(false),
    }
}

/// Sends output to the writer task.
#[derive(Clone)]
struct OutputSender {
    sender: mpsc::Sender<OutputChunk>,
    store: Store,
    /// Once the lease is lost, output is no longer this supervisor's to store: sending gives up
    /// instead of waiting for a writer that has stopped.
    lost_lease: CancellationToken,
}

impl OutputSender {
    async fn send(&self, chunk: OutputChunk) {
        tokio::select! {
            _ = self.sender.send(chunk) => {}
            _ = self.lost_lease.cancelled() => {}
        }
    }

    async fn text(&self, stream: OutputStream, bytes: &[u8]) {
        self.send(OutputChunk {
            stream,
            at: Timestamp::now(),
            bytes: bytes.to_vec(),
        })
        .await;
    }

    async fn line(&self, line: &str) {
        self.text(OutputStream::Jeny, format!("{line}\n").as_bytes())
            .await;
    }
}

/// What the writer stored.
#[derive(Debug, Clone, Copy, Default)]
struct Written {
    omitted: i64,
}

/// Masks output (secrets, and their encoded forms), keeps UTF-8 characters whole across chunks,
/// batches it and stores it: one row per batch, a batch being whatever arrived while the previous
/// one was written (so a quiet command's lines are stored one by one at once, and a loud one's
/// in large batches). Past half the cap, the head is kept and the rest becomes a rolling tail
/// of the other half, with a marker between. While the store is away the writer stops reading,
/// which stops the command's pipes: nothing is dropped and memory stays flat.
struct OutputWriter {
    store: Store,
    deploy_id: String,
    /// Every batch is stored only while this token holds the deploy's lease.
    lease_token: String,
    lost_lease: CancellationToken,
    maskers: [Masker; 3],
    /// Bytes of an incomplete UTF-8 character at the end of each stream so far.
    partial: [Vec<u8>; 3],
    head_budget: i64,
    tail_budget: i64,
    stored: i64,
    /// Once the head is full, the rolling tail.
    tail: Option<Tail>,
    omitted: i64,
}

/// The output stored after the head, once the head is full.
#[derive(Debug, Clone)]
struct Tail {
    /// The marker row between the head and the tail.
    marker_seq: i64,
    /// The tail's rows, oldest first: (seq, payload bytes).
    rows: std::collections::VecDeque<(i64, i64)>,
    bytes: i64,
}

fn index(stream: OutputStream) -> usize {
    match stream {
        OutputStream::Stdout => 0,
        OutputStream::Stderr => 1,
        OutputStream::Jeny => 2,
    }
}

impl OutputWriter {
    fn start(
        store: Store,
        spec: &SupervisorSpec,
        lost_lease: CancellationToken,
    ) -> (OutputSender, tokio::task::JoinHandle<Written>) {
        let (sender, receiver) = mpsc::channel(64);
        // The repository URL's credentials are masked like the secrets, wherever git prints them.
        let credentials = spec
            .repository
            .as_deref()
            .map(checkout::credentials_in)
            .unwrap_or_default();
        let secrets: Vec<&str> = spec
            .secrets
            .iter()
            .chain(credentials.iter())
            .map(String::as_str)
            .collect();
        let cap = spec.output_cap_bytes.max(2 * BATCH_BYTES as u64) as i64;
        let writer = OutputWriter {
            store: store.clone(),
            deploy_id: spec.deploy_id.clone(),
            lease_token: spec.lease_token.clone(),
            lost_lease: lost_lease.clone(),
            // One automaton, shared by the three streams' maskers.
            maskers: {
                let masker = Masker::new(secrets.iter().copied());
                [masker.clone(), masker.clone(), masker]
            },
            partial: Default::default(),
            head_budget: cap / 2,
            tail_budget: cap - cap / 2,
            stored: 0,
            tail: None,
            omitted: 0,
        };
        let task = tokio::spawn(writer.run(receiver));
        (
            OutputSender {
                sender,
                store,
                lost_lease,
            },
            task,
        )
    }

    async fn run(mut self, mut receiver: mpsc::Receiver<OutputChunk>) -> Written {
        let mut frames = Vec::with_capacity(2 * BATCH_BYTES);
        let mut payload = 0i64;
        let mut open = true;
        while open {
            match receiver.recv().await {
                Some(chunk) => payload += self.frame(&mut frames, chunk),
                None => open = false,
            }
            while open && frames.len() < BATCH_BYTES {
                match receiver.try_recv() {
                    Ok(chunk) => payload += self.frame(&mut frames, chunk),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => open = false,
                }
            }
            // Under load (much arrived while the last batch was stored), wait a moment for the
            // batch to fill: fewer, larger commits. A quiet command's lines are never held.
            while open && frames.len() >= LOADED_BATCH && frames.len() < BATCH_BYTES {
                match tokio::time::timeout(FILL_WAIT, receiver.recv()).await {
                    Ok(Some(chunk)) => payload += self.frame(&mut frames, chunk),
                    Ok(None) => open = false,
                    Err(_) => break,
                }
            }
            if !open {
                payload += self.release_held(&mut frames);
            }
            if !frames.is_empty() {
                self.store_batch(std::mem::take(&mut frames), payload).await;
                frames = Vec::with_capacity(2 * BATCH_BYTES);
                payload = 0;
            }
        }
        Written {
            omitted: self.omitted,
        }
    }

    /// Masks a chunk and frames what can be released; returns the payload bytes framed.
    fn frame(&mut self, frames: &mut Vec<u8>, chunk: OutputChunk) -> i64 {
        let i = index(chunk.stream);
        let masked = if self.maskers[i].masks_nothing() {
            chunk.bytes
        } else {
            self.maskers[i].push(&chunk.bytes)
        };
        // The usual case, nothing held from before: frame straight from the chunk.
        let pending = if self.partial[i].is_empty() {
            masked
        } else {
            let mut pending = std::mem::take(&mut self.partial[i]);
            pending.extend_from_slice(&masked);
            pending
        };
        let whole = whole_utf8_prefix(&pending);
        self.partial[i] = pending[whole..].to_vec();
        if whole == 0 {
            return 0;
        }
        encode_frame(frames, chunk.stream, chunk.at, &pending[..whole]);
        whole as i64
    }

    /// The output has ended: releases what the maskers and the UTF-8 joiner held.
    fn release_held(&mut self, frames: &mut Vec<u8>) -> i64 {
        let mut payload = 0;
        for stream in [
            OutputStream::Stdout,
            OutputStream::Stderr,
            OutputStream::Jeny,
        ] {
            let i = index(stream);
            let mut rest = std::mem::take(&mut self.partial[i]);
            rest.extend_from_slice(&self.maskers[i].finish());
            if !rest.is_empty() {
                encode_frame(frames, stream, Timestamp::now(), &rest);
                payload += rest.len() as i64;
            }
        }
        payload
    }

    /// Stores one batch. While the database is unreachable it retries for as long as it takes
    /// (the command waits on its pipe meanwhile); any other failure (the deploy was deleted with
    /// its project, say) is retried a few times, then the batch is dropped, so that a supervisor
    /// never hangs on output it can no longer store.
    async fn store_batch(&mut self, frames: Vec<u8>, payload: i64) {
        let mut delay = Duration::from_millis(100);
        let mut other_failures = 0;
        loop {
            if self.lost_lease.is_cancelled() {
                return;
            }
            let lost_lease = self.lost_lease.clone();
            let attempt = tokio::select! {
                attempt = self.try_store(&frames, payload) => attempt,
                _ = lost_lease.cancelled() => return,
            };
            match attempt {
                Ok(true) => return,
                Ok(false) => {
                    tracing::warn!(deploy = %self.deploy_id, "the deploy's lease is gone: its output is no longer stored");
                    self.lost_lease.cancel();
                    return;
                }
                Err(error) => {
                    if !matches!(error, StoreError::Unavailable(_)) {
                        other_failures += 1;
                        if other_failures >= 5 {
                            tracing::error!(error = %ErrorChain(&error), bytes = payload, "dropping deploy output that cannot be stored");
                            return;
                        }
                    }
                    tracing::warn!(error = %ErrorChain(&error), "cannot store deploy output yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Stores one batch; false (nothing stored) when the lease no longer holds the deploy.
    async fn try_store(&mut self, frames: &[u8], payload: i64) -> Result<bool, StoreError> {
        let mut tx = self.store.begin().await?;
        let mut tail = self.tail.clone();
        let mut omitted = self.omitted;
        // The head takes batches until it holds its half; the batch that fills it may overrun it.
        if tail.is_none() && self.stored >= self.head_budget {
            let mut marker = Vec::new();
            let text = format!(
                "\n[jeny] the output is over this deploy's cap of {} MB: what follows is its end; the middle is left out\n",
                (self.head_budget + self.tail_budget) / (1024 * 1024)
            );
            encode_frame(
                &mut marker,
                OutputStream::Jeny,
                Timestamp::now(),
                text.as_bytes(),
            );
            let seq = store::append_output(&mut tx, &self.deploy_id, 0, marker).await?;
            tail = Some(Tail {
                marker_seq: seq,
                rows: std::collections::VecDeque::new(),
                bytes: 0,
            });
        }
        let seq = store::append_output(&mut tx, &self.deploy_id, payload, frames.to_vec()).await?;
        if let Some(Tail { rows, bytes, .. }) = &mut tail {
            rows.push_back((seq, payload));
            *bytes += payload;
            // Drop the oldest tail batch only while what stays still holds the tail's half, so
            // the end of the output is always there in full (a short last batch, such as jeny's
            // closing line, never pushes the command's last output out).
            while rows.len() > 1
                && rows
                    .front()
                    .is_some_and(|(_, oldest)| *bytes - oldest >= self.tail_budget)
            {
                let Some((old_seq, old_bytes)) = rows.pop_front() else {
                    break;
                };
                store::delete_output_batch(&mut tx, &self.deploy_id, old_seq).await?;
                *bytes -= old_bytes;
                omitted += old_bytes;
            }
        }
        let counted = store::count_output(
            &mut tx,
            &self.deploy_id,
            &self.lease_token,
            payload,
            omitted,
            tail.as_ref().map(|tail| tail.marker_seq - 1),
        )
        .await?;
        if !counted {
            // Dropped without commit: the batch is rolled back with it.
            return Ok(false);
        }
        // Only this deploy's followers wake (on every node): not the dispatchers, nor the feeds
        // of other deploys.
        tx.wake_key_on_commit(Channel::DeployOutput, &self.deploy_id);
        tx.commit().await?;
        self.stored += payload;
        self.tail = tail;
        self.omitted = omitted;
        Ok(true)
    }
}

/// The length of the longest prefix of `bytes` that does not end inside a UTF-8 character.
/// Invalid bytes count as whole (they are shown as replacement characters).
fn whole_utf8_prefix(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=3.min(len) {
        let byte = bytes[len - back];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: look further back for the lead
        }
        let needed = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if needed > back { len - back } else { len };
    }
    len
}

/// Deflates a finished deploy's raw output batches, one at a time.
async fn compress_output(store: &Store, deploy_id: &str) {
    let Ok(seqs) = store::raw_output_batches(store, deploy_id).await else {
        return;
    };
    for seq in seqs {
        let Ok(Some(data)) = store::raw_output_batch(store, deploy_id, seq).await else {
            continue;
        };
        let Ok(compressed) = crate::output::compress(&data) else {
            continue;
        };
        if compressed.len() >= data.len() {
            continue;
        }
        let replaced = store
            .write(|mut tx| {
                let compressed = compressed.clone();
                async move {
                    store::replace_with_deflated(&mut tx, deploy_id, seq, compressed).await?;
                    Ok::<_, StoreError>(((), tx))
                }
            })
            .await;
        if let Err(error) = replaced {
            tracing::warn!(error = %ErrorChain(&error), "cannot compress the deploy's output");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::whole_utf8_prefix;

    #[test]
    fn an_incomplete_character_at_the_end_is_held_back() {
        let text = "é€😀".as_bytes(); // 2 + 3 + 4 bytes
        assert_eq!(whole_utf8_prefix(text), text.len());
        assert_eq!(whole_utf8_prefix(&text[..text.len() - 1]), 5);
        assert_eq!(whole_utf8_prefix(&text[..4]), 2);
        assert_eq!(whole_utf8_prefix(&text[..1]), 0);
        assert_eq!(whole_utf8_prefix(b"plain"), 5);
        assert_eq!(
            whole_utf8_prefix(&[b'a', 0xff]),
            2,
            "invalid bytes are not held"
        );
    }
}
