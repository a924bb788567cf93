//! Faults on purpose: the real `jeny` binary killed with SIGKILL in the middle of a burst of
//! writes must come back with every acknowledged write and nothing half-written, and a server
//! whose PostgreSQL goes away must answer 503 problem documents meanwhile and recover on its own
//! once the database is back.

use jeny_store::Store;
use jeny_testkit::{
    Backend, Client, ClientError, FaultProxy, TestApp, TestDatabase, both_backends,
};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long any wait may poll before the test gives up: generous, since CI machines are shared.
const DEADLINE: Duration = Duration::from_secs(60);
/// Pause between two polls of a condition.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// A single request that takes longer than this is stuck, not slow.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONCURRENT_WRITERS: usize = 4;
/// The kill comes once this many writes are acknowledged (or at the deadline, if fewer).
const ACKNOWLEDGED_BEFORE_THE_KILL: usize = 300;
/// The largest page the API serves.
const PAGE_LIMIT: usize = 500;

both_backends!(
    a_server_killed_during_a_burst_of_writes_loses_no_acknowledged_write,
    sigterm_stops_the_server_and_tokens_can_be_made_while_it_is_down,
    a_deploy_outlives_server_stops_and_kills_and_the_queue_moves_on,
    a_killed_supervisor_ends_its_deploy_interrupted_and_the_queue_moves_on,
);

