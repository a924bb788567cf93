//! Variables: plain and secret, on projects and environments. Secrets never come back out.

use crate::{environment, problem_of, project, status_of, variable};
use jeny_testkit::{Backend, TestApp, VariableScope, both_backends};
use serde_json::json;

const SECRET: &str = "s3cr3t-value-\u{e9}";

async fn prepared(backend: Backend) -> (TestApp, jeny_testkit::Client) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_deployer().await;
    client.create_project(&project("web")).await.unwrap();
    client
        .create_environment("web", &environment("production", &[]))
        .await
        .unwrap();
    (app, client)
}

async fn plain_variables_read_back_per_scope(backend: Backend) {
    let (_app, client) = prepared(backend).await;
    let project_scope = VariableScope::Project("web");
    let environment_scope = VariableScope::Environment("web", "production");
    let created = client
        .create_variable(project_scope, &variable("LOG_LEVEL", Some("info"), false))
        .await
        .unwrap()
        .value;
    assert_eq!(
        (created.value.as_deref(), created.secret, created.is_set),
        (Some("info"), false, true)
    );
    client
        .put_variable(
            environment_scope,
            "LOG_LEVEL",
            &variable("LOG_LEVEL", Some("warn"), false),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        client
            .get_variable(project_scope, "LOG_LEVEL")
            .await
            .unwrap()
            .value
            .value
            .as_deref(),
        Some("info")
    );
    assert_eq!(
        client
            .get_variable(environment_scope, "LOG_LEVEL")
            .await
            .unwrap()
            .value
            .value
            .as_deref(),
        Some("warn")
    );
    assert_eq!(
        status_of(
            client
                .create_variable(project_scope, &variable("LOG_LEVEL", Some("x"), false))
                .await
        ),
        409
    );
    let empty = client
        .put_variable(
            project_scope,
            "EMPTY",
            &variable("EMPTY", Some(""), false),
            None,
        )
        .await
        .unwrap()
        .value;
    assert_eq!(empty.value.as_deref(), Some(""));
    let keys: Vec<_> = client
        .list_variables(project_scope, None, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|v| v.key)
        .collect();
    assert_eq!(keys, ["EMPTY", "LOG_LEVEL"]);
    client
        .delete_variable(project_scope, "EMPTY", None)
        .await
        .unwrap();
    assert_eq!(
        status_of(client.get_variable(project_scope, "EMPTY").await),
        404
    );
    assert_eq!(
        status_of(
            client
                .get_variable(VariableScope::Environment("web", "staging"), "X")
                .await
        ),
        404
    );
}

async fn a_secret_is_never_returned_nor_stored_in_clear(backend: Backend) {
    let (app, client) = prepared(backend).await;
    let scope = VariableScope::Environment("web", "production");
    let created = client
        .put_variable(
            scope,
            "DB_PASSWORD",
            &variable("DB_PASSWORD", Some(SECRET), true),
            None,
        )
        .await
        .unwrap()
        .value;
    assert_eq!(
        (created.value, created.secret, created.is_set),
        (None, true, true)
    );
    // Every way of reading it hides the value.
    let read = client.get_variable(scope, "DB_PASSWORD").await.unwrap();
    assert_eq!(read.value.value, None);
    let raw_list = client
        .request(
            reqwest::Method::GET,
            "/api/v1/projects/web/environments/production/variables",
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!raw_list.contains(SECRET), "{raw_list}");
    let events = client
        .request(reqwest::Method::GET, "/api/v1/events?limit=500")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !events.contains(SECRET),
        "a secret leaked into the event log"
    );
    // The database holds ciphertext only.
    let rows = jeny_store::sqlx::query(
        "SELECT value, sealed_value FROM variables WHERE key = 'DB_PASSWORD'",
    )
    .fetch_all(app.store.reader())
    .await
    .unwrap();
    use jeny_store::Row;
    let plain: Option<String> = rows[0].get("value");
    let sealed: Vec<u8> = rows[0].get("sealed_value");
    assert_eq!(plain, None);
    assert!(!sealed.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    assert!(
        sealed.len() > SECRET.len() + 24,
        "nonce and tag are stored with the ciphertext"
    );
}

