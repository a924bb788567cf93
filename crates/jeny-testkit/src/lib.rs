//! Test harness: `TestApp::spawn(backend)` boots the real server in-process on a random port with
//! a fresh database (a temporary SQLite file, or a new PostgreSQL schema) and hands out clients
//! for each role, driven through the real `jeny-client`. Tests use `both_backends!` to run once
//! per backend.

mod aws;
mod browser;
pub mod influxdb;
mod oidc;
mod proxy;
pub mod slack;

pub use aws::Moto;
pub use browser::{Browser, Page};
pub use jeny_client::{Client, ClientError, Problem, Tagged, VariableScope};
pub use jeny_store::testing::{TestDatabase, postgres_url};
pub use jeny_store::{Backend, Store, both_backends};
pub use oidc::OidcProvider;
pub use proxy::FaultProxy;
pub use slack::SlackFake;

use jeny_auth::Email;
use jeny_core::Role;
use jeny_server::Config;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The user test servers run deploys as: the test's own (root on CI, named so that it is
/// allowed: `JENY_DEPLOY_USER` for a server started as a process).
pub fn deploy_user() -> String {
    jeny_deploys::sandbox::own_user_name().expect("the test's own user has no name")
}

/// How long `poll_until` waits before it fails the test, and how often it looks.
pub const POLL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(25);

/// Waits for a condition: calls `attempt` until it yields a value, and fails the test naming
/// `condition` once `POLL_DEADLINE` has passed. The one deadline loop of the tests: no test
/// sleeps to let time pass.
pub async fn poll_until<T, Attempt, Pending>(condition: &str, mut attempt: Attempt) -> T
where
    Attempt: FnMut() -> Pending,
    Pending: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + POLL_DEADLINE;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited {POLL_DEADLINE:?} for this and it did not happen: {condition}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The live processes of this machine whose environment names the deploy `id`
/// (`JENY_DEPLOY_ID`): its command and what it started, found from outside its sandbox, where
/// the pids it sees itself mean nothing. A zombie is gone: it only waits to be reaped.
pub fn processes_of_deploy(id: &str) -> Vec<u32> {
    let marker = format!("JENY_DEPLOY_ID={id}");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            !status.is_empty()
                && !status.contains("State:\tZ")
                && environ
                    .split(|byte| *byte == 0)
                    .any(|variable| variable == marker.as_bytes())
        })
        .collect()
}

/// The `jeny` binary next to the running test executable (`target/<profile>/deps/<test>` runs,
/// `target/<profile>/jeny` is built by cargo for a package's integration tests): deploys need it
/// to start their supervisors.
pub fn jeny_program() -> std::path::PathBuf {
    let test_executable = std::env::current_exe().expect("the test executable has a path");
    let profile_dir = test_executable
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a test executable runs from target/<profile>/deps");
    profile_dir.join("jeny")
}

/// A program installed by a `tests/peers/*/setup` script under the peers folder
/// (`$JENY_PEERS_DIR`, by default `~/.cache/jeny/peers`); the test stops with the script to run
/// when it is missing.
pub(crate) fn peer_program(relative: &str, setup: &str) -> std::path::PathBuf {
    let peers = std::env::var_os("JENY_PEERS_DIR").map_or_else(
        || {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/jeny/peers")
        },
        std::path::PathBuf::from,
    );
    let program = peers.join(relative);
    assert!(
        program.exists(),
        "a peer of the tests is missing: run {setup} ({} not found)",
        program.display()
    );
    program
}

/// A file of this checkout by its path from the workspace's root: found above the running test's
/// package folder, which cargo gives at run time (a path compiled in would point at whichever
/// checkout built a binary that a shared build cache reuses).
pub(crate) fn workspace_file(relative: &str) -> std::path::PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        Into::into,
    );
    start
        .ancestors()
        .map(|folder| folder.join(relative))
        .find(|candidate| candidate.exists())
        .unwrap_or_else(|| panic!("{relative} is not above {}", start.display()))
}

/// A free TCP port on loopback, for a peer started as its own process.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A running jeny with its own database.
pub struct TestApp {
    pub backend: Backend,
    pub address: SocketAddr,
    pub url: String,
    pub config: Config,
    /// The app's store, for assertions that look beneath the API.
    pub store: Store,
    pub database: TestDatabase,
    /// The auth part, for what the console does (sign-in links).
    pub auth: std::sync::Arc<jeny_auth::AuthService>,
    /// The metrics part, for assertions on stored points.
    pub metrics: jeny_metrics::Metrics,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        let database = TestDatabase::create(backend).await;
        TestApp::spawn_on(database, |_| {}).await
    }

    /// Boots on an existing database, with the configuration adjusted by `configure`.
    pub async fn spawn_on(database: TestDatabase, configure: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = Config {
            data_dir: database.dir.path().to_path_buf(),
            database_url: Some(database.url.clone()),
            node_name: format!("test-{}", jeny_core::new_id()),
            supervisor_program: Some(jeny_program()),
            deploy_lease_secs: 3,
            deploy_user: Some(deploy_user()),
            // the metrics tests write at fixed times (InfluxQL's examples at the epoch), as to an
            // InfluxDB's `autogen` policy: kept forever unless a test sets a retention
            metrics_retention_raw_days: 0,
            metrics_retention_5m_days: 0,
            ..Config::default()
        };
        configure(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind a test port");
        let shutdown = CancellationToken::new();
        let running = jeny_server::launch_with_listener(listener, &config, shutdown.clone())
            .await
            .unwrap_or_else(|error| panic!("the test server did not start: {error:#}"));
        TestApp {
            backend: database.backend,
            address: running.address,
            url: format!("http://{}", running.address),
            config,
            store: running.store,
            auth: running.auth,
            metrics: running.metrics,
            database,
            shutdown,
            task: running.task,
        }
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.url, None)
    }

    pub async fn with_admin(&self) -> Client {
        self.client_for("admin@example.com", Role::Admin).await
    }

    pub async fn with_deployer(&self) -> Client {
        self.client_for("deployer@example.com", Role::Deployer)
            .await
    }

    pub async fn with_viewer(&self) -> Client {
        self.client_for("viewer@example.com", Role::Viewer).await
    }

    /// A client with a fresh token for `email` in `role`.
    pub async fn client_for(&self, email: &str, role: Role) -> Client {
        Client::new(&self.url, Some(self.token_for(email, role).await))
    }

    pub async fn token_for(&self, email: &str, role: Role) -> String {
        let email = Email::parse(email).expect("a valid test email");
        let issued = jeny_auth::issue_token(&self.store, &email, role, "test", "jeny-testkit")
            .await
            .expect("cannot issue a test token");
        issued.token.expose().clone()
    }

    /// A browser signed in as `admin_email` (admin@localhost unless configured) with a
    /// one-time console link, as the operator of a fresh install does.
    pub async fn admin_browser(&self) -> Browser {
        let link = self
            .auth
            .create_signin_link()
            .await
            .expect("cannot create a sign-in link");
        let mut browser = Browser::new(&self.url);
        let page = browser.get(&format!("/auth/link/{}", link.expose())).await;
        assert_eq!(page.status, 303, "the link signs in: {}", page.body);
        browser
    }

    /// Stops the server gracefully, keeping the database for a restart.
    pub async fn stop(self) -> TestDatabase {
        self.shutdown.cancel();
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => panic!("the test server failed: {error:#}"),
            Err(error) => panic!("the test server panicked: {error}"),
        }
        self.database
    }
}