async fn a_server_killed_during_a_burst_of_writes_loses_no_acknowledged_write(backend: Backend) {
    // Arrange: the real binary on a fresh database, and an admin token.
    let database = TestDatabase::create(backend).await;
    let mut first_server = ServerProcess::start(&database);
    first_server.wait_until_ready().await;
    let token = admin_token(&database).await;
    let client = Client::new(&first_server.url, Some(token.clone()));

    // Act: concurrent writers, then SIGKILL while they are still writing.
    let acknowledged_count = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..CONCURRENT_WRITERS)
        .map(|writer| {
            tokio::spawn(write_until_refused(
                writer,
                client.clone(),
                acknowledged_count.clone(),
                killed.clone(),
            ))
        })
        .collect();
    let kill_deadline = Instant::now() + DEADLINE;
    while acknowledged_count.load(Ordering::SeqCst) < ACKNOWLEDGED_BEFORE_THE_KILL
        && Instant::now() < kill_deadline
        && !writers.iter().all(|writer| writer.is_finished())
    {
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    killed.store(true, Ordering::SeqCst);
    first_server.kill();
    let mut reports = Vec::new();
    for writer in writers {
        let report = tokio::time::timeout(DEADLINE, writer)
            .await
            .expect("a writer kept going after the server was killed")
            .expect("a writer panicked");
        reports.push(report);
    }

    // Assert: the writes were refused only because of the kill, and a restart finds them all.
    for report in &reports {
        let failure = report
            .failure
            .as_ref()
            .expect("a writer stops only when a write fails");
        assert!(
            failure.after_the_kill && failure.is_transport_error,
            "writer {} failed before the kill or with an answer from the server: {}\n{}",
            report.writer,
            failure.message,
            first_server.logs()
        );
    }
    let acknowledged: BTreeSet<String> = reports
        .iter()
        .flat_map(|report| report.acknowledged.iter().cloned())
        .collect();
    let attempted: BTreeSet<String> = reports
        .iter()
        .flat_map(|report| report.attempted.iter().cloned())
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "no write was acknowledged before the kill\n{}",
        first_server.logs()
    );

    let mut restarted_server = ServerProcess::start(&database);
    restarted_server.wait_until_ready().await;
    let client = Client::new(&restarted_server.url, Some(token));
    let deploy_commands = all_projects(&client).await;
    let created_events = all_project_created_events(&client).await;

    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|name| !deploy_commands.contains_key(*name))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged projects are gone after the restart: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    let never_written: Vec<&String> = deploy_commands
        .keys()
        .filter(|name| !attempted.contains(*name))
        .collect();
    assert!(
        never_written.is_empty(),
        "projects nobody created are present: {never_written:?}"
    );
    for (name, deploy_command) in &deploy_commands {
        assert_eq!(
            deploy_command,
            &deploy_command_of(name),
            "project {name} is not what was written"
        );
    }
    let projects_without_their_event: Vec<&String> = deploy_commands
        .keys()
        .filter(|name| !created_events.contains_key(*name))
        .collect();
    assert!(
        projects_without_their_event.is_empty(),
        "projects without a project.created event: {projects_without_their_event:?}"
    );
    for (name, payloads) in &created_events {
        assert!(
            deploy_commands.contains_key(name),
            "a project.created event for {name}, which does not exist: {payloads:?}"
        );
        assert_eq!(
            payloads.len(),
            1,
            "project {name} has {} project.created events: {payloads:?}",
            payloads.len()
        );
        assert_eq!(
            payloads[0]["deploy_command"],
            json!(deploy_command_of(name)),
            "the project.created event of {name} does not describe what was written"
        );
    }
    restarted_server.assert_still_running();
    restarted_server.assert_started_cleanly();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fail_with_503_while_postgres_is_away_and_recover_without_a_restart() {
    // Arrange: a server whose PostgreSQL connections all go through a proxy the test can cut.
    let mut database = TestDatabase::create(Backend::Postgres).await;
    let authority = authority_of(&database.url);
    let postgres = resolve(&database.url[authority.clone()]).await;
    let proxy = FaultProxy::start(postgres).await;
    database
        .url
        .replace_range(authority, &proxy.address.to_string());
    let app = TestApp::spawn_on(database, |_| {}).await;
    let admin = app.with_admin().await;
    // Never used before the cut, so no cache knows it: the outage hits its check in the store.
    let viewer_with_an_unchecked_token = app.with_viewer().await;
    let kept = "kept-through-the-outage";
    let kept_path = format!("/api/v1/projects/{kept}");
    create_project(&admin, kept)
        .await
        .expect("creating a project before the outage");

    // Act: the database goes away.
    proxy.cut();

    // Assert: every request that needs the database answers a 503 problem, never a 500.
    let read_during_the_outage =
        jeny_testkit::poll_until("a read answers 503 while the database is away", || {
            let request = admin.request(Method::GET, &kept_path);
            async move {
                let answer = Answer::of(request).await;
                match answer.status {
                    StatusCode::SERVICE_UNAVAILABLE => Some(answer),
                    // The pool has not noticed yet.
                    StatusCode::OK => None,
                    _ => panic!("a read while the database is away: {answer:?}"),
                }
            }
        })
        .await;
    read_during_the_outage.assert_unavailable("a read");
    let write_during_the_outage = Answer::of(
        admin
            .request(Method::POST, "/api/v1/projects")
            .json(&json!({"name": "written-during-the-outage", "deploy_command": "echo"})),
    )
    .await;
    write_during_the_outage.assert_unavailable("a write");
    let typed_read = admin
        .get_project(kept)
        .await
        .expect_err("a read while the database is away");
    assert_eq!(typed_read.status(), Some(503), "{typed_read:?}");
    assert_eq!(
        typed_read.problem().map(|problem| problem.code.as_str()),
        Some("unavailable"),
        "{typed_read:?}"
    );
    Answer::of(viewer_with_an_unchecked_token.request(Method::GET, &kept_path))
        .await
        .assert_unavailable("a request whose token must be checked in the store");
    Answer::of(app.anonymous().request(Method::GET, "/readyz"))
        .await
        .assert_unavailable("the readiness check");
    let liveness = Answer::of(app.anonymous().request(Method::GET, "/healthz")).await;
    assert_eq!(
        liveness.status,
        StatusCode::OK,
        "the process is alive even while its database is away: {liveness:?}"
    );

    // Act: the database comes back.
    proxy.restore();

    // Assert: the same server serves again, without a restart.
    jeny_testkit::poll_until("a read answers 200 once the database is back", || {
        let request = admin.request(Method::GET, &kept_path);
        async move {
            let answer = Answer::of(request).await;
            match answer.status {
                StatusCode::OK => Some(()),
                // The pool is still reconnecting.
                StatusCode::SERVICE_UNAVAILABLE => None,
                _ => panic!("a read after the database came back: {answer:?}"),
            }
        }
    })
    .await;
    let created_after = create_project(&admin, "created-after-the-outage").await;
    assert!(
        created_after.is_ok(),
        "creating a project after the outage: {created_after:?}"
    );
    let read_after = admin.get_project("created-after-the-outage").await;
    assert!(
        read_after.is_ok(),
        "reading a project created after the outage: {read_after:?}"
    );
    let refused_write = admin
        .get_project("written-during-the-outage")
        .await
        .expect_err("a write refused with 503 left nothing behind");
    assert_eq!(refused_write.status(), Some(404), "{refused_write:?}");
    let readiness = Answer::of(app.anonymous().request(Method::GET, "/readyz")).await;
    assert_eq!(readiness.status, StatusCode::OK, "{readiness:?}");
    app.stop().await;
}

/// SIGTERM stops the server cleanly (exit status 0), and `jeny admin token` works while no
/// server runs: the token it prints is accepted once a server is back.
async fn sigterm_stops_the_server_and_tokens_can_be_made_while_it_is_down(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let mut server = ServerProcess::start(&database);
    server.wait_until_ready().await;
    let pid = server.child.id().to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("cannot run kill");
    assert!(signalled.success());
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("cannot check on the server") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM\n{}",
            server.logs()
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    };
    assert!(
        status.success(),
        "the server exited with {status} on SIGTERM\n{}",
        server.logs()
    );
    server.assert_started_cleanly();

    let token = admin_token(&database).await;
    let mut restarted = ServerProcess::start(&database);
    restarted.wait_until_ready().await;
    let client = Client::new(&restarted.url, Some(token));
    client
        .list_projects(None, None)
        .await
        .expect("a token made while the server was down works");
}

