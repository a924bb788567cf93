//! The server's own endpoints and the behaviours every route shares.

use jeny_testkit::{Backend, TestApp, both_backends};
use reqwest::Method;

async fn health_readiness_and_metrics_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let anonymous = app.anonymous();
    for path in ["/healthz", "/readyz"] {
        let response = anonymous.request(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let admin = app.with_admin().await;
    admin.list_projects(None, None).await.unwrap();
    let metrics = anonymous
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "jeny_http_requests_total{method=\"GET\",route=\"/api/v1/projects\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("jeny_events_last_id"), "{metrics}");
    assert!(metrics.trim_end().ends_with("# EOF"));
}

async fn the_served_openapi_document_is_the_committed_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let served = admin
        .request(Method::GET, "/api/v1/openapi.json")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served, jeny_server::openapi_json());
    // The package folder as cargo gives it when the test runs (a binary reused from a build
    // cache of another checkout would carry that checkout's folder in env!).
    let package = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let committed_path = format!("{package}/../../openapi.json");
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(&committed_path, &served).unwrap();
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == served,
        "openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test -p jeny --test api openapi` and commit it"
    );
}

async fn errors_outside_handlers_are_problems_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let cases = [
        (Method::GET, "/api/v1/nothing-here", 404),
        (Method::GET, "/api", 404),
        (Method::DELETE, "/api/v1/projects", 405),
        (Method::POST, "/", 404),
    ];
    for (method, path, expected) in cases {
        let response = admin
            .request(method.clone(), path)
            .header("x-request-id", "test-request-1")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(response.headers()["x-request-id"], "test-request-1");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["request_id"], "test-request-1");
        assert_eq!(problem["status"], expected);
    }
}

async fn app_pages_fall_back_to_the_web_app(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/", "/p/web/deploys/1"] {
        let response = app
            .anonymous()
            .request(Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(response.headers()["cache-control"], "no-cache");
        assert!(
            response.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }
    // The app's script, named by its content's hash: cached for good, and sent precompressed to
    // a browser that takes brotli or gzip (as built by web/scripts/compress.mjs).
    let index = app
        .anonymous()
        .request(Method::GET, "/")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let script = index
        .split("src=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|src| src.starts_with("/assets/") && src.ends_with(".js"))
        .unwrap_or_else(|| panic!("the page loads its script from /assets/: {index}"));
    for (accepted, expected) in [
        ("gzip, deflate, br", Some("br")),
        ("gzip", Some("gzip")),
        ("identity", None),
    ] {
        let response = app
            .anonymous()
            .request(Method::GET, script)
            .header("accept-encoding", accepted)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            response
                .headers()
                .get("content-encoding")
                .map(|value| value.to_str().unwrap()),
            expected,
            "{accepted}"
        );
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
    }
    // A missing asset is not the app's page (an old tab asking for a chunk a new version lacks
    // must fail clearly), and unknown API or auth paths are problems.
    let client = app.anonymous();
    let missing = client
        .request(Method::GET, "/assets/nothing-here.js")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    for path in ["/api/v2/nothing", "/auth/nothing"] {
        let response = client.request(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    // The sign-in page asks how people sign in here.
    let providers: serde_json::Value = client
        .request(Method::GET, "/auth/providers")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(providers, serde_json::json!({"oidc": false, "name": null}));
}

async fn a_restart_keeps_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app
        .token_for("admin@example.com", jeny_core::Role::Admin)
        .await;
    let client = jeny_testkit::Client::new(&app.url, Some(token.clone()));
    client.create_project(&crate::project("web")).await.unwrap();
    client
        .put_variable(
            jeny_testkit::VariableScope::Project("web"),
            "S",
            &crate::variable("S", Some("v"), true),
            None,
        )
        .await
        .unwrap();
    let database = app.stop().await;
    let app = TestApp::spawn_on(database, |_| {}).await;
    let client = jeny_testkit::Client::new(&app.url, Some(token));
    assert_eq!(client.get_project("web").await.unwrap().value.name, "web");
    assert!(
        client
            .get_variable(jeny_testkit::VariableScope::Project("web"), "S")
            .await
            .unwrap()
            .value
            .is_set
    );
    let key = std::fs::metadata(app.config.secret_key_file()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
}

both_backends!(
    health_readiness_and_metrics_answer,
    the_served_openapi_document_is_the_committed_one,
    errors_outside_handlers_are_problems_too,
    app_pages_fall_back_to_the_web_app,
    a_restart_keeps_everything,
);

async fn a_node_with_another_secret_key_refuses_to_start(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key_file = app.config.secret_key_file();
    let database = app.stop().await;
    std::fs::write(
        &key_file,
        format!(
            "{}\n",
            jeny_core::SecretKey::generate().to_base64().expose()
        ),
    )
    .unwrap();
    let config = jeny_server::Config {
        data_dir: database.dir.path().to_path_buf(),
        database_url: Some(database.url.clone()),
        ..jeny_server::Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = jeny_server::launch_with_listener(listener, &config, Default::default()).await;
    let error = format!(
        "{:#}",
        refused
            .err()
            .expect("a server with a foreign key must not start")
    );
    assert!(
        error.contains("is not the one this database's secrets were sealed with"),
        "{error}"
    );
}

mod key_check {
    use super::*;
    both_backends!(a_node_with_another_secret_key_refuses_to_start);
}
