//! The output retention settings of a project (by age and by size), on both backends: their
//! defaults, what is stored and read back, merge patches (null clears), and refused values.

use jeny_core::{DomainError, PageRequest, Precondition};
use jeny_http::{ApiError, MergePatch};
use jeny_projects::{
    Project, ProjectError, ProjectInput, create_project, get_project, list_projects, update_project,
};
use jeny_store::testing::TestDatabase;
use jeny_store::{Backend, Store, both_backends};
use serde_json::{Value, json};

const MIB: u64 = 1024 * 1024;

fn input(body: Value) -> ProjectInput {
    serde_json::from_value(body).expect("a valid request body")
}

/// The project as stored, read through a new store so no cache answers.
async fn stored(database: &TestDatabase) -> Project {
    let fresh = database.open().await;
    let project = get_project(&fresh, "web").await.unwrap();
    fresh.close().await;
    project
}

async fn patch(store: &Store, body: Value) -> Result<Project, ApiError> {
    let Value::Object(fields) = body else {
        panic!("a merge patch is an object");
    };
    let patch = MergePatch(fields);
    update_project(
        store,
        "test",
        "web",
        &Precondition::None,
        |current: ProjectInput| patch.apply(&current),
    )
    .await
}

async fn output_is_kept_forever_unless_asked(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;

    let created = create_project(&store, "test", input(json!({"name": "web"})))
        .await
        .unwrap();

    let read = stored(&database).await;
    assert_eq!(read, created);
    assert_eq!(read.output_retention_days, None);
    assert_eq!(read.output_retention_bytes, None);
}

async fn retention_settings_are_stored_and_read_back(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let largest = u64::try_from(i64::MAX).unwrap();
    let wanted = input(json!({
        "name": "web",
        "title": "web",
        "output_retention_days": 3650,
        "output_retention_bytes": largest,
    }));

    let created = create_project(&store, "test", wanted.clone())
        .await
        .unwrap();

    let read = stored(&database).await;
    assert_eq!(read, created);
    assert_eq!(
        (read.output_retention_days, read.output_retention_bytes),
        (Some(3650), Some(largest))
    );
    assert_eq!(
        read.to_input(),
        wanted,
        "to_input gives back what was written"
    );
    let listed = list_projects(&store, &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(listed.items, [read]);
    let unchanged = update_project(
        &store,
        "test",
        "web",
        &Precondition::None,
        Ok::<_, ProjectError>,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            unchanged.output_retention_days,
            unchanged.output_retention_bytes
        ),
        (Some(3650), Some(largest)),
        "an update that changes nothing keeps the settings"
    );
}

async fn each_retention_setting_can_be_patched_and_cleared(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    create_project(
        &store,
        "test",
        input(json!({"name": "web", "description": "the shop"})),
    )
    .await
    .unwrap();

    let days = patch(&store, json!({"output_retention_days": 30}))
        .await
        .unwrap();
    assert_eq!(
        (days.output_retention_days, days.output_retention_bytes),
        (Some(30), None)
    );

    let bytes = patch(&store, json!({"output_retention_bytes": MIB}))
        .await
        .unwrap();
    assert_eq!(
        (bytes.output_retention_days, bytes.output_retention_bytes),
        (Some(30), Some(MIB))
    );
    assert_eq!(stored(&database).await, bytes);

    let days_cleared = patch(&store, json!({"output_retention_days": null}))
        .await
        .unwrap();
    assert_eq!(
        (
            days_cleared.output_retention_days,
            days_cleared.output_retention_bytes
        ),
        (None, Some(MIB)),
        "null clears only the field it names"
    );

    let bytes_cleared = patch(&store, json!({"output_retention_bytes": null}))
        .await
        .unwrap();
    let read = stored(&database).await;
    assert_eq!(read, bytes_cleared);
    assert_eq!(
        (read.output_retention_days, read.output_retention_bytes),
        (None, None)
    );
    assert_eq!(read.description, "the shop", "untouched by the patches");
}

async fn bad_retention_settings_are_refused_and_change_nothing(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    for (body, field) in [
        (
            json!({"name": "web", "output_retention_days": 0}),
            "output_retention_days",
        ),
        (
            json!({"name": "web", "output_retention_bytes": MIB - 1}),
            "output_retention_bytes",
        ),
    ] {
        let refused = create_project(&store, "test", input(body.clone()))
            .await
            .unwrap_err();
        assert_eq!(refused.field().as_deref(), Some(field), "{body}");
    }
    let page = list_projects(&store, &PageRequest::first(50))
        .await
        .unwrap();
    assert!(page.items.is_empty(), "nothing was created");

    let created = create_project(
        &store,
        "test",
        input(json!({"name": "web", "output_retention_days": 7, "output_retention_bytes": MIB})),
    )
    .await
    .unwrap();
    let too_large = u64::try_from(i64::MAX).unwrap() + 1;
    for (body, field) in [
        (json!({"output_retention_days": 0}), "output_retention_days"),
        (
            json!({"output_retention_days": 3651}),
            "output_retention_days",
        ),
        (
            json!({"output_retention_days": -1}),
            "output_retention_days",
        ),
        (
            json!({"output_retention_bytes": 0}),
            "output_retention_bytes",
        ),
        (
            json!({"output_retention_bytes": too_large}),
            "output_retention_bytes",
        ),
        (
            json!({"output_retention_bytes": "1G"}),
            "output_retention_bytes",
        ),
    ] {
        let refused = patch(&store, body.clone()).await.unwrap_err();
        assert_eq!(refused.field.as_deref(), Some(field), "{body}");
    }
    assert_eq!(stored(&database).await, created, "nothing changed");
}

both_backends!(
    output_is_kept_forever_unless_asked,
    retention_settings_are_stored_and_read_back,
    each_retention_setting_can_be_patched_and_cleared,
    bad_retention_settings_are_refused_and_change_nothing,
);