/// `jeny admin token` on a data directory no server has used creates it, with the database, and
/// the server that starts there later accepts the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_made_before_the_first_start_works_once_the_server_runs() {
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("not-yet-created");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_jeny"))
        .args([
            "admin",
            "token",
            "--email",
            "first@example.com",
            "--data-dir",
        ])
        .arg(&data_dir)
        .env_remove("JENY_DATABASE_URL")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("no server has used"));
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let database = TestDatabase {
        backend: Backend::Sqlite,
        url: format!("sqlite://{}", data_dir.join("jeny.db").display()),
        dir: parent,
    };
    let mut server = ServerProcess::start_in(&database, &data_dir);
    server.wait_until_ready().await;
    let client = Client::new(&server.url, Some(token));
    client
        .list_projects(None, None)
        .await
        .expect("the token made before the first start works");
}

/// The real `jeny server` as a child process, killed when dropped so that a failing test leaves
/// no server behind.
struct ServerProcess {
    child: Child,
    url: String,
    /// The child's stdout and stderr, shown when something goes wrong.
    logs: tempfile::TempDir,
}

impl ServerProcess {
    fn start(database: &TestDatabase) -> ServerProcess {
        ServerProcess::start_in(database, database.dir.path())
    }

    fn start_in(database: &TestDatabase, data_dir: &std::path::Path) -> ServerProcess {
        ServerProcess::start_with(database, data_dir, &[])
    }

    /// A server with extra flags (`--deploy-lease-secs 2`, ...).
    fn start_with(
        database: &TestDatabase,
        data_dir: &std::path::Path,
        extra: &[&str],
    ) -> ServerProcess {
        ServerProcess::start_on(&database.url, data_dir, extra, &[])
    }

    /// A server on the database at `url` (through a fault proxy, say), with extra flags and
    /// environment variables.
    fn start_on(
        database_url: &str,
        data_dir: &std::path::Path,
        extra: &[&str],
        environment: &[(&str, &str)],
    ) -> ServerProcess {
        let listen = format!("127.0.0.1:{}", free_port());
        let logs = tempfile::tempdir().expect("cannot create a folder for the server's logs");
        let stdout = File::create(logs.path().join("stdout")).expect("cannot create a log file");
        let stderr = File::create(logs.path().join("stderr")).expect("cannot create a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_jeny"))
            .args(["server", "--listen", &listen, "--data-dir"])
            .arg(data_dir)
            .args(["--database-url", database_url])
            .args(extra)
            .env("JENY_DEPLOY_USER", jeny_testkit::deploy_user())
            .envs(environment.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("cannot start the jeny binary");
        ServerProcess {
            child,
            url: format!("http://{listen}"),
            logs,
        }
    }

