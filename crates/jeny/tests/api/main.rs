//! The HTTP API end to end: the real server on SQLite and on PostgreSQL, driven through the real
//! client. One module per resource, plus the cross-cutting behaviours (auth, errors, bad input).

mod auth;
mod aws;
mod chat;
mod cloudwatch;
mod deploy_metrics;
mod deploys;
mod environments;
mod events;
mod hosts;
mod influx_clients;
mod isolation;
mod limits;
mod malformed;
mod metrics;
mod peers;
mod projects;
mod prom;
mod server;
mod signin;
mod streams;
mod tokens;
mod variables;

use jeny_client::ClientError;

/// The status of a failed call, or a panic naming the unexpected success.
pub fn status_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> u16 {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error
            .status()
            .unwrap_or_else(|| panic!("no status in {error:?}")),
    }
}

/// The problem of a failed call.
pub fn problem_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> jeny_client::Problem {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error
            .problem()
            .cloned()
            .unwrap_or_else(|| panic!("no problem document in {error:?}")),
    }
}

/// The names of a page of hosts, in order.
pub fn host_names(page: jeny_core::Page<jeny_hosts::Host>) -> Vec<String> {
    page.items.into_iter().map(|host| host.name).collect()
}

pub fn project(name: &str) -> jeny_projects::ProjectInput {
    jeny_projects::ProjectInput {
        name: Some(name.to_owned()),
        title: None,
        description: String::new(),
        repository: None,
        deploy_command: format!("echo deploying {name}"),
        output_retention_days: None,
        output_retention_bytes: None,
        metrics_retention: Default::default(),
    }
}

pub fn environment(name: &str, selector: &[(&str, &str)]) -> jeny_projects::EnvironmentInput {
    jeny_projects::EnvironmentInput {
        name: Some(name.to_owned()),
        host_selector: selector
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        deploy_command: None,
        deploy_timeout_secs: jeny_projects::DEFAULT_DEPLOY_TIMEOUT_SECS,
        deploy_grace_secs: jeny_projects::DEFAULT_DEPLOY_GRACE_SECS,
        allow_hostless_deploys: false,
        queue_policy: jeny_projects::QueuePolicy::Fifo,
    }
}

pub fn host(name: &str, tags: &[(&str, &str)]) -> jeny_hosts::HostInput {
    jeny_hosts::HostInput {
        name: Some(name.to_owned()),
        address: format!("{name}.internal"),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

pub fn variable(key: &str, value: Option<&str>, secret: bool) -> jeny_projects::VariableInput {
    jeny_projects::VariableInput {
        key: Some(key.to_owned()),
        value: value.map(str::to_owned),
        secret: Some(secret),
    }
}

/// A server with one of everything, all named as the route walks expect: project `web`, its
/// environment `production` (selector `role=web`), host `web-1`, a secret project variable `A`
/// and a plain environment variable `A`, a finished deploy, a lock on `production`, and an AWS
/// account `main` that cannot be reached. Returns
/// the app and an admin client.
pub async fn seeded(
    backend: jeny_testkit::Backend,
) -> (jeny_testkit::TestApp, jeny_testkit::Client) {
    use jeny_testkit::VariableScope;
    let app = jeny_testkit::TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    admin.create_project(&project("web")).await.unwrap();
    admin
        .create_environment("web", &environment("production", &[("role", "web")]))
        .await
        .unwrap();
    admin
        .create_host(&host("web-1", &[("role", "web")]))
        .await
        .unwrap();
    let project_scope = VariableScope::Project("web");
    admin
        .put_variable(project_scope, "A", &variable("A", Some("1"), true), None)
        .await
        .unwrap();
    let environment_scope = VariableScope::Environment("web", "production");
    admin
        .put_variable(
            environment_scope,
            "A",
            &variable("A", Some("1"), false),
            None,
        )
        .await
        .unwrap();
    // A finished deploy, then a lock, so that every deploy and lock route has something to read.
    let deploy = admin
        .create_deploy("web", "production", &jeny_deploys::DeployRequest::default())
        .await
        .unwrap();
    admin.wait_for_deploy(&deploy.id).await.unwrap();
    admin
        .lock_environment(
            "web",
            "production",
            &jeny_deploys::LockRequest {
                reason: "seeded".into(),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    // An AWS account whose endpoint answers nothing (a sync of it fails fast, touching nothing).
    let created = admin
        .request(reqwest::Method::POST, "/api/v1/aws/accounts")
        .json(&serde_json::json!({
            "name": "main", "regions": ["eu-west-1"], "enabled": false,
            "access_key_id": "testing", "secret_access_key": "testing",
            "endpoint_url": "http://127.0.0.1:9",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    (app, admin)
}

/// Sends a JSON request (or none) and answers the status and the JSON body (or the text as a
/// JSON string): for routes the typed client does not cover.
pub async fn call(
    client: &jeny_testkit::Client,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = client.request(method, path);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// Runs one statement on the app's database, in a write transaction (a test reaching beneath
/// the API, to age a session or expire a code).
pub async fn exec_sql(app: &jeny_testkit::TestApp, sql: &str) {
    let mut tx = app.store.begin().await.unwrap();
    jeny_store::sqlx::query(sql)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}
