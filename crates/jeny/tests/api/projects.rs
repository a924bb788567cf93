//! Projects: create, read, list with cursors, replace, patch, delete, concurrency.

use crate::{problem_of, project, status_of};
use jeny_testkit::{Backend, TestApp, both_backends};
use serde_json::json;

async fn a_created_project_can_be_read_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    let created = client.create_project(&project("web")).await.unwrap();
    assert_eq!(created.value.name, "web");
    assert_eq!(created.value.title, "web", "the title defaults to the name");
    assert!(!created.etag.is_empty());
    let read = client.get_project("web").await.unwrap();
    assert_eq!(read.value, created.value);
    assert_eq!(read.etag, created.etag);
}

async fn duplicate_and_invalid_names_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    client.create_project(&project("web")).await.unwrap();
    let duplicate = problem_of(client.create_project(&project("web")).await);
    assert_eq!(
        (
            duplicate.status,
            duplicate.code.as_str(),
            duplicate.field.as_deref()
        ),
        (409, "conflict", Some("name"))
    );
    for bad in ["Web", "-web", "we_b", "", &"a".repeat(64)] {
        let refused = problem_of(client.create_project(&project(bad)).await);
        assert_eq!(refused.status, 422, "{bad:?}");
        assert_eq!(refused.field.as_deref(), Some("name"), "{bad:?}");
    }
    let page = client.list_projects(None, None).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

async fn lists_paginate_with_a_cursor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    for n in 0..7 {
        client
            .create_project(&project(&format!("p{n}")))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client
            .list_projects(Some(3), cursor.as_deref())
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|p| p.name));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, (0..7).map(|n| format!("p{n}")).collect::<Vec<_>>());
    assert_eq!(status_of(client.list_projects(Some(0), None).await), 422);
    assert_eq!(status_of(client.list_projects(Some(501), None).await), 422);
    assert_eq!(
        status_of(client.list_projects(None, Some("not a cursor!")).await),
        422
    );
}

async fn put_replaces_and_patch_merges(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    let mut input = project("web");
    input.description = "the shop".into();
    input.repository = Some("https://example.com/web.git".into());
    let created = client.create_project(&input).await.unwrap();

    let patched = client
        .patch_project(
            "web",
            &json!({"title": "Web shop", "repository": null}),
            Some(&created.etag),
        )
        .await
        .unwrap();
    assert_eq!(patched.value.title, "Web shop");
    assert_eq!(
        patched.value.description, "the shop",
        "untouched by the patch"
    );
    assert_eq!(patched.value.repository, None, "null removes");
    assert_ne!(patched.etag, created.etag);

    let mut replacement = project("web");
    replacement.deploy_command = "make deploy".into();
    let replaced = client
        .replace_project("web", &replacement, None)
        .await
        .unwrap();
    assert_eq!(replaced.value.deploy_command, "make deploy");
    assert_eq!(
        replaced.value.description, "",
        "PUT resets what it leaves out"
    );
    assert_eq!(replaced.value.created_at, created.value.created_at);
}

async fn a_stale_if_match_gets_412_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    let created = client.create_project(&project("web")).await.unwrap();
    let first_editor = client
        .patch_project("web", &json!({"title": "one"}), Some(&created.etag))
        .await
        .unwrap();
    let stale = problem_of(
        client
            .patch_project("web", &json!({"title": "two"}), Some(&created.etag))
            .await,
    );
    assert_eq!(
        (stale.status, stale.code.as_str()),
        (412, "precondition_failed")
    );
    assert_eq!(
        status_of(
            client
                .replace_project("web", &project("web"), Some(&created.etag))
                .await
        ),
        412
    );
    assert_eq!(
        status_of(client.delete_project("web", Some(&created.etag)).await),
        412
    );
    let current = client.get_project("web").await.unwrap();
    assert_eq!(current.value.title, "one");
    assert_eq!(current.etag, first_editor.etag);
    client
        .patch_project("web", &json!({"title": "two"}), Some("*"))
        .await
        .unwrap();
}