    /// Polls `/readyz` until it answers 200; fails at once if the server exits.
    async fn wait_until_ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("cannot check on the server") {
                panic!(
                    "the server exited ({status}) before it was ready\n{}",
                    self.logs()
                );
            }
            let readiness = http
                .get(format!("{}/readyz", self.url))
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await;
            if readiness.is_ok_and(|response| response.status() == StatusCode::OK) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server was not ready within {DEADLINE:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    fn kill(&mut self) {
        self.child.kill().expect("cannot kill the server");
        self.child.wait().expect("cannot reap the killed server");
    }

    fn assert_still_running(&mut self) {
        let exited = self.child.try_wait().expect("cannot check on the server");
        assert!(
            exited.is_none(),
            "the server exited ({exited:?})\n{}",
            self.logs()
        );
    }

    /// Nothing went wrong while starting and serving: no error logged, no panic.
    fn assert_started_cleanly(&self) {
        let stdout = self.log("stdout");
        let stderr = self.log("stderr");
        assert!(
            stdout.contains("jeny is running at"),
            "the server did not say it is running\n{}",
            self.logs()
        );
        assert!(
            !stderr.contains(" ERROR ") && !stderr.contains("panicked"),
            "the server logged errors\n{}",
            self.logs()
        );
    }

    fn log(&self, stream: &str) -> String {
        std::fs::read_to_string(self.logs.path().join(stream)).unwrap_or_default()
    }

    fn logs(&self) -> String {
        format!(
            "--- server stdout ---\n{}--- server stderr ---\n{}",
            self.log("stdout"),
            self.log("stderr")
        )
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Already dead when the test killed it; the errors say nothing useful then.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("cannot bind a free port");
    listener.local_addr().expect("a bound address").port()
}

/// A fresh admin token from `jeny admin token`, which works on the database directly.
async fn admin_token(database: &TestDatabase) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_jeny"))
        .args(["admin", "token", "--data-dir"])
        .arg(database.dir.path())
        .args(["--database-url", &database.url])
        .args(["--email", "admin@example.com", "--role", "admin"])
        .output()
        .await
        .expect("cannot run jeny admin token");
    assert!(
        output.status.success(),
        "jeny admin token failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout)
        .expect("the token is text")
        .trim()
        .to_owned();
    assert!(!token.is_empty(), "jeny admin token printed no token");
    token
}

fn deploy_command_of(project: &str) -> String {
    format!("echo {project}")
}

/// Creates `name` with a deploy command derived from it, so a restart can tell a complete
/// project from a half-written one.
async fn create_project(client: &Client, name: &str) -> Result<(), ClientError> {
    // This crate does not depend on jeny-projects, so the input is built from its JSON form;
    // the parameter's type tells serde what to build.
    let input = serde_json::from_value(json!({
        "name": name,
        "deploy_command": deploy_command_of(name),
    }))
    .expect("a valid project input");
    client.create_project(&input).await.map(|_| ())
}

/// What one writer did before its first failure.
struct WriterReport {
    writer: usize,
    attempted: Vec<String>,
    acknowledged: Vec<String>,
    failure: Option<WriteFailure>,
}

struct WriteFailure {
    message: String,
    /// No answer came back (connection refused or reset), as opposed to an error status.
    is_transport_error: bool,
    after_the_kill: bool,
}

/// Creates `p-<writer>-<n>` for n = 0, 1, ... until a create fails.
async fn write_until_refused(
    writer: usize,
    client: Client,
    acknowledged_count: Arc<AtomicUsize>,
    killed: Arc<AtomicBool>,
) -> WriterReport {
    let mut report = WriterReport {
        writer,
        attempted: Vec::new(),
        acknowledged: Vec::new(),
        failure: None,
    };
    for sequence in 0.. {
        let name = format!("p-{writer}-{sequence}");
        report.attempted.push(name.clone());
        match create_project(&client, &name).await {
            Ok(()) => {
                report.acknowledged.push(name);
                acknowledged_count.fetch_add(1, Ordering::SeqCst);
            }
            Err(error) => {
                report.failure = Some(WriteFailure {
                    message: error.to_string(),
                    is_transport_error: matches!(error, ClientError::Http(_)),
                    after_the_kill: killed.load(Ordering::SeqCst),
                });
                break;
            }
        }
    }
    report
}

/// Every project, by name, with its deploy command.
async fn all_projects(client: &Client) -> BTreeMap<String, String> {
    let mut projects = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client
            .list_projects(Some(PAGE_LIMIT), cursor.as_deref())
            .await
            .expect("listing projects after the restart");
        for project in page.items {
            let previous = projects.insert(project.name.clone(), project.deploy_command);
            assert!(previous.is_none(), "project {} listed twice", project.name);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return projects,
        }
    }
}

/// The payloads of every `project.created` event, by project name.
async fn all_project_created_events(client: &Client) -> BTreeMap<String, Vec<Value>> {
    let mut events: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut after = 0;
    loop {
        let page = client
            .list_events(after, Some(PAGE_LIMIT), None, None)
            .await
            .expect("reading the event log after the restart");
        let page_size = page.items.len();
        for event in page.items {
            assert!(
                event.id > after,
                "events out of order: {} after {after}",
                event.id
            );
            after = event.id;
            if event.kind != "project.created" {
                continue;
            }
            let project = event
                .project
                .unwrap_or_else(|| panic!("project.created event {} has no project", event.id));
            events.entry(project).or_default().push(event.payload);
        }
        if page_size < PAGE_LIMIT {
            return events;
        }
    }
}

/// A raw answer, for checks the typed client hides (content type, exact status).
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Answer {
    async fn of(request: RequestBuilder) -> Answer {
        let response = request
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .expect("the server answers even while its database is away");
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.text().await.expect("a readable body");
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// A 503 problem document with code `unavailable` that leaks nothing of the cause.
    fn assert_unavailable(&self, what: &str) {
        assert_eq!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{what} while the database is away: {self:?}"
        );
        assert!(
            self.content_type.starts_with("application/problem+json"),
            "{what} while the database is away is not problem+json: {self:?}"
        );
        let problem: Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("{what}: the body is not JSON ({error}): {self:?}"));
        assert_eq!(problem["status"], json!(503), "{what}: {self:?}");
        assert_eq!(problem["code"], json!("unavailable"), "{what}: {self:?}");
        assert!(
            problem["request_id"].is_string(),
            "{what}: no request id to quote: {self:?}"
        );
        assert!(
            !self.body.contains("sqlx") && !self.body.contains("os error"),
            "{what}: the body leaks the internal error: {self:?}"
        );
    }
}

/// Where the host and port sit in a `postgres://user@host:port/db?...` URL.
fn authority_of(url: &str) -> std::ops::Range<usize> {
    let start = url.find("://").expect("a URL with a scheme") + 3;
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |offset| start + offset);
    let host_start = url[start..end]
        .rfind('@')
        .map_or(start, |at| start + at + 1);
    host_start..end
}

/// The socket address of `host[:port]`, PostgreSQL's port by default.
async fn resolve(authority: &str) -> SocketAddr {
    let with_port = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:5432")
    };
    tokio::net::lookup_host(&with_port)
        .await
        .unwrap_or_else(|error| {
            panic!("cannot resolve the PostgreSQL address {with_port}: {error}")
        })
        .next()
        .unwrap_or_else(|| panic!("{with_port} resolves to no address"))
}

