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

async fn repositories_of_other_git_transports_get_422_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    // `fd::17` hung a checkout; `ext::` runs a command; other schemes are off by default.
    let refused_repositories = [
        "fd::17",
        "ext::sh -c id",
        "EXT::sh",
        "hg::https://example.com/shop",
        "http://git.example.com/shop.git",
        "foo://example.com/shop.git",
    ];
    for repository in refused_repositories {
        let mut input = project("web");
        input.repository = Some(repository.to_owned());
        let refused = problem_of(client.create_project(&input).await);
        assert_eq!(
            (refused.status, refused.field.as_deref()),
            (422, Some("repository")),
            "{repository}"
        );
        assert!(
            refused.detail.contains("https, ssh, git, file"),
            "{repository}: {}",
            refused.detail
        );
    }
    assert_eq!(status_of(client.get_project("web").await), 404);
    for repository in [
        "https://github.com/example/shop.git",
        "ssh://git@github.com/example/shop.git",
        "git@github.com:example/shop.git",
        "git://git.example.com/shop.git",
        "/srv/git/shop.git",
    ] {
        let mut input = project(&format!("p{}", repository.len()));
        input.repository = Some(repository.to_owned());
        client
            .create_project(&input)
            .await
            .unwrap_or_else(|error| panic!("{repository}: {error}"));
    }
    let mut web = project("web");
    web.repository = Some("https://github.com/example/shop.git".to_owned());
    client.create_project(&web).await.unwrap();
    for repository in refused_repositories {
        let patched = problem_of(
            client
                .patch_project("web", &json!({"repository": repository}), None)
                .await,
        );
        assert_eq!(
            (patched.status, patched.field.as_deref()),
            (422, Some("repository"))
        );
        let mut replacement = project("web");
        replacement.repository = Some(repository.to_owned());
        let replaced = problem_of(client.replace_project("web", &replacement, None).await);
        assert_eq!(
            (replaced.status, replaced.field.as_deref()),
            (422, Some("repository"))
        );
    }
    assert_eq!(
        client
            .get_project("web")
            .await
            .unwrap()
            .value
            .repository
            .as_deref(),
        Some("https://github.com/example/shop.git"),
        "a refused change changed the project"
    );
}

async fn the_allowed_repository_schemes_are_a_setting(backend: Backend) {
    let database = jeny_testkit::TestDatabase::create(backend).await;
    let app = TestApp::spawn_on(database, |config| {
        config.repository_schemes =
            jeny_projects::RepositorySchemes::parse(&["https", "http"]).unwrap();
    })
    .await;
    let client = app.with_admin().await;
    let mut input = project("web");
    input.repository = Some("http://git.internal/shop.git".to_owned());
    client.create_project(&input).await.unwrap();
    for repository in ["/srv/git/shop.git", "git@github.com:example/shop.git"] {
        let refused = problem_of(
            client
                .patch_project("web", &json!({"repository": repository}), None)
                .await,
        );
        assert_eq!(
            (refused.status, refused.field.as_deref()),
            (422, Some("repository")),
            "{repository}"
        );
        assert!(
            refused.detail.contains("allowed: https, http"),
            "{}",
            refused.detail
        );
    }
}

async fn a_stored_repository_of_a_refused_transport_ends_its_deploy_at_once(backend: Backend) {
    // A repository stored before the check (or under a wider setting): the checkout refuses it
    // without running git, instead of hanging until the deploy's time runs out.
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    client.create_project(&project("web")).await.unwrap();
    let mut production = crate::environment("production", &[]);
    production.allow_hostless_deploys = true;
    production.deploy_timeout_secs = 600;
    client.create_environment("web", &production).await.unwrap();
    crate::exec_sql(
        &app,
        "UPDATE projects SET repository = 'fd::17' WHERE name = 'web'",
    )
    .await;
    let started = std::time::Instant::now();
    let deploy = client
        .create_deploy("web", "production", &Default::default())
        .await
        .unwrap();
    let finished = client.wait_for_deploy(&deploy.id).await.unwrap();
    assert_eq!(
        finished.status,
        jeny_deploys::DeployStatus::Errored,
        "{finished:?}"
    );
    assert!(
        finished
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("\"fd\" is not allowed"),
        "{finished:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the refused checkout took {:?}",
        started.elapsed()
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
    repositories_of_other_git_transports_get_422_naming_the_field,
    the_allowed_repository_schemes_are_a_setting,
    a_stored_repository_of_a_refused_transport_ends_its_deploy_at_once,
);
