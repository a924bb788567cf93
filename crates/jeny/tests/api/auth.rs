//! Every route of the OpenAPI document, walked with each kind of credential: no credential, a
//! bad, revoked or expired token and an ended session get 401; a viewer reads but every change
//! gets 403; people, the allowlist and agent tokens are an admin's; an agent token reaches only
//! the agent routes (and InfluxDB's writes); a browser session changes nothing from another site.
//! InfluxDB's own routes (`/write`, `/api/v2/write`, `/api/v1/prom/write`) answer in InfluxDB's
//! shapes, take only a token (never a session) and are walked with the project in their query.

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
            .replace("{person}", "viewer@example.com")
            .replace("{entry}", "@example.org")
            .replace("{account}", "main")
            .replace("{id}", &deploy.id);
        // InfluxDB's writes name the project in the query, as their clients send it
        let concrete = match concrete.as_str() {
            "/write" => "/write?db=web".to_owned(),
            "/api/v2/write" => "/api/v2/write?bucket=web".to_owned(),
            "/api/v1/prom/write" => "/api/v1/prom/write?db=web".to_owned(),
            "/query" => "/query?db=web&q=SHOW%20MEASUREMENTS".to_owned(),
            _ => concrete,
        };
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

/// The device flow's two endpoints (the person's approval is what counts) and InfluxDB's ping:
/// anyone may call them, so they are left out of the walks.
fn is_public(path: &str) -> bool {
    path.starts_with("/auth/device/") || path == "/ping"
}

/// InfluxDB's writes: a token only (sent as InfluxDB clients send it), errors in InfluxDB's
/// shapes (`{"error":...}`, `{"code":...,"message":...}`), a deployer's of the project or an
/// agent's.
fn is_influxdb(path: &str) -> bool {
    is_influxdb_write(path) || path.starts_with("/query?")
}

fn is_influxdb_write(path: &str) -> bool {
    path.starts_with("/write?")
        || path.starts_with("/api/v2/write?")
        || path.starts_with("/api/v1/prom/write?")
}

/// The POST operations the document declares reads (`x-jeny-read`): a viewer may call them.
async fn declared_reads(admin: &Client) -> Vec<String> {
    let document: Value = admin
        .request(Method::GET, "/api/v1/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut reads = Vec::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        if operations["post"]["x-jeny-read"] == Value::Bool(true) {
            reads.push(path.clone());
        }
    }
    reads
}

/// What only an admin may do, whatever the method.
fn is_admin_only(method: &Method, path: &str) -> bool {
    [
        "/api/v1/people",
        "/api/v1/allowlist",
        "/api/v1/agent-tokens",
    ]
    .iter()
    .any(|prefix| path.starts_with(prefix))
        || (*method == Method::DELETE && path == "/api/v1/projects/web")
        || (path.starts_with("/api/v1/aws/accounts")
            && *method != Method::GET
            && !path.ends_with("/sync")
            && !path.ends_with("/metrics/import"))
        || (path == "/api/v1/chat/slack" && *method != Method::GET)
}

/// What only an agent may call.
fn is_agent_only(path: &str) -> bool {
    path.starts_with("/api/v1/agent/")
}