/// Flags for deploy fault tests: a short lease, so a lost supervisor is noticed in seconds.
const DEPLOY_FLAGS: &[&str] = &["--deploy-lease-secs", "2", "--log", "info"];

/// Project `app` whose deploy prints `tick 1` to `tick N`, one every 50 ms, and a host-less
/// environment `production`.
async fn ticking_project(client: &Client, ticks: u32) {
    ticking_project_with(client, ticks, "").await;
}

/// The same, with `before` run first in the command.
async fn ticking_project_with(client: &Client, ticks: u32, before: &str) {
    let created = client
        .request(Method::POST, "/api/v1/projects")
        .json(&json!({
            "name": "app",
            "deploy_command": format!("{before}i=1; while [ $i -le {ticks} ]; do echo \"tick $i\"; i=$((i+1)); sleep 0.05; done"),
        }))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{created:?}");
    let created = client
        .request(Method::POST, "/api/v1/projects/app/environments")
        .json(&json!({"name": "production", "deploy_grace_secs": 1}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{created:?}");
}

async fn start_deploy(client: &Client) -> String {
    client
        .create_deploy("app", "production", &jeny_deploys::DeployRequest::default())
        .await
        .expect("the deploy is accepted")
        .id
}

/// Waits until the deploy's output has `text` (through any server that answers).
async fn wait_for_output(client: &Client, id: &str, text: &str) {
    jeny_testkit::poll_until(&format!("deploy {id} prints {text:?}"), || async {
        let output = client.deploy_output(id, false).await.ok()?;
        output.contains(text).then_some(())
    })
    .await
}

async fn wait_for_end(client: &Client, id: &str) -> jeny_deploys::Deploy {
    jeny_testkit::poll_until(&format!("deploy {id} ends"), || async {
        let deploy = client.get_deploy(id).await.ok()?;
        deploy.status.is_finished().then_some(deploy)
    })
    .await
}

/// Every `tick N` line, in order.
fn ticks(output: &str) -> Vec<u32> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("tick "))
        .map(|n| n.parse().unwrap())
        .collect()
}

/// A deploy runs on while its server is stopped with SIGTERM and while it is killed with
/// SIGKILL; each restarted server takes it up again: the output is complete, in order, with no
/// gap, the deploy succeeds, and the next deploy in the queue then runs.
async fn a_deploy_outlives_server_stops_and_kills_and_the_queue_moves_on(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let data_dir = database.dir.path().to_path_buf();
    let mut server = ServerProcess::start_with(&database, &data_dir, DEPLOY_FLAGS);
    server.wait_until_ready().await;
    let token = admin_token(&database).await;
    let client = Client::new(&server.url, Some(token.clone()));
    ticking_project(&client, 80).await;
    let first = start_deploy(&client).await;
    let second = start_deploy(&client).await;
    wait_for_output(&client, &first, "tick 5\n").await;

    // SIGTERM: the server stops taking work and exits; the deploy goes on without it.
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("cannot run kill");
    assert!(signalled.success());
    jeny_testkit::poll_until("the server exits on SIGTERM", || {
        let exited = server.child.try_wait().expect("cannot check on the server");
        async move { exited.map(|_| ()) }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut server = ServerProcess::start_with(&database, &data_dir, DEPLOY_FLAGS);
    server.wait_until_ready().await;
    let client = Client::new(&server.url, Some(token.clone()));
    assert_eq!(
        client.get_deploy(&first).await.unwrap().status,
        jeny_deploys::DeployStatus::Running,
        "the deploy kept running while no server was up"
    );
    wait_for_output(&client, &first, "tick 30\n").await;

    // SIGKILL: no goodbye at all; the deploy still goes on and the next server picks it up.
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut server = ServerProcess::start_with(&database, &data_dir, DEPLOY_FLAGS);
    server.wait_until_ready().await;
    let client = Client::new(&server.url, Some(token));
    let finished = wait_for_end(&client, &first).await;
    let output = client.deploy_output(&first, false).await.unwrap();
    assert_eq!(
        finished.status,
        jeny_deploys::DeployStatus::Succeeded,
        "{output}\n{}",
        server.logs()
    );
    assert_eq!(ticks(&output), (1..=80).collect::<Vec<_>>(), "{output}");

    // The queue moved on: the second deploy ran after the first, and can be cancelled.
    wait_for_output(&client, &second, "tick 3\n").await;
    let second_deploy = client.get_deploy(&second).await.unwrap();
    assert!(second_deploy.started_at.unwrap() >= finished.finished_at.unwrap());
    client.cancel_deploy(&second).await.unwrap();
    let second_deploy = wait_for_end(&client, &second).await;
    assert_eq!(second_deploy.status, jeny_deploys::DeployStatus::Cancelled);
    server.assert_still_running();
}

/// A supervisor killed with SIGKILL stops renewing its lease: once the lease expires the deploy
/// ends `interrupted` with a line saying why, what its command left running is killed, and the
/// next deploy runs.
async fn a_killed_supervisor_ends_its_deploy_interrupted_and_the_queue_moves_on(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let data_dir = database.dir.path().to_path_buf();
    let mut server = ServerProcess::start_with(&database, &data_dir, DEPLOY_FLAGS);
    server.wait_until_ready().await;
    let token = admin_token(&database).await;
    let client = Client::new(&server.url, Some(token));
    // A background sleep that prints nothing would outlive its supervisor, were it not killed.
    ticking_project_with(&client, 400, "sleep 300 & ").await;
    let first = start_deploy(&client).await;
    let second = start_deploy(&client).await;
    wait_for_output(&client, &first, "tick 3\n").await;

    let store = database.open().await;
    let supervisor: i64 =
        jeny_store::sqlx::query_scalar("SELECT supervisor_pid FROM deploys WHERE id = $1")
            .bind(&first)
            .fetch_one(store.reader())
            .await
            .unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &supervisor.to_string()])
        .status()
        .expect("cannot run kill");
    assert!(killed.success());

    let interrupted = wait_for_end(&client, &first).await;
    assert_eq!(
        interrupted.status,
        jeny_deploys::DeployStatus::Interrupted,
        "{}",
        server.logs()
    );
    assert!(
        interrupted
            .reason
            .as_deref()
            .unwrap()
            .contains("stopped renewing its lease"),
        "{interrupted:?}"
    );
    // Its command died with it (the sandbox's --die-with-parent): nothing is left for the
    // node to kill.
    let output = client.deploy_output(&first, false).await.unwrap();
    assert!(output.contains("[jeny] deploy interrupted"), "{output}");
    assert_eq!(
        jeny_testkit::processes_of_deploy(&first),
        Vec::<u32>::new(),
        "processes of the interrupted deploy are left"
    );
    // The orphaned command was killed: its output stops.
    let stopped = ticks(&output).last().copied().unwrap_or_default();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = client.deploy_output(&first, false).await.unwrap();
    assert_eq!(
        ticks(&later).last().copied().unwrap_or_default(),
        stopped,
        "the command of the lost supervisor goes on"
    );

    // The queue moved on.
    wait_for_output(&client, &second, "tick 2\n").await;
    client.cancel_deploy(&second).await.unwrap();
    wait_for_end(&client, &second).await;
    server.assert_still_running();
    store.close().await;
}