async fn names_cannot_change_and_unknown_fields_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    client.create_project(&project("web")).await.unwrap();
    let rename = problem_of(
        client
            .patch_project("web", &json!({"name": "shop"}), None)
            .await,
    );
    assert_eq!(
        (rename.status, rename.field.as_deref()),
        (422, Some("name"))
    );
    let unknown = problem_of(
        client
            .patch_project("web", &json!({"colour": "red"}), None)
            .await,
    );
    assert_eq!(unknown.status, 422);
    assert!(unknown.detail.contains("colour"), "{}", unknown.detail);
    let wrong_type = problem_of(
        client
            .patch_project("web", &json!({"title": 5}), None)
            .await,
    );
    assert_eq!(
        (wrong_type.status, wrong_type.field.as_deref()),
        (422, Some("title"))
    );
    assert_eq!(client.get_project("web").await.unwrap().value.title, "web");
}

async fn deleting_a_project_removes_its_environments_and_variables(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    client.create_project(&project("web")).await.unwrap();
    client
        .create_environment("web", &crate::environment("production", &[("role", "web")]))
        .await
        .unwrap();
    let scope = jeny_testkit::VariableScope::Environment("web", "production");
    client
        .put_variable(scope, "A", &crate::variable("A", Some("1"), false), None)
        .await
        .unwrap();
    client.delete_project("web", None).await.unwrap();
    assert_eq!(status_of(client.get_project("web").await), 404);
    // Recreating the name starts empty: nothing of the old project survived.
    client.create_project(&project("web")).await.unwrap();
    assert_eq!(
        status_of(client.get_environment("web", "production").await),
        404
    );
    for table in ["environments", "variables"] {
        let count: i64 = jeny_store::sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(app.store.reader())
            .await
            .unwrap();
        assert_eq!(count, 0, "{table} left behind");
    }
    assert_eq!(status_of(client.delete_project("nope", None).await), 404);
}

async fn concurrent_patches_all_apply(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    client.create_environment_prereq().await;
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .patch_environment(
                        "web",
                        "production",
                        &json!({"host_selector": {format!("k{n}"): "v"}}),
                        None,
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let environment = client.get_environment("web", "production").await.unwrap();
    assert_eq!(
        environment.value.host_selector.len(),
        10,
        "a concurrent patch was lost: {:?}",
        environment.value.host_selector
    );
}

trait Prereq {
    async fn create_environment_prereq(&self);
}

impl Prereq for jeny_testkit::Client {
    async fn create_environment_prereq(&self) {
        self.create_project(&project("web")).await.unwrap();
        self.create_environment("web", &crate::environment("production", &[]))
            .await
            .unwrap();
    }
}

async fn bad_retention_settings_get_422_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    let mut zero_days = project("web");
    zero_days.output_retention_days = Some(0);
    let refused = problem_of(client.create_project(&zero_days).await);
    assert_eq!(
        (refused.status, refused.field.as_deref()),
        (422, Some("output_retention_days"))
    );
    client.create_project(&project("web")).await.unwrap();
    for (patch, field) in [
        (
            json!({"output_retention_days": 3651}),
            "output_retention_days",
        ),
        (
            json!({"output_retention_bytes": 1024}),
            "output_retention_bytes",
        ),
    ] {
        let refused = problem_of(client.patch_project("web", &patch, None).await);
        assert_eq!(
            (refused.status, refused.field.as_deref()),
            (422, Some(field)),
            "{patch}"
        );
    }
    let patched = client
        .patch_project(
            "web",
            &json!({"output_retention_days": 30, "output_retention_bytes": 1048576}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            patched.value.output_retention_days,
            patched.value.output_retention_bytes
        ),
        (Some(30), Some(1048576))
    );
    let cleared = client
        .patch_project("web", &json!({"output_retention_days": null}), None)
        .await
        .unwrap();
    assert_eq!(
        (
            cleared.value.output_retention_days,
            cleared.value.output_retention_bytes
        ),
        (None, Some(1048576))
    );
}

both_backends!(
    a_created_project_can_be_read_back,
    bad_retention_settings_get_422_naming_the_field,
    duplicate_and_invalid_names_are_refused_and_change_nothing,
    lists_paginate_with_a_cursor,
    put_replaces_and_patch_merges,
    a_stale_if_match_gets_412_and_changes_nothing,
    names_cannot_change_and_unknown_fields_are_refused,
    deleting_a_project_removes_its_environments_and_variables,
    concurrent_patches_all_apply,
);