async fn a_secret_can_be_replaced_kept_or_converted_but_not_read(backend: Backend) {
    let (_app, client) = prepared(backend).await;
    let scope = VariableScope::Project("web");
    let first = client
        .put_variable(scope, "TOKEN", &variable("TOKEN", Some("one"), true), None)
        .await
        .unwrap();
    // Leaving the value out keeps it (a PATCH of anything else, or a PUT without value).
    let kept = client
        .put_variable(
            scope,
            "TOKEN",
            &variable("TOKEN", None, true),
            Some(&first.etag),
        )
        .await
        .unwrap();
    assert!(kept.value.is_set);
    let replaced = client
        .patch_variable(scope, "TOKEN", &json!({"value": "two"}), Some(&kept.etag))
        .await
        .unwrap();
    assert!(replaced.value.secret && replaced.value.is_set && replaced.value.value.is_none());
    // Turning a secret into a plain variable needs the value: it cannot be read back.
    let refused = problem_of(
        client
            .patch_variable(scope, "TOKEN", &json!({"secret": false}), None)
            .await,
    );
    assert_eq!(
        (refused.status, refused.field.as_deref()),
        (422, Some("value"))
    );
    let plain = client
        .patch_variable(
            scope,
            "TOKEN",
            &json!({"secret": false, "value": "three"}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(plain.value.value.as_deref(), Some("three"));
    // A plain value that becomes secret is sealed and hidden from then on.
    let sealed = client
        .patch_variable(scope, "TOKEN", &json!({"secret": true}), None)
        .await
        .unwrap();
    assert_eq!((sealed.value.value, sealed.value.is_set), (None, true));
    // A secret may be declared before it has a value.
    let declared = client
        .create_variable(scope, &variable("LATER", None, true))
        .await
        .unwrap()
        .value;
    assert_eq!((declared.is_set, declared.secret), (false, true));
    assert_eq!(
        status_of(
            client
                .create_variable(scope, &variable("NOVALUE", None, false))
                .await
        ),
        422
    );
}

async fn a_secret_stays_secret_unless_a_request_says_otherwise(backend: Backend) {
    let (_app, client) = prepared(backend).await;
    let scope = VariableScope::Project("web");
    client
        .put_variable(scope, "TOKEN", &variable("TOKEN", Some("one"), true), None)
        .await
        .unwrap();
    // A PUT that leaves `secret` out replaces the value and keeps the variable secret.
    let replaced = client
        .request(reqwest::Method::PUT, "/api/v1/projects/web/variables/TOKEN")
        .json(&json!({"value": "two"}))
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 200);
    let body: serde_json::Value = replaced.json().await.unwrap();
    assert_eq!(
        (body["secret"].clone(), body["value"].clone()),
        (json!(true), json!(null))
    );
    let events = client
        .list_events(0, Some(500), Some("web"), Some("variable."))
        .await
        .unwrap();
    assert!(
        events
            .items
            .iter()
            .all(|event| event.payload.get("value").is_none()),
        "{:?}",
        events.items
    );
}

async fn if_match_on_a_variable_that_does_not_exist_fails(backend: Backend) {
    let (_app, client) = prepared(backend).await;
    let scope = VariableScope::Project("web");
    assert_eq!(
        status_of(
            client
                .put_variable(scope, "NEW", &variable("NEW", Some("x"), false), Some("*"))
                .await
        ),
        412
    );
    assert_eq!(status_of(client.get_variable(scope, "NEW").await), 404);
    client
        .put_variable(scope, "NEW", &variable("NEW", Some("x"), false), None)
        .await
        .unwrap();
    client
        .put_variable(scope, "NEW", &variable("NEW", Some("y"), false), Some("*"))
        .await
        .unwrap();
}

async fn variable_keys_are_checked(backend: Backend) {
    let (_app, client) = prepared(backend).await;
    let scope = VariableScope::Project("web");
    for bad in ["lower", "1ST", "WITH-DASH", "JENY_PROJECT", ""] {
        let refused = problem_of(
            client
                .create_variable(scope, &variable(bad, Some("x"), false))
                .await,
        );
        assert_eq!(
            (refused.status, refused.field.as_deref()),
            (422, Some("key")),
            "{bad:?}"
        );
    }
    let mismatch = problem_of(
        client
            .put_variable(scope, "A", &variable("B", Some("x"), false), None)
            .await,
    );
    assert_eq!(mismatch.field.as_deref(), Some("key"));
    let huge = "x".repeat(64 * 1024 + 1);
    assert_eq!(
        status_of(
            client
                .create_variable(scope, &variable("BIG", Some(&huge), false))
                .await
        ),
        422
    );
    assert!(
        client
            .list_variables(scope, None, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

both_backends!(
    plain_variables_read_back_per_scope,
    a_secret_is_never_returned_nor_stored_in_clear,
    a_secret_can_be_replaced_kept_or_converted_but_not_read,
    variable_keys_are_checked,
    a_secret_stays_secret_unless_a_request_says_otherwise,
    if_match_on_a_variable_that_does_not_exist_fails,
);