/// Two servers on one PostgreSQL database, deploys posted to both at once: a deploy of the
/// environment never starts before the previous one ended, by the commands' own clocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_never_run_two_deploys_of_an_environment_at_once() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let key = database.dir.path().join("shared.key");
    let key_flag = key.display().to_string();
    let node = |name: &'static str| {
        let dir = database.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        (dir, name)
    };
    let (dir_a, _) = node("a");
    let (dir_b, _) = node("b");
    let mut server_a = ServerProcess::start_with(
        &database,
        &dir_a,
        &["--node-name", "a", "--secret-key-file", &key_flag],
    );
    server_a.wait_until_ready().await;
    let mut server_b = ServerProcess::start_with(
        &database,
        &dir_b,
        &["--node-name", "b", "--secret-key-file", &key_flag],
    );
    server_b.wait_until_ready().await;
    let token = admin_token(&database).await;
    let a = Client::new(&server_a.url, Some(token.clone()));
    let b = Client::new(&server_b.url, Some(token));
    let created = a
        .request(Method::POST, "/api/v1/projects")
        .json(&json!({
            "name": "app",
            "deploy_command": "echo \"start $(date +%s%N)\"; sleep 0.1; echo \"end $(date +%s%N)\"",
        }))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let created = a
        .request(Method::POST, "/api/v1/projects/app/environments")
        .json(&json!({"name": "production"}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());

    let posts: Vec<_> = (0..12)
        .map(|i| {
            let client = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { start_deploy(&client).await })
        })
        .collect();
    let mut ids = Vec::new();
    for post in posts {
        ids.push(post.await.unwrap());
    }
    let mut spans = Vec::new();
    for id in &ids {
        let deploy = wait_for_end(&a, id).await;
        let output = a.deploy_output(id, false).await.unwrap();
        assert_eq!(
            deploy.status,
            jeny_deploys::DeployStatus::Succeeded,
            "{output}"
        );
        let stamp = |word: &str| -> u128 {
            output
                .lines()
                .find_map(|line| line.strip_prefix(word))
                .unwrap_or_else(|| panic!("no {word:?} in {output}"))
                .trim()
                .parse()
                .unwrap()
        };
        spans.push((stamp("start "), stamp("end "), id.clone()));
    }
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[1].0 > pair[0].1,
            "deploys {} and {} overlapped",
            pair[0].2,
            pair[1].2
        );
    }
    let store = database.open().await;
    let nodes: Vec<String> =
        jeny_store::sqlx::query_scalar("SELECT DISTINCT runner_node FROM deploys ORDER BY 1")
            .fetch_all(store.reader())
            .await
            .unwrap();
    assert_eq!(
        nodes,
        vec!["a".to_owned(), "b".to_owned()],
        "both nodes should have claimed deploys"
    );
    store.close().await;
    server_a.assert_still_running();
    server_b.assert_still_running();
}

