//! Every route of the OpenAPI document, walked with each kind of credential: no token and a bad
//! token get 401; a viewer reads but every change gets 403; only an admin deletes a project.

use crate::seeded;
use jeny_testkit::{Backend, Client, both_backends};
use reqwest::Method;
use serde_json::{Value, json};

/// Every (method, concrete path) of the API, with path parameters naming things that exist.
async fn every_route(admin: &Client) -> Vec<(Method, String)> {
    let document: Value = admin
        .request(Method::GET, "/api/v1/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let deploy = admin
        .list_deploys(None, None, None, Some(1), None)
        .await
        .unwrap()
        .items
        .pop()
        .expect("the seeded server has a deploy");
    let mut routes = Vec::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        let concrete = path
            .replace("{project}", "web")
            .replace("{environment}", "production")
            .replace("{host}", "web-1")
            .replace("{key}", "A")
            .replace("{id}", &deploy.id);
        for method in operations.as_object().unwrap().keys() {
            routes.push((method.to_uppercase().parse().unwrap(), concrete.clone()));
        }
    }
    assert!(
        routes.len() >= 30,
        "the document lists only {} operations",
        routes.len()
    );
    routes
}

async fn send(client: &Client, method: &Method, path: &str) -> (u16, String, String) {
    let response = client
        .request(method.clone(), path)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

async fn no_route_answers_without_a_valid_token(backend: Backend) {
    let (app, admin) = seeded(backend).await;
    let routes = every_route(&admin).await;
    let anonymous = app.anonymous();
    let forged = app.anonymous().with_token(Some(
        "jeny_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    ));
    let garbage = app
        .anonymous()
        .with_token(Some("not a token at all".into()));
    // A real token, revoked; and one that expired before it was ever used.
    let revoked = personal_token(&admin, json!({"name": "revoked"})).await;
    let revoked_id = token_id_of(&app, &revoked).await;
    let (status, _, _) = send_json(
        &admin,
        &Method::DELETE,
        &format!("/api/v1/me/tokens/{revoked_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let soon =
        jeny_core::Timestamp::from_micros(jeny_core::Timestamp::now().as_micros() + 1_000_000);
    let expired = personal_token(&admin, json!({"name": "expired", "expires_at": soon})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let revoked = app.anonymous().with_token(Some(revoked));
    let expired = app.anonymous().with_token(Some(expired));
    let mut checked = 0;
    for (method, path) in &routes {
        for client in [&anonymous, &forged, &garbage, &revoked, &expired] {
            let (status, content_type, body) = send(client, method, path).await;
            assert_eq!(status, 401, "{method} {path} answered {status}: {body}");
            assert_eq!(content_type, "application/problem+json", "{method} {path}");
            checked += 1;
        }
    }
    let (status, _, _) = send(&anonymous, &Method::GET, "/api/v1/openapi.json").await;
    assert_eq!(status, 401);
    assert!(checked >= 5 * 40, "{checked} (route, credential) pairs");
    eprintln!(
        "{} routes x 5 credentials without a valid token: {checked} pairs, all 401",
        routes.len()
    );
    // Nothing changed.
    assert_eq!(admin.get_project("web").await.unwrap().value.title, "web");
}

async fn a_viewer_reads_everything_and_changes_nothing(backend: Backend) {
    let (app, admin) = seeded(backend).await;
    let routes = every_route(&admin).await;
    let viewer = app.with_viewer().await;
    // An admin's token limited to `read` is held to exactly what a viewer may do.
    let read_token = personal_token(&admin, json!({"name": "read", "scope": "read"})).await;
    let read_scoped = app.anonymous().with_token(Some(read_token));
    for viewer in [&viewer, &read_scoped] {
        walk_as_viewer(&admin, viewer, &routes).await;
    }
    eprintln!(
        "{} routes x 2 viewer credentials: {} pairs",
        routes.len(),
        2 * routes.len()
    );
}

async fn walk_as_viewer(admin: &Client, viewer: &Client, routes: &[(Method, String)]) {
    let events_before = admin
        .list_events(0, Some(500), None, None)
        .await
        .unwrap()
        .items
        .len();
    for (method, path) in routes {
        let (status, _, body) = send(viewer, method, path).await;
        if path.starts_with("/api/v1/me") || path == "/api/v1/auth/introspect" {
            // The caller's own tokens, and introspection: any role may (here the bodies and ids
            // are not valid ones, so nothing is made or revoked).
            assert!(
                [200, 404, 415, 422].contains(&status),
                "{method} {path} answered {status} to a viewer: {body}"
            );
        } else if *method == Method::GET {
            // 204: /auth/verify allows without a body.
            assert!(
                status == 200 || (status == 204 && path == "/auth/verify"),
                "{method} {path} answered {status} to a viewer: {body}"
            );
        } else {
            assert_eq!(
                status, 403,
                "{method} {path} answered {status} to a viewer: {body}"
            );
            assert!(body.contains("\"code\":\"forbidden\""), "{body}");
        }
    }
    let events_after = admin
        .list_events(0, Some(500), None, None)
        .await
        .unwrap()
        .items
        .len();
    assert_eq!(
        events_before, events_after,
        "a viewer's request changed something"
    );
}

async fn only_an_admin_deletes_a_project(backend: Backend) {
    let (app, admin) = seeded(backend).await;
    let deployer = app.with_deployer().await;
    let refused = deployer.delete_project("web", None).await.unwrap_err();
    assert_eq!(refused.status(), Some(403));
    deployer
        .patch_project("web", &serde_json::json!({"title": "ok"}), None)
        .await
        .unwrap();
    admin.delete_project("web", None).await.unwrap();
}

/// A deployer may do everything but what needs an admin (deleting a project): no route answers a
/// deployer 401 or 403 except those. Walked last, since a deployer's deletes do delete.
async fn a_deployer_is_refused_only_what_needs_an_admin(backend: Backend) {
    let (app, admin) = seeded(backend).await;
    let routes = every_route(&admin).await;
    let deployer = app.with_deployer().await;
    let admin_only = [(Method::DELETE, "/api/v1/projects/web".to_owned())];
    let mut refused = 0;
    for (method, path) in &routes {
        let (status, _, body) = send(&deployer, method, path).await;
        if admin_only.contains(&(method.clone(), path.clone())) {
            assert_eq!(
                status, 403,
                "{method} {path} answered {status} to a deployer: {body}"
            );
            refused += 1;
        } else {
            assert!(
                status != 401 && status != 403,
                "{method} {path} answered {status} to a deployer: {body}"
            );
        }
    }
    assert_eq!(refused, admin_only.len());
    assert!(
        admin.get_project("web").await.is_ok(),
        "a deployer deleted the project"
    );
    eprintln!(
        "{} routes x deployer: {refused} refused, as expected",
        routes.len()
    );
}

async fn personal_token(client: &Client, body: Value) -> String {
    let (status, _, created) =
        send_json(client, &Method::POST, "/api/v1/me/tokens", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let created: Value = serde_json::from_str(&created).unwrap();
    created["token"].as_str().unwrap().to_owned()
}

async fn token_id_of(app: &jeny_testkit::TestApp, token: &str) -> String {
    let client = app.anonymous().with_token(Some(token.to_owned()));
    let (_, _, me) = send_json(&client, &Method::GET, "/api/v1/me", None).await;
    let me: Value = serde_json::from_str(&me).unwrap();
    me["token"]["id"].as_str().unwrap().to_owned()
}

async fn send_json(
    client: &Client,
    method: &Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String, String) {
    let mut request = client.request(method.clone(), path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, String::new(), response.text().await.unwrap())
}

both_backends!(
    no_route_answers_without_a_valid_token,
    a_viewer_reads_everything_and_changes_nothing,
    a_deployer_is_refused_only_what_needs_an_admin,
    only_an_admin_deletes_a_project
);
