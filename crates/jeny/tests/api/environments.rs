//! Environments: per project, a host selector, overrides; and the hosts they target.

use crate::{environment, host, host_names, problem_of, project, status_of};
use jeny_testkit::{Backend, TestApp, both_backends};
use serde_json::json;

async fn environments_belong_to_their_project(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    client.create_project(&project("web")).await.unwrap();
    client.create_project(&project("api")).await.unwrap();
    let mut input = environment("production", &[("role", "web"), ("env", "production")]);
    input.deploy_command = Some("ansible-playbook site.yml".into());
    input.deploy_timeout_secs = 600;
    let created = client
        .create_environment("web", &input)
        .await
        .unwrap()
        .value;
    assert_eq!(created.project, "web");
    assert_eq!(
        created.deploy_command.as_deref(),
        Some("ansible-playbook site.yml")
    );
    assert_eq!(created.deploy_timeout_secs, 600);
    assert_eq!(
        created.host_selector.get("role").map(String::as_str),
        Some("web")
    );
    // The same name in another project is another environment.
    client
        .create_environment("api", &environment("production", &[]))
        .await
        .unwrap();
    assert_eq!(
        status_of(
            client
                .create_environment("web", &environment("production", &[]))
                .await
        ),
        409
    );
    let names: Vec<_> = client
        .list_environments("web", None, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["production"]);
    assert_eq!(
        status_of(
            client
                .create_environment("nope", &environment("staging", &[]))
                .await
        ),
        404
    );
    let missing = problem_of(client.get_environment("web", "staging").await);
    assert_eq!(missing.status, 404);
    assert!(missing.detail.contains("staging"), "{}", missing.detail);
}

async fn bad_environment_fields_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    client.create_project(&project("web")).await.unwrap();
    let mut zero_timeout = environment("staging", &[]);
    zero_timeout.deploy_timeout_secs = 0;
    assert_eq!(
        problem_of(client.create_environment("web", &zero_timeout).await)
            .field
            .as_deref(),
        Some("deploy_timeout_secs")
    );
    let bad_tag = environment("staging", &[("bad=key", "x")]);
    assert_eq!(
        status_of(client.create_environment("web", &bad_tag).await),
        422
    );
    assert_eq!(
        client
            .list_environments("web", None, None)
            .await
            .unwrap()
            .items
            .len(),
        0
    );
}

async fn an_environment_targets_exactly_the_hosts_its_selector_picks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    client.create_project(&project("web")).await.unwrap();
    client
        .create_environment(
            "web",
            &environment("production", &[("role", "web"), ("env", "production")]),
        )
        .await
        .unwrap();
    client
        .create_environment("web", &environment("everything", &[]))
        .await
        .unwrap();
    client
        .create_host(&host(
            "web-1",
            &[("role", "web"), ("env", "production"), ("az", "a")],
        ))
        .await
        .unwrap();
    client
        .create_host(&host(
            "web-2",
            &[("role", "web"), ("env", "production"), ("az", "b")],
        ))
        .await
        .unwrap();
    client
        .create_host(&host("web-staging", &[("role", "web"), ("env", "staging")]))
        .await
        .unwrap();
    client
        .create_host(&host("db-1", &[("role", "db"), ("env", "production")]))
        .await
        .unwrap();
    assert_eq!(
        host_names(
            client
                .environment_hosts("web", "production", None, None)
                .await
                .unwrap()
        ),
        ["web-1", "web-2"]
    );
    assert!(
        host_names(
            client
                .environment_hosts("web", "everything", None, None)
                .await
                .unwrap()
        )
        .is_empty(),
        "an empty selector targets nothing"
    );
    // Changing the selector or a host's tags changes the targets at once.
    client
        .patch_environment(
            "web",
            "production",
            &json!({"host_selector": {"az": "b"}}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        host_names(
            client
                .environment_hosts("web", "production", None, None)
                .await
                .unwrap()
        ),
        ["web-2"]
    );
    client
        .patch_host("web-1", &json!({"tags": {"az": "b"}}), None)
        .await
        .unwrap();
    assert_eq!(
        host_names(
            client
                .environment_hosts("web", "production", None, None)
                .await
                .unwrap()
        ),
        ["web-1", "web-2"]
    );
    let page = client
        .environment_hosts("web", "production", Some(1), None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.next_cursor.is_some());
}

async fn deleting_an_environment_keeps_the_project(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    client.create_project(&project("web")).await.unwrap();
    let created = client
        .create_environment("web", &environment("staging", &[]))
        .await
        .unwrap();
    let changed = client
        .patch_environment("web", "staging", &json!({"deploy_command": "make"}), None)
        .await
        .unwrap();
    assert_eq!(
        status_of(
            client
                .delete_environment("web", "staging", Some(&created.etag))
                .await
        ),
        412
    );
    client
        .delete_environment("web", "staging", Some(&changed.etag))
        .await
        .unwrap();
    assert_eq!(
        status_of(client.get_environment("web", "staging").await),
        404
    );
    client.get_project("web").await.unwrap();
}

async fn bad_deploy_settings_get_422_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    client.create_project(&project("web")).await.unwrap();
    let mut long_grace = environment("staging", &[]);
    long_grace.deploy_grace_secs = 3601;
    let refused = problem_of(client.create_environment("web", &long_grace).await);
    assert_eq!(
        (refused.status, refused.field.as_deref()),
        (422, Some("deploy_grace_secs"))
    );
    let created = client
        .create_environment("web", &environment("production", &[]))
        .await
        .unwrap();
    for (patch, field) in [
        (json!({"deploy_grace_secs": 3601}), "deploy_grace_secs"),
        (json!({"queue_policy": "lifo"}), "queue_policy"),
        (
            json!({"allow_hostless_deploys": "yes"}),
            "allow_hostless_deploys",
        ),
    ] {
        let refused = problem_of(
            client
                .patch_environment("web", "production", &patch, None)
                .await,
        );
        assert_eq!(
            (refused.status, refused.field.as_deref()),
            (422, Some(field)),
            "{patch}"
        );
    }
    let patched = client
        .patch_environment(
            "web",
            "production",
            &json!({"queue_policy": "newest_wins", "allow_hostless_deploys": true}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        patched.value.queue_policy,
        jeny_projects::QueuePolicy::NewestWins
    );
    assert!(patched.value.allow_hostless_deploys);
    assert_eq!(
        patched.value.deploy_grace_secs,
        created.value.deploy_grace_secs
    );
}

both_backends!(
    environments_belong_to_their_project,
    bad_environment_fields_are_refused,
    bad_deploy_settings_get_422_naming_the_field,
    an_environment_targets_exactly_the_hosts_its_selector_picks,
    deleting_an_environment_keeps_the_project,
);