/// The database at `database`, reached through a fault proxy: the URL to give a server, and the
/// proxy.
async fn through_a_proxy(database: &TestDatabase) -> (String, FaultProxy) {
    let authority = authority_of(&database.url);
    let postgres = resolve(&database.url[authority.clone()]).await;
    let proxy = FaultProxy::start(postgres).await;
    let mut url = database.url.clone();
    url.replace_range(authority, &proxy.address.to_string());
    (url, proxy)
}

/// How node A loses its database.
#[derive(Debug, Clone, Copy)]
enum Loss {
    /// Connections hang: nothing crosses (a split network).
    Stalled,
    /// Connections are dropped and refused.
    Cut,
}

/// The deploy command of the fencing and clock tests: records `start <id> <ns>` in `marks` (and
/// `end <id> <ns>` when stopped with SIGTERM), then waits while the file `hold` exists.
fn marking_command(marks: &std::path::Path, hold: &std::path::Path) -> String {
    format!(
        "echo \"start $JENY_DEPLOY_ID $(date +%s%N)\" >> {marks}; \
         trap 'echo \"end $JENY_DEPLOY_ID $(date +%s%N)\" >> {marks}; exit 143' TERM; \
         while [ -e {hold} ]; do sleep 0.05; done",
        marks = marks.display(),
        hold = hold.display()
    )
}

/// The `(word, deploy id, nanoseconds)` lines of the marks file, in the order written.
fn marks_of(marks: &std::path::Path) -> Vec<(String, String, u128)> {
    std::fs::read_to_string(marks)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some((
                words.next()?.to_owned(),
                words.next()?.to_owned(),
                words.next()?.parse().ok()?,
            ))
        })
        .collect()
}

async fn wait_for_mark(marks: &std::path::Path, word: &str, id: &str) -> u128 {
    jeny_testkit::poll_until(&format!("the mark {word} {id}"), || {
        let found = marks_of(marks)
            .into_iter()
            .find(|(w, i, _)| w == word && i == id)
            .map(|(_, _, at)| at);
        async move { found }
    })
    .await
}

