//! The deploy settings of an environment (grace period, hostless deploys, queue policy), on both
//! backends: their defaults, what is stored and read back, merge patches, and refused values.

use jeny_core::{DomainError, PageRequest, Precondition};
use jeny_http::{ApiError, MergePatch};
use jeny_projects::{
    Environment, EnvironmentInput, ProjectError, ProjectInput, QueuePolicy, create_environment,
    create_project, get_environment, list_environments, update_environment,
};
use jeny_store::testing::TestDatabase;
use jeny_store::{Backend, Store, both_backends};
use serde_json::{Value, json};

fn input<T: serde::de::DeserializeOwned>(body: Value) -> T {
    serde_json::from_value(body).expect("a valid request body")
}

fn merge_patch(body: Value) -> MergePatch {
    match body {
        Value::Object(fields) => MergePatch(fields),
        other => panic!("a merge patch is an object, not {other}"),
    }
}

async fn store_with_project(database: &TestDatabase) -> Store {
    let store = database.open().await;
    let project: ProjectInput = input(json!({"name": "web", "deploy_command": "make deploy"}));
    create_project(&store, "test", project).await.unwrap();
    store
}

/// The environment as stored, read through a new store so no cache answers.
async fn stored(database: &TestDatabase, name: &str) -> Environment {
    let fresh = database.open().await;
    let environment = get_environment(&fresh, "web", name).await.unwrap();
    fresh.close().await;
    environment
}

async fn patch(store: &Store, body: Value) -> Result<Environment, ApiError> {
    let patch = merge_patch(body);
    update_environment(
        store,
        "test",
        "web",
        "production",
        &Precondition::None,
        |current: EnvironmentInput| patch.apply(&current),
    )
    .await
}

async fn left_out_deploy_settings_take_their_defaults(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = store_with_project(&database).await;

    let created = create_environment(&store, "test", "web", input(json!({"name": "production"})))
        .await
        .unwrap();

    let read = stored(&database, "production").await;
    assert_eq!(read, created);
    assert_eq!(read.deploy_grace_secs, 10);
    assert!(!read.allow_hostless_deploys);
    assert_eq!(read.queue_policy, QueuePolicy::Fifo);
}

async fn deploy_settings_are_stored_and_read_back(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = store_with_project(&database).await;
    let wanted: EnvironmentInput = input(json!({
        "name": "production",
        "deploy_grace_secs": 0,
        "allow_hostless_deploys": true,
        "queue_policy": "newest_wins",
    }));

    let created = create_environment(&store, "test", "web", wanted.clone())
        .await
        .unwrap();

    let read = stored(&database, "production").await;
    assert_eq!(read, created);
    assert_eq!(
        (
            read.deploy_grace_secs,
            read.allow_hostless_deploys,
            read.queue_policy
        ),
        (0, true, QueuePolicy::NewestWins)
    );
    assert_eq!(
        read.to_input(),
        wanted,
        "to_input gives back what was written"
    );
    let listed = list_environments(&store, "web", &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(listed.items, [read]);
    let unchanged = update_environment(
        &store,
        "test",
        "web",
        "production",
        &Precondition::None,
        Ok::<_, ProjectError>,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            unchanged.deploy_grace_secs,
            unchanged.allow_hostless_deploys,
            unchanged.queue_policy
        ),
        (0, true, QueuePolicy::NewestWins),
        "an update that changes nothing keeps the settings"
    );
}

async fn each_deploy_setting_can_be_patched_alone(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = store_with_project(&database).await;
    let created = create_environment(
        &store,
        "test",
        "web",
        input(json!({"name": "production", "deploy_timeout_secs": 600})),
    )
    .await
    .unwrap();

    let grace = patch(&store, json!({"deploy_grace_secs": 3600}))
        .await
        .unwrap();
    assert_eq!(grace.deploy_grace_secs, 3600);
    assert!(!grace.allow_hostless_deploys);
    assert_eq!(grace.queue_policy, QueuePolicy::Fifo);

    let hostless = patch(&store, json!({"allow_hostless_deploys": true}))
        .await
        .unwrap();
    assert!(hostless.allow_hostless_deploys);
    assert_eq!(hostless.deploy_grace_secs, 3600, "kept from the last patch");

    let policy = patch(&store, json!({"queue_policy": "newest_wins"}))
        .await
        .unwrap();
    assert_eq!(policy.queue_policy, QueuePolicy::NewestWins);
    assert!(policy.allow_hostless_deploys);

    let read = stored(&database, "production").await;
    assert_eq!(read, policy);
    assert_eq!(read.deploy_timeout_secs, 600, "untouched by the patches");
    assert_eq!(read.version, created.version + 3);

    let reset = patch(
        &store,
        json!({"deploy_grace_secs": null, "queue_policy": null}),
    )
    .await
    .unwrap();
    assert_eq!(
        (reset.deploy_grace_secs, reset.queue_policy),
        (10, QueuePolicy::Fifo),
        "null takes the default back"
    );
}

async fn bad_deploy_settings_are_refused_and_change_nothing(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = store_with_project(&database).await;

    let too_long: EnvironmentInput = input(json!({"name": "staging", "deploy_grace_secs": 3601}));
    let refused = create_environment(&store, "test", "web", too_long)
        .await
        .unwrap_err();
    assert_eq!(refused.field().as_deref(), Some("deploy_grace_secs"));
    let page = list_environments(&store, "web", &PageRequest::first(50))
        .await
        .unwrap();
    assert!(page.items.is_empty(), "nothing was created");

    let created = create_environment(&store, "test", "web", input(json!({"name": "production"})))
        .await
        .unwrap();
    for (body, field) in [
        (json!({"deploy_grace_secs": 3601}), "deploy_grace_secs"),
        (json!({"deploy_grace_secs": -1}), "deploy_grace_secs"),
        (
            json!({"allow_hostless_deploys": "yes"}),
            "allow_hostless_deploys",
        ),
        (json!({"queue_policy": "lifo"}), "queue_policy"),
    ] {
        let refused = patch(&store, body.clone()).await.unwrap_err();
        assert_eq!(refused.field.as_deref(), Some(field), "{body}");
    }
    let read = stored(&database, "production").await;
    assert_eq!(read, created, "nothing changed");
}

both_backends!(
    left_out_deploy_settings_take_their_defaults,
    deploy_settings_are_stored_and_read_back,
    each_deploy_setting_can_be_patched_alone,
    bad_deploy_settings_are_refused_and_change_nothing,
);
