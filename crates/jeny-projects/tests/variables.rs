//! The variables a deploy runs with, on both backends: project then environment (the environment
//! winning), secrets opened, unset secrets left out.

use jeny_core::{Precondition, SecretBox, SecretKey};
use jeny_projects::{
    EnvironmentInput, ProjectInput, Scope, SetMode, VariableInput, create_environment,
    create_project, resolve_variables, set_variable,
};
use jeny_store::testing::TestDatabase;
use jeny_store::{Backend, Store, both_backends};

async fn set(
    store: &Store,
    secrets: &SecretBox,
    environment: Option<&str>,
    key: &str,
    value: Option<&str>,
    secret: bool,
) {
    let scope = Scope {
        project: "web",
        environment,
    };
    let input = VariableInput {
        key: Some(key.to_owned()),
        value: value.map(str::to_owned),
        secret: Some(secret),
    };
    set_variable(
        store,
        secrets,
        "test",
        scope,
        SetMode::Upsert,
        Some(key),
        &Precondition::None,
        |_| Ok::<_, jeny_projects::ProjectError>(input),
    )
    .await
    .unwrap();
}

async fn a_deploy_gets_project_then_environment_variables_with_secrets_opened(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let secrets = SecretBox::new(&SecretKey::generate());
    let project = ProjectInput {
        name: Some("web".into()),
        title: None,
        description: String::new(),
        repository: None,
        deploy_command: "make deploy".into(),
        output_retention_days: None,
        output_retention_bytes: None,
        metrics_retention: Default::default(),
    };
    create_project(&store, "test", project).await.unwrap();
    for name in ["production", "staging"] {
        let environment = EnvironmentInput {
            name: Some(name.into()),
            host_selector: Default::default(),
            deploy_command: None,
            deploy_timeout_secs: 60,
            deploy_grace_secs: jeny_projects::DEFAULT_DEPLOY_GRACE_SECS,
            allow_hostless_deploys: false,
            queue_policy: jeny_projects::QueuePolicy::Fifo,
        };
        create_environment(&store, "test", "web", environment)
            .await
            .unwrap();
    }
    set(&store, &secrets, None, "LOG_LEVEL", Some("info"), false).await;
    set(
        &store,
        &secrets,
        None,
        "DB_PASSWORD",
        Some("project-secret"),
        true,
    )
    .await;
    set(&store, &secrets, None, "ONLY_PROJECT", Some("p"), false).await;
    set(
        &store,
        &secrets,
        Some("production"),
        "LOG_LEVEL",
        Some("warn"),
        false,
    )
    .await;
    set(
        &store,
        &secrets,
        Some("production"),
        "DB_PASSWORD",
        Some("production-secret"),
        true,
    )
    .await;
    set(&store, &secrets, Some("production"), "API_KEY", None, true).await;
    set(
        &store,
        &secrets,
        Some("staging"),
        "LOG_LEVEL",
        Some("debug"),
        false,
    )
    .await;

    let resolved = resolve_variables(&store, &secrets, "web", "production")
        .await
        .unwrap();
    let shown: Vec<(String, String, bool, bool)> = resolved
        .iter()
        .map(|v| {
            (
                v.key.clone(),
                v.value.expose().clone(),
                v.secret,
                v.from_environment,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("DB_PASSWORD".into(), "production-secret".into(), true, true),
            ("LOG_LEVEL".into(), "warn".into(), false, true),
            ("ONLY_PROJECT".into(), "p".into(), false, false),
        ],
        "environment over project, secrets opened, the unset API_KEY left out, staging's ignored"
    );
    assert!(
        resolved
            .iter()
            .all(|v| v.version >= 1 && !v.variable_id.is_empty())
    );

    let other_key = SecretBox::new(&SecretKey::generate());
    let refused = resolve_variables(&store, &other_key, "web", "production")
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("DB_PASSWORD"), "{refused}");
    assert!(
        resolve_variables(&store, &secrets, "web", "nope")
            .await
            .is_err()
    );
}

both_backends!(a_deploy_gets_project_then_environment_variables_with_secrets_opened);