async fn send_with_cookie(
    app: &jeny_testkit::TestApp,
    method: &Method,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
) -> (u16, String, String) {
    let mut request = app
        .anonymous()
        .request(method.clone(), path)
        .header("cookie", cookie)
        .header("content-type", "application/json")
        .body("{}");
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// A browser session cookie `jeny_session=...` for the console link's admin.
async fn session_cookie(app: &jeny_testkit::TestApp) -> String {
    let browser = app.admin_browser().await;
    format!("jeny_session={}", browser.cookies["jeny_session"])
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
    // Made valid for an hour, then aged through the store (not waited for) past its expiry.
    let in_an_hour =
        jeny_core::Timestamp::from_micros(jeny_core::Timestamp::now().as_micros() + 3_600_000_000);
    let expired =
        personal_token(&admin, json!({"name": "expired", "expires_at": in_an_hour})).await;
    let mut tx = app.store.begin().await.unwrap();
    jeny_store::sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE name = 'expired'")
        .bind(jeny_core::Timestamp::now().as_micros() - 1_000_000)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let revoked = app.anonymous().with_token(Some(revoked));
    let expired = app.anonymous().with_token(Some(expired));
    // A session signed out, and one left unused past the idle time.
    let signed_out = session_cookie(&app).await;
    let (status, _, _) = send_with_cookie(
        &app,
        &Method::POST,
        "/auth/logout",
        &signed_out,
        Some(&app.url),
    )
    .await;
    assert_eq!(status, 200);
    let idle = session_cookie(&app).await;
    crate::exec_sql(
        &app,
        "UPDATE sessions SET last_seen_at = 0 WHERE revoked_at IS NULL",
    )
    .await;
    app.auth.forget_all();
    let mut checked = 0;
    for (method, path) in &routes {
        if is_public(path) {
            let (status, _, body) = send(&anonymous, method, path).await;
            let expected = if path == "/ping" { 204 } else { 400 };
            assert_eq!(
                status, expected,
                "{method} {path} answered {status}: {body}"
            );
            continue;
        }
        let error_type = if is_influxdb(path) {
            "application/json"
        } else {
            "application/problem+json"
        };
        for client in [&anonymous, &forged, &garbage, &revoked, &expired] {
            let (status, content_type, body) = send(client, method, path).await;
            assert_eq!(status, 401, "{method} {path} answered {status}: {body}");
            assert_eq!(content_type, error_type, "{method} {path}");
            checked += 1;
        }
        for cookie in [&signed_out, &idle] {
            let (status, content_type, body) =
                send_with_cookie(&app, method, path, cookie, Some(&app.url)).await;
            assert_eq!(
                status, 401,
                "{method} {path} answered {status} to an ended session: {body}"
            );
            assert_eq!(content_type, error_type, "{method} {path}");
            checked += 1;
        }
    }
    let (status, _, _) = send(&anonymous, &Method::GET, "/api/v1/openapi.json").await;
    assert_eq!(status, 401);
    assert!(checked >= 7 * 50, "{checked} (route, credential) pairs");
    eprintln!(
        "{} routes x 7 credentials without a valid token or session: {checked} pairs, all 401",
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
    let reads = declared_reads(admin).await;
    assert!(
        reads.contains(&"/api/v1/metrics/query".to_owned()),
        "the query model is declared a read: {reads:?}"
    );
    let events_before = event_count(admin).await;
    for (method, path) in routes {
        if is_public(path) {
            continue;
        }
        let (status, _, body) = send(viewer, method, path).await;
        if is_agent_only(path) || is_admin_only(method, path) {
            assert_eq!(
                status, 403,
                "{method} {path} answered {status} to a viewer: {body}"
            );
        } else if path.starts_with("/api/v1/me") || path == "/api/v1/auth/introspect" {
            // The caller's own tokens, and introspection: any role may (here the bodies and ids
            // are not valid ones, so nothing is made or revoked).
            assert!(
                [200, 404, 415, 422].contains(&status),
                "{method} {path} answered {status} to a viewer: {body}"
            );
        } else if *method == Method::POST && reads.contains(path) {
            // a read by POST: let through to the body, which `{}` is not
            assert_eq!(
                status, 422,
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
            if is_influxdb(path) {
                assert!(
                    body.contains("not authorized") || body.contains("\"code\":\"forbidden\""),
                    "{body}"
                );
            } else {
                assert!(body.contains("\"code\":\"forbidden\""), "{body}");
            }
        }
    }
    let events_after = event_count(admin).await;
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
    let mut refused = 0;
    let mut expected_refusals = 0;
    for (method, path) in &routes {
        if is_public(path) {
            continue;
        }
        let (status, _, body) = send(&deployer, method, path).await;
        if is_admin_only(method, path) || is_agent_only(path) {
            expected_refusals += 1;
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
    assert_eq!(refused, expected_refusals);
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

/// An agent token is not a person: every route but the agent's own answers 403.
async fn an_agent_token_reaches_only_the_agent_routes(backend: Backend) {
    let (app, admin) = seeded(backend).await;
    let routes = every_route(&admin).await;
    let (status, _, created) = send_json(
        &admin,
        &Method::POST,
        "/api/v1/agent-tokens",
        Some(json!({"name": "web-1"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let created: Value = serde_json::from_str(&created).unwrap();
    let agent = app
        .anonymous()
        .with_token(Some(created["token"].as_str().unwrap().to_owned()));
    let events_before = event_count(&admin).await;
    let mut checked = 0;
    for (method, path) in &routes {
        if is_public(path) {
            continue;
        }
        let (status, _, body) = send(&agent, method, path).await;
        if is_agent_only(path) {
            assert_eq!(
                status, 200,
                "{method} {path} answered {status} to an agent: {body}"
            );
        } else if is_influxdb_write(path) {
            // an agent may write metrics: let through to the body, which `{}` is not
            assert_eq!(
                status, 400,
                "{method} {path} answered {status} to an agent: {body}"
            );
        } else {
            assert_eq!(
                status, 403,
                "{method} {path} answered {status} to an agent: {body}"
            );
        }
        checked += 1;
    }
    let events_after = event_count(&admin).await;
    assert_eq!(events_before, events_after, "an agent changed something");
    eprintln!("{checked} routes x agent token: only the agent routes answered");
}

/// A signed-in browser's session changes nothing when the request comes from another site (or
/// says nowhere where from), and the same requests from jeny's own origin are not refused.
async fn a_session_changes_nothing_from_another_site(backend: Backend) {
    let (app, admin) = seeded(backend).await;
    let routes = every_route(&admin).await;
    let cookie = session_cookie(&app).await;
    let events_before = event_count(&admin).await;
    let mut checked = 0;
    for (method, path) in &routes {
        if is_public(path) || *method == Method::GET {
            continue;
        }
        for origin in [Some("https://evil.example"), None] {
            let (status, _, body) = send_with_cookie(&app, method, path, &cookie, origin).await;
            if is_influxdb(path) {
                // no session is taken there, from any site
                assert_eq!(status, 401, "{method} {path} from {origin:?}: {body}");
                checked += 1;
                continue;
            }
            assert_eq!(
                status, 403,
                "{method} {path} from {origin:?} answered {status}: {body}"
            );
            assert!(body.contains("another site"), "{body}");
            checked += 1;
        }
    }
    let events_after = event_count(&admin).await;
    assert_eq!(
        events_before, events_after,
        "a cross-site request changed something"
    );
    // From jeny's own pages, the session is an admin's: nothing is refused.
    for (method, path) in &routes {
        if is_public(path) || is_agent_only(path) || is_influxdb(path) {
            continue;
        }
        let (status, _, body) = send_with_cookie(&app, method, path, &cookie, Some(&app.url)).await;
        assert!(
            status != 401 && status != 403,
            "{method} {path} answered {status} to the admin's session: {body}"
        );
        checked += 1;
    }
    eprintln!("{checked} (route, origin) pairs with a browser session");
}

/// The origin check compares scheme, host and port: the same host and port under another
/// scheme is another site, on a plain http jeny (`https://host`) and on an https one
/// (`http://host`, reached with the same `Host`).
async fn an_origin_with_another_scheme_is_another_site(backend: Backend) {
    let app = jeny_testkit::TestApp::spawn(backend).await;
    let cookie = session_cookie(&app).await;
    let address = app.address;
    for origin in [
        format!("https://{address}"),
        format!("http://{}:{}", address.ip(), address.port() + 1),
        "null".to_owned(),
    ] {
        let (status, _, body) = send_with_cookie(
            &app,
            &Method::POST,
            "/api/v1/projects",
            &cookie,
            Some(&origin),
        )
        .await;
        assert_eq!(status, 403, "{origin} answered {status}: {body}");
        assert!(body.contains("another site"), "{body}");
    }
    let (status, _, body) = send_with_cookie(
        &app,
        &Method::POST,
        "/api/v1/projects",
        &cookie,
        Some(&app.url),
    )
    .await;
    assert_eq!(
        status, 422,
        "jeny's own origin is let through to the body's check: {body}"
    );

    let secure = jeny_testkit::TestApp::spawn_on(
        jeny_testkit::TestDatabase::create(backend).await,
        |config| config.public_url = Some("https://jeny.example".to_owned()),
    )
    .await;
    let cookie = session_cookie(&secure).await;
    let send = |origin: &'static str| {
        secure
            .anonymous()
            .request(Method::POST, "/api/v1/projects")
            .header("host", "jeny.example")
            .header("cookie", cookie.clone())
            .header("content-type", "application/json")
            .header("origin", origin)
            .body("{}")
            .send()
    };
    for origin in ["http://jeny.example", "http://jeny.example:443"] {
        let response = send(origin).await.unwrap();
        assert_eq!(response.status(), 403, "{origin} on an https jeny");
    }
    for origin in ["https://jeny.example", "https://jeny.example:443"] {
        let response = send(origin).await.unwrap();
        assert_eq!(response.status(), 422, "{origin} is jeny's own");
    }
}

both_backends!(
    an_origin_with_another_scheme_is_another_site,
    an_agent_token_reaches_only_the_agent_routes,
    a_session_changes_nothing_from_another_site,
    no_route_answers_without_a_valid_token,
    a_viewer_reads_everything_and_changes_nothing,
    a_deployer_is_refused_only_what_needs_an_admin,
    only_an_admin_deletes_a_project
);

/// How many events the log holds (a request that changed something appended one).
async fn event_count(admin: &Client) -> usize {
    admin
        .list_events(0, Some(500), None, None)
        .await
        .unwrap()
        .items
        .len()
}
