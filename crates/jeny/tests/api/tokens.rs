//! `/api/v1/me` and personal API tokens: made with a scope and an expiry, shown once, listed
//! without their secret, used, and revoked.

use jeny_testkit::{Backend, Client, TestApp, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

both_backends!(
    me_says_who_and_how,
    a_scoped_token_acts_with_less_and_can_never_make_more,
    a_revoked_token_stops_working_at_once,
    bad_token_requests_are_refused_and_make_nothing,
    introspection_tells_a_service_what_a_token_is,
);

async fn call(client: &Client, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = client.request(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn me_says_who_and_how(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let deployer = app.with_deployer().await;
    let (status, me) = call(&deployer, Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], "deployer@example.com");
    assert_eq!(me["role"], "deployer");
    assert_eq!(me["authenticated_by"], "api_token");
    assert!(me["token"]["id"].is_string());
    assert!(me["token"]["last_used_at"].is_string(), "{me}");
    assert_eq!(
        call(&app.anonymous(), Method::GET, "/api/v1/me", None)
            .await
            .0,
        401
    );
}

async fn a_scoped_token_acts_with_less_and_can_never_make_more(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let in_a_day =
        jeny_core::Timestamp::from_micros(jeny_core::Timestamp::now().as_micros() + 86_400_000_000);
    let (status, created) = call(
        &admin,
        Method::POST,
        "/api/v1/me/tokens",
        Some(json!({"name": "ci read", "scope": "read", "expires_at": in_a_day})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("jeny_"));
    assert_eq!(created["scope"], "read");
    let reader = app.anonymous().with_token(Some(secret.clone()));
    let (status, me) = call(&reader, Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(me["role"], "viewer", "an admin's read token reads only");
    assert_eq!(me["token"]["name"], "ci read");
    let (status, _) = call(
        &reader,
        Method::POST,
        "/api/v1/projects",
        Some(json!({"name": "nope", "deploy_command": "true"})),
    )
    .await;
    assert_eq!(status, 403);
    // A read token cannot make a token with more, nor an unlimited one.
    let (status, problem) = call(
        &reader,
        Method::POST,
        "/api/v1/me/tokens",
        Some(json!({"name": "escalate", "scope": "admin"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(problem["field"], "scope");
    let (status, inherited) = call(
        &reader,
        Method::POST,
        "/api/v1/me/tokens",
        Some(json!({"name": "child"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        inherited["scope"], "read",
        "a token made with a read token is a read token"
    );
    // A deployer cannot make an admin token.
    let deployer = app.with_deployer().await;
    let (status, _) = call(
        &deployer,
        Method::POST,
        "/api/v1/me/tokens",
        Some(json!({"name": "x", "scope": "admin"})),
    )
    .await;
    assert_eq!(status, 422);
    // Listed without secrets, newest first.
    let (status, tokens) = call(&admin, Method::GET, "/api/v1/me/tokens", None).await;
    assert_eq!(status, 200);
    let listed = tokens.to_string();
    assert!(!listed.contains(&secret), "a secret is listed");
    assert!(!listed.contains("\"token\""), "{listed}");
    let names: Vec<&str> = tokens
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "child");
    assert!(names.contains(&"ci read"));
}

async fn a_revoked_token_stops_working_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let (_, created) = call(
        &admin,
        Method::POST,
        "/api/v1/me/tokens",
        Some(json!({"name": "laptop"})),
    )
    .await;
    let token = app
        .anonymous()
        .with_token(Some(created["token"].as_str().unwrap().to_owned()));
    assert_eq!(
        call(&token, Method::GET, "/api/v1/projects", None).await.0,
        200
    );
    let id = created["id"].as_str().unwrap();
    let (status, revoked) = call(
        &admin,
        Method::DELETE,
        &format!("/api/v1/me/tokens/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(revoked["revoked_at"].is_string());
    // Verified a moment ago and cached, yet refused now: revocation empties this node's cache.
    assert_eq!(
        call(&token, Method::GET, "/api/v1/projects", None).await.0,
        401
    );
    // Someone else's token is not yours to revoke.
    let deployer = app.with_deployer().await;
    let (_, other) = call(
        &deployer,
        Method::POST,
        "/api/v1/me/tokens",
        Some(json!({"name": "theirs"})),
    )
    .await;
    let other_id = other["id"].as_str().unwrap();
    assert_eq!(
        call(
            &admin,
            Method::DELETE,
            &format!("/api/v1/me/tokens/{other_id}"),
            None
        )
        .await
        .0,
        404
    );
    let events = admin
        .list_events(0, Some(500), None, Some("token.revoked"))
        .await
        .unwrap()
        .items;
    assert_eq!(events.len(), 1);
    assert!(!events[0].payload.to_string().contains("jeny_"));
}

async fn bad_token_requests_are_refused_and_make_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let (_, before) = call(&admin, Method::GET, "/api/v1/me/tokens", None).await;
    for (body, field) in [
        (json!({"name": ""}), Some("name")),
        (json!({"name": "x".repeat(101)}), Some("name")),
        (
            json!({"name": "old", "expires_at": "2001-01-01T00:00:00Z"}),
            Some("expires_at"),
        ),
        (json!({"name": "x", "scope": "root"}), None),
        (json!({"name": "x", "colour": "red"}), None),
    ] {
        let (status, problem) = call(
            &admin,
            Method::POST,
            "/api/v1/me/tokens",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 422, "{body}: {problem}");
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{body}");
        }
    }
    let (_, after) = call(&admin, Method::GET, "/api/v1/me/tokens", None).await;
    assert_eq!(before, after);
}

async fn introspect(client: &Client, token: &str) -> (u16, Value) {
    let response = client
        .request(Method::POST, "/api/v1/auth/introspect")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}&token_type_hint=access_token"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn introspection_tells_a_service_what_a_token_is(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    // The service asking has a token of its own (a viewer is enough).
    let service = app.with_viewer().await;
    let in_a_day = jeny_core::Timestamp::now().as_micros() / 1_000_000 + 86_400;
    let (_, created) = call(
        &admin,
        Method::POST,
        "/api/v1/me/tokens",
        Some(json!({"name": "for-the-wiki", "scope": "deploy", "expires_at": jeny_core::Timestamp::from_micros(in_a_day * 1_000_000)})),
    )
    .await;
    let secret = created["token"].as_str().unwrap().to_owned();
    let (status, answer) = introspect(&service, &secret).await;
    assert_eq!(status, 200);
    assert_eq!(answer["active"], true);
    assert_eq!(answer["username"], "admin@example.com");
    assert_eq!(answer["scope"], "deploy", "the role the token acts with");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["exp"], in_a_day);
    assert_eq!(answer["jti"], created["id"]);

    // Unknown, garbage, revoked, expired: only {"active": false}.
    for token in [
        "jeny_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        "not-a-token".to_owned(),
    ] {
        assert_eq!(
            introspect(&service, &token).await.1,
            json!({"active": false})
        );
    }
    let id = created["id"].as_str().unwrap();
    call(
        &admin,
        Method::DELETE,
        &format!("/api/v1/me/tokens/{id}"),
        None,
    )
    .await;
    assert_eq!(
        introspect(&service, &secret).await.1,
        json!({"active": false})
    );

    // The caller must authenticate, and send a form with a token.
    assert_eq!(introspect(&app.anonymous(), &secret).await.0, 401);
    let (status, _) = call(
        &service,
        Method::POST,
        "/api/v1/auth/introspect",
        Some(json!({"token": secret})),
    )
    .await;
    assert_eq!(status, 415);
    let response = service
        .request(Method::POST, "/api/v1/auth/introspect")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("nothing=here")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
}
