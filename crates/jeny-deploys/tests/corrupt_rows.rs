//! A deploy row the code would not have written reads as `StoreError::Corrupt`, naming the
//! deploy and what is wrong, instead of being coerced into something plausible (an unknown
//! status is not `errored`, JSON that does not parse is not empty). NULL `hosts` and
//! `variables` are not corrupt: a queued deploy has none yet. Both backends.

mod common;

use common::links;
use jeny_deploys::DeployError;
use jeny_store::{Backend, Store, StoreError, both_backends, sqlx, testing::TestDatabase};

both_backends!(
    a_queued_deploy_without_hosts_or_variables_reads_as_empty,
    an_unknown_status_is_corrupt,
    hosts_that_do_not_parse_are_corrupt,
    variables_that_do_not_parse_are_corrupt,
    a_host_filter_of_the_wrong_shape_is_corrupt,
);

/// A project, an environment and one queued deploy of it; returns the deploy's id.
async fn queued_deploy(store: &Store) -> String {
    common::queued_deploy(
        store,
        serde_json::json!({"name": "app", "deploy_command": "true"}),
        serde_json::json!({"name": "production"}),
    )
    .await
}

/// Sets one column of the deploy's row to `value` behind the code's back.
async fn write_behind_the_code(store: &Store, id: &str, column: &str, value: &str) {
    let mut tx = store.begin().await.unwrap();
    sqlx::query(&format!("UPDATE deploys SET {column} = $2 WHERE id = $1"))
        .bind(id)
        .bind(value)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Reads the deploy and expects `Corrupt`, with a message naming the deploy and `what`.
async fn assert_corrupt(store: &Store, id: &str, what: &str) {
    let read = jeny_deploys::get_deploy(store, &links(), id).await;
    match read {
        Err(DeployError::Store(StoreError::Corrupt(message))) => {
            assert!(
                message.contains(&format!("deploy {id}")) && message.contains(what),
                "the message names the deploy and {what}: {message}"
            );
        }
        other => panic!("expected Corrupt naming {what}, got {other:?}"),
    }
}

async fn a_queued_deploy_without_hosts_or_variables_reads_as_empty(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let id = queued_deploy(&store).await;

    let deploy = jeny_deploys::get_deploy(&store, &links(), &id)
        .await
        .unwrap();

    assert!(deploy.hosts.is_empty());
    assert!(deploy.variables.is_empty());
    store.close().await;
}

async fn an_unknown_status_is_corrupt(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let id = queued_deploy(&store).await;
    write_behind_the_code(&store, &id, "status", "exploded").await;

    assert_corrupt(&store, &id, "unknown status \"exploded\"").await;
    store.close().await;
}

async fn hosts_that_do_not_parse_are_corrupt(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let id = queued_deploy(&store).await;
    write_behind_the_code(&store, &id, "hosts", "not json").await;

    assert_corrupt(&store, &id, "hosts").await;
    store.close().await;
}

async fn variables_that_do_not_parse_are_corrupt(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let id = queued_deploy(&store).await;
    write_behind_the_code(&store, &id, "variables", "[{\"key\": ").await;

    assert_corrupt(&store, &id, "variables").await;
    store.close().await;
}

async fn a_host_filter_of_the_wrong_shape_is_corrupt(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let id = queued_deploy(&store).await;
    write_behind_the_code(&store, &id, "host_filter", "[1, 2]").await;

    assert_corrupt(&store, &id, "host_filter").await;
    store.close().await;
}