/// Project `app` with the marking command, and environment `production` with a 1 s grace.
async fn marking_project(client: &Client, marks: &std::path::Path, hold: &std::path::Path) {
    let created = client
        .request(Method::POST, "/api/v1/projects")
        .json(&json!({"name": "app", "deploy_command": marking_command(marks, hold)}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{created:?}");
    let created = client
        .request(Method::POST, "/api/v1/projects/app/environments")
        .json(&json!({"name": "production", "deploy_grace_secs": 1}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{created:?}");
}

/// Node A of a two-node test: a server named `a` on `database_url`, with a short lease, running
/// the first deploy of the marking project (held until the file `hold` is removed).
struct NodeA {
    server: ServerProcess,
    client: Client,
    token: String,
    marks: std::path::PathBuf,
    hold: std::path::PathBuf,
    first: String,
}

/// The flags of node `node` of a two-node test: one secret key, a 3 s lease.
fn node_flags(database: &TestDatabase, node: &str) -> Vec<String> {
    let key = database.dir.path().join("shared.key").display().to_string();
    // The commands write their marks beside the nodes' data folders.
    let marks = database.dir.path().display().to_string();
    ["--node-name", node, "--secret-key-file", &key]
        .into_iter()
        .chain(["--deploy-lease-secs", "3", "--log", "info"])
        .chain(["--deploy-writable-paths", &marks])
        .map(str::to_owned)
        .collect()
}

async fn node_a_running_a_deploy(database: &TestDatabase, database_url: &str) -> NodeA {
    let marks = database.dir.path().join("marks");
    let hold = database.dir.path().join("hold");
    std::fs::write(&hold, "").unwrap();
    let flags = node_flags(database, "a");
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut server =
        ServerProcess::start_on(database_url, &database.dir.path().join("a"), &flags, &[]);
    server.wait_until_ready().await;
    let token = admin_token(database).await;
    let client = Client::new(&server.url, Some(token.clone()));
    marking_project(&client, &marks, &hold).await;
    let first = start_deploy(&client).await;
    wait_for_mark(&marks, "start", &first).await;
    NodeA {
        server,
        client,
        token,
        marks,
        hold,
        first,
    }
}

/// Node B of a two-node test, on the database directly, with extra environment variables.
async fn start_node_b(
    database: &TestDatabase,
    token: &str,
    environment: &[(&str, &str)],
) -> (ServerProcess, Client) {
    let flags = node_flags(database, "b");
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut server = ServerProcess::start_on(
        &database.url,
        &database.dir.path().join("b"),
        &flags,
        environment,
    );
    server.wait_until_ready().await;
    let client = Client::new(&server.url, Some(token.to_owned()));
    (server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_by_a_split_network_stops_its_command_before_another_node_runs_the_next() {
    a_node_that_loses_the_database_stops_its_command_before_another_runs_the_next(Loss::Stalled)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refused_by_the_database_stops_its_command_before_another_node_runs_the_next() {
    a_node_that_loses_the_database_stops_its_command_before_another_runs_the_next(Loss::Cut).await;
}

/// Two servers on one PostgreSQL; node A reaches it through a proxy. A runs a deploy, then loses
/// the database. A's supervisor stops the command before its lease can expire; B then ends the
/// deploy `interrupted` and runs the next. The commands' own clocks prove they never overlapped.
async fn a_node_that_loses_the_database_stops_its_command_before_another_runs_the_next(loss: Loss) {
    let database = TestDatabase::create(Backend::Postgres).await;
    let (url_through_proxy, proxy) = through_a_proxy(&database).await;
    let NodeA {
        server: mut server_a,
        client: a,
        token,
        marks,
        hold: _,
        first,
    } = node_a_running_a_deploy(&database, &url_through_proxy).await;
    assert_eq!(
        a.get_deploy(&first).await.unwrap().node.as_deref(),
        Some("a")
    );
    let (mut server_b, b) = start_node_b(&database, &token, &[]).await;
    let second = start_deploy(&b).await;

    match loss {
        Loss::Stalled => proxy.stall(),
        Loss::Cut => proxy.cut(),
    }

    let interrupted = wait_for_end(&b, &first).await;
    assert_eq!(
        interrupted.status,
        jeny_deploys::DeployStatus::Interrupted,
        "{}",
        server_b.logs()
    );
    let next_started = wait_for_mark(&marks, "start", &second).await;
    let first_ended = marks_of(&marks)
        .into_iter()
        .find(|(word, id, _)| word == "end" && id == &first)
        .map(|(_, _, at)| at)
        .unwrap_or_else(|| {
            panic!(
                "the first deploy's command was not stopped before the next started: {:?}\n{}",
                marks_of(&marks),
                server_a.logs()
            )
        });
    assert!(
        first_ended < next_started,
        "node A's command ended at {first_ended}, after node B's started at {next_started}"
    );
    assert_eq!(
        b.get_deploy(&second).await.unwrap().node.as_deref(),
        Some("b")
    );

    // Node A comes back and carries on serving.
    proxy.restore();
    b.cancel_deploy(&second).await.unwrap();
    wait_for_end(&b, &second).await;
    jeny_testkit::poll_until("node A answers again", || {
        let a = a.clone();
        let first = first.clone();
        async move { a.get_deploy(&first).await.ok() }
    })
    .await;
    server_a.assert_still_running();
    server_b.assert_still_running();
}

/// Node B's clock is 30 s ahead. Leases and queue order follow the database's clock, so B
/// interrupts none of A's healthy deploys, and deploys queued alternately through A and B run in
/// the order they were queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_clock_is_off_interrupts_no_deploy_and_reorders_no_queue() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let NodeA {
        server: mut server_a,
        client: a,
        token,
        marks,
        hold,
        first,
    } = node_a_running_a_deploy(&database, &database.url).await;
    let (mut server_b, b) =
        start_node_b(&database, &token, &[("JENY_CLOCK_OFFSET_MS", "30000")]).await;

    // Deploys queued one after the other, alternately through B and A.
    let mut queued = Vec::new();
    for i in 0..6 {
        let client = if i % 2 == 0 { &b } else { &a };
        queued.push(start_deploy(client).await);
    }
    // The first deploy's lease is renewed several times over while B sweeps every half second.
    let store = database.open().await;
    let lease_of = |store: Store, id: String| async move {
        jeny_store::sqlx::query_scalar::<_, Option<i64>>(
            "SELECT lease_expires_at FROM deploys WHERE id = $1",
        )
        .bind(id)
        .fetch_one(store.reader())
        .await
        .unwrap()
    };
    let first_lease = lease_of(store.clone(), first.clone())
        .await
        .expect("the first deploy holds a lease");
    jeny_testkit::poll_until("the first deploy's lease is renewed for 6 s", || {
        let lease = lease_of(store.clone(), first.clone());
        async move {
            lease
                .await
                .filter(|at| *at > first_lease + 6_000_000)
                .map(|_| ())
        }
    })
    .await;
    assert_eq!(
        b.get_deploy(&first).await.unwrap().status,
        jeny_deploys::DeployStatus::Running,
        "node B interrupted a healthy deploy\n{}",
        server_b.logs()
    );

    std::fs::remove_file(&hold).unwrap();
    for id in std::iter::once(&first).chain(&queued) {
        let deploy = wait_for_end(&a, id).await;
        assert_eq!(
            deploy.status,
            jeny_deploys::DeployStatus::Succeeded,
            "{deploy:?}"
        );
    }
    let started: Vec<String> = marks_of(&marks)
        .into_iter()
        .filter(|(word, _, _)| word == "start")
        .map(|(_, id, _)| id)
        .collect();
    let expected: Vec<String> = std::iter::once(first).chain(queued).collect();
    assert_eq!(
        started, expected,
        "the deploys ran out of the order they were queued in"
    );
    store.close().await;
    server_a.assert_still_running();
    server_b.assert_still_running();
}
