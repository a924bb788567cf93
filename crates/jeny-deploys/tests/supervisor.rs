//! The supervisor checks its lease before anything runs: one whose token no longer holds the
//! deploy (started late, after the deploy was ended or claimed again) runs nothing and changes
//! nothing. Both backends.

mod common;

use jeny_deploys::{Sandbox, SupervisorSpec, supervise};
use jeny_store::{Backend, Store, both_backends, sqlx, testing::TestDatabase};
use std::collections::BTreeMap;

both_backends!(
    a_supervisor_without_the_lease_runs_nothing,
    a_repository_urls_credentials_never_show_in_the_output,
    a_hung_checkout_ends_the_deploy_at_its_timeout,
);

async fn running_deploy(store: &Store, lease_token: &str) -> String {
    let id = common::queued_deploy(
        store,
        serde_json::json!({"name": "app", "deploy_command": "true"}),
        serde_json::json!({"name": "production"}),
    )
    .await;
    // As a dispatcher's claim leaves it: running, with a lease held by `lease_token`.
    let mut tx = store.begin().await.unwrap();
    sqlx::query(&format!(
        "UPDATE deploys SET status = 'running', started_at = {now}, runner_node = 'a', \
         lease_token = $2, lease_expires_at = {now} + 60000000 WHERE id = $1",
        now = tx.now_sql()
    ))
    .bind(&id)
    .bind(lease_token)
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

fn spec(
    database: &TestDatabase,
    deploy_id: &str,
    lease_token: &str,
    repository: Option<&str>,
    command: &str,
    timeout_ms: u64,
) -> SupervisorSpec {
    let mut environment = BTreeMap::new();
    environment.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_default());
    SupervisorSpec {
        database_url: database.url.clone(),
        deploy_id: deploy_id.to_owned(),
        lease_token: lease_token.to_owned(),
        lease_ttl_ms: 3000,
        work_dir: database.dir.path().join("work"),
        mirrors_dir: database.dir.path().join("mirrors"),
        project: "app".to_owned(),
        repository: repository.map(str::to_owned),
        git_ref: None,
        shell: "sh".to_owned(),
        command: command.to_owned(),
        environment,
        secrets: Vec::new(),
        inventory: String::new(),
        repository_schemes: Vec::new(),
        timeout_ms,
        grace_ms: 1000,
        output_cap_bytes: 1 << 20,
        notes: Vec::new(),
        // As the server makes it: the data folder hidden, the command as this process's user.
        sandbox: Sandbox::new(None, vec![database.dir.path().to_path_buf()], Vec::new()),
    }
}

/// The deploy's whole output and its status and reason.
async fn ended(store: &Store, id: &str) -> (String, String, Option<String>) {
    let batches = jeny_deploys::output::read_after(store, id, 0, i64::MAX)
        .await
        .unwrap();
    let text: Vec<u8> = batches
        .iter()
        .flat_map(|batch| batch.chunks.iter().flat_map(|chunk| chunk.bytes.clone()))
        .collect();
    let (status, reason): (String, Option<String>) =
        sqlx::query_as("SELECT status, reason FROM deploys WHERE id = $1")
            .bind(id)
            .fetch_one(store.reader())
            .await
            .unwrap();
    (String::from_utf8_lossy(&text).into_owned(), status, reason)
}

async fn a_repository_urls_credentials_never_show_in_the_output(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let deploy_id = running_deploy(&store, "lease").await;
    // Nothing listens on port 1: git fails at once, and prints the URL it tried.
    let repository = "http://deployer:s3cr3t-token-value@127.0.0.1:1/app.git";

    supervise(spec(
        &database,
        &deploy_id,
        "lease",
        Some(repository),
        "true",
        60_000,
    ))
    .await
    .unwrap();

    let (output, status, reason) = ended(&store, &deploy_id).await;
    assert_eq!(status, "errored", "{output}");
    assert!(output.contains("127.0.0.1:1/app.git"), "{output}");
    assert!(!output.contains("s3cr3t-token-value"), "{output}");
    assert!(!reason.unwrap_or_default().contains("s3cr3t-token-value"));
    store.close().await;
}

async fn a_hung_checkout_ends_the_deploy_at_its_timeout(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let deploy_id = running_deploy(&store, "lease").await;
    // A server that accepts and never answers: the clone hangs.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let repository = format!("http://{}/app.git", listener.local_addr().unwrap());
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    // Outside the data folder the sandbox hides, and writable: the touch would show if it ran.
    let outside = tempfile::tempdir().unwrap();
    let ran = outside.path().join("ran");
    let mut spec = spec(
        &database,
        &deploy_id,
        "lease",
        Some(&repository),
        &format!("touch {}", ran.display()),
        1500,
    );
    // The hanging server speaks plain http, which a server allows only when told to.
    spec.repository_schemes = vec!["http".to_owned()];
    spec.sandbox.writable.push(outside.path().to_path_buf());

    supervise(spec).await.unwrap();

    let (output, status, _) = ended(&store, &deploy_id).await;
    assert_eq!(status, "timed_out", "{output}");
    assert!(
        !ran.exists(),
        "the command ran after a checkout that never finished"
    );
    store.close().await;
}

async fn a_supervisor_without_the_lease_runs_nothing(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let deploy_id = running_deploy(&store, "the-current-lease").await;
    // Outside the data folder the sandbox hides, and writable: the touch would show if it ran.
    let outside = tempfile::tempdir().unwrap();
    let ran = outside.path().join("ran");
    let mut sandbox = Sandbox::new(None, vec![database.dir.path().to_path_buf()], Vec::new());
    sandbox.writable.push(outside.path().to_path_buf());

    supervise(SupervisorSpec {
        lease_token: "an-old-lease".to_owned(),
        sandbox,
        ..spec(
            &database,
            &deploy_id,
            "unused",
            None,
            &format!("touch {}", ran.display()),
            60_000,
        )
    })
    .await
    .unwrap();

    assert!(!ran.exists(), "the command ran without the lease");
    let (status, pid, output): (String, Option<i64>, i64) = sqlx::query_as(
        "SELECT status, supervisor_pid, (SELECT COUNT(*) FROM deploy_output o WHERE o.deploy_id = d.id) \
         FROM deploys d WHERE id = $1",
    )
    .bind(&deploy_id)
    .fetch_one(store.reader())
    .await
    .unwrap();
    assert_eq!(status, "running", "the deploy of another lease was ended");
    assert_eq!(
        pid, None,
        "the supervisor recorded itself on a deploy it does not hold"
    );
    assert_eq!(
        output, 0,
        "the supervisor stored output for a deploy it does not hold"
    );
    store.close().await;
}
