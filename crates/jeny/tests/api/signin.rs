//! Sign-in end to end against a real OpenID Connect provider (oidc-provider-mock), and what a
//! sign-in gives: browser sessions (cookie flags, listing, revoking, expiry, sign-out), the
//! allowlist, roles on projects and environments, the device flow of `jeny login`, one-time
//! console links, and the rate limit on sign-in attempts.

use crate::{environment, exec_sql, project, seeded, status_of};
use jeny_testkit::{Backend, Browser, OidcProvider, TestApp, TestDatabase, both_backends};
use serde_json::{Value, json};

const CLIENT_ID: &str = "jeny-test";

/// A server that signs people in with `provider`, letting in `@example.com`.
async fn app_with_oidc(
    backend: Backend,
    provider: &OidcProvider,
    configure: impl FnOnce(&mut jeny_server::Config),
) -> TestApp {
    let database = TestDatabase::create(backend).await;
    let issuer = provider.issuer.clone();
    TestApp::spawn_on(database, move |config| {
        config.sign_in.oidc_issuer = Some(issuer);
        config.sign_in.oidc_client_id = Some(CLIENT_ID.to_owned());
        config.sign_in.oidc_client_secret = Some("s3cret".to_owned());
        config.sign_in.allowlist = vec!["@example.com".to_owned()];
        config.sign_in.device_poll_interval_secs = 1;
        configure(config);
    })
    .await
}

/// Goes through sign-in as `sub` (whose claims the provider has): what the callback answered.
async fn sign_in(
    browser: &mut Browser,
    provider: &OidcProvider,
    sub: &str,
    next: &str,
) -> jeny_testkit::Page {
    let start = browser.get(&format!("/auth/login?next={next}")).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let authorization = start.location.expect("to the provider");
    assert!(
        authorization.starts_with(&provider.issuer),
        "{authorization}"
    );
    for part in [
        "code_challenge_method=S256",
        "nonce=",
        "state=",
        "scope=openid",
    ] {
        assert!(
            authorization.contains(part),
            "{part} missing in {authorization}"
        );
    }
    let callback = provider.approve(&authorization, sub).await;
    browser.get(&callback).await
}

async fn events_of_kind(app: &TestApp, kind: &str) -> Vec<Value> {
    let admin = app.with_admin().await;
    admin
        .list_events(0, Some(500), None, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|event| event.kind == kind)
        .map(|event| event.payload)
        .collect()
}

async fn me(browser: &mut Browser) -> (u16, Value) {
    let page = browser.get("/api/v1/me").await;
    (
        page.status,
        serde_json::from_str(&page.body).unwrap_or(Value::Null),
    )
}

async fn an_allowed_person_signs_in_and_others_are_refused(backend: Backend) {
    let provider = OidcProvider::start().await;
    let app = app_with_oidc(backend, &provider, |_| {}).await;
    provider
        .set_user(
            "alice@example.com",
            json!({"email": "Alice@Example.com", "email_verified": true, "name": "Alice"}),
        )
        .await;
    let mut alice = Browser::new(&app.url);
    let back = sign_in(&mut alice, &provider, "alice@example.com", "/projects/web").await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.location.as_deref(), Some("/projects/web"));
    let cookie = back
        .set_cookies
        .iter()
        .find(|cookie| cookie.starts_with("jeny_session=jenys_"))
        .expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "not over plain http: {cookie}");
    let (status, who) = me(&mut alice).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["email"], "alice@example.com");
    assert_eq!(who["authenticated_by"], "session");
    assert_eq!(who["role"], "admin", "the first person to sign in is admin");
    // The second person is a viewer.
    provider
        .set_user(
            "bob@example.com",
            json!({"email": "bob@example.com", "email_verified": true}),
        )
        .await;
    let mut bob = Browser::new(&app.url);
    assert_eq!(
        sign_in(&mut bob, &provider, "bob@example.com", "/")
            .await
            .status,
        303
    );
    assert_eq!(me(&mut bob).await.1["role"], "viewer");
    // Another domain: refused with a page saying why, no session, an event.
    provider
        .set_user(
            "mallory@other.org",
            json!({"email": "mallory@other.org", "email_verified": true}),
        )
        .await;
    let mut mallory = Browser::new(&app.url);
    let refused = sign_in(&mut mallory, &provider, "mallory@other.org", "/").await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.body.contains("not on jeny&#39;s allowlist"),
        "{}",
        refused.body
    );
    assert!(!mallory.cookies.contains_key("jeny_session"));
    assert_eq!(me(&mut mallory).await.0, 401);
    let refusals = events_of_kind(&app, "signin.refused").await;
    assert!(
        refusals
            .iter()
            .any(|event| event["email"] == "mallory@other.org"),
        "{refusals:?}"
    );
    // An unverified email is refused too.
    provider
        .set_user(
            "carol@example.com",
            json!({"email": "carol@example.com", "email_verified": false}),
        )
        .await;
    let mut carol = Browser::new(&app.url);
    let refused = sign_in(&mut carol, &provider, "carol@example.com", "/").await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("not verified"), "{}", refused.body);
    let succeeded = events_of_kind(&app, "signin.succeeded").await;
    assert_eq!(succeeded.len(), 2, "{succeeded:?}");
    // Where a sign-in returns is checked: another site becomes `/`.
    let mut dave = Browser::new(&app.url);
    provider
        .set_user("dave@example.com", json!({"email": "dave@example.com"}))
        .await;
    let back = sign_in(
        &mut dave,
        &provider,
        "dave@example.com",
        "https://evil.example/steal",
    )
    .await;
    assert_eq!(back.location.as_deref(), Some("/"));
}

async fn tampered_or_forged_answers_sign_no_one_in(backend: Backend) {
    let provider = OidcProvider::start().await;
    let app = app_with_oidc(backend, &provider, |_| {}).await;
    provider
        .set_user(
            "alice@example.com",
            json!({"email": "alice@example.com", "email_verified": true}),
        )
        .await;
    let signed_in = |browser: &Browser| browser.cookies.contains_key("jeny_session");

    // The state changed on the way back.
    let mut browser = Browser::new(&app.url);
    let start = browser.get("/auth/login").await;
    let callback = provider
        .approve(start.location.as_deref().unwrap(), "alice@example.com")
        .await;
    let tampered = callback.replace("state=", "state=x");
    let page = browser.get(&tampered).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("state"), "{}", page.body);
    assert!(!signed_in(&browser));

    // A callback from a sign-in another browser started (login CSRF).
    let mut victim = Browser::new(&app.url);
    let page = victim.get(&callback).await;
    assert_eq!(page.status, 403);
    assert!(!signed_in(&victim));

    // The genuine callback works once, and cannot be replayed.
    let page = browser.get(&callback).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(signed_in(&browser));
    let mut replay = Browser::new(&app.url);
    replay.cookies = browser.cookies.clone();
    replay.cookies.remove("jeny_session");
    let page = replay.get(&callback).await;
    assert_eq!(page.status, 403);
    assert!(!signed_in(&replay));

    // An expired ID token, one for another audience, one from another issuer.
    let now = jeny_core::Timestamp::now().as_micros() / 1_000_000;
    for (claims, why) in [
        (json!({"exp": now - 600}), "expired"),
        (json!({"aud": "someone-else"}), "audience"),
        (json!({"iss": "https://accounts.example.org"}), "issuer"),
    ] {
        let mut claims_with_email = json!({"email": "alice@example.com", "email_verified": true});
        claims_with_email
            .as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
        provider
            .set_user("alice@example.com", claims_with_email)
            .await;
        let mut browser = Browser::new(&app.url);
        let page = sign_in(&mut browser, &provider, "alice@example.com", "/").await;
        assert_eq!(page.status, 403, "{why}: {}", page.body);
        assert!(page.body.contains("did not verify"), "{why}: {}", page.body);
        assert!(!signed_in(&browser), "{why}");
    }
    // The provider's own refusal.
    let mut browser = Browser::new(&app.url);
    let start = browser.get("/auth/login").await;
    let page = browser
        .get(&format!(
            "/auth/callback?error=access_denied&state=x&for={}",
            start.status
        ))
        .await;
    assert_eq!(page.status, 403);
    assert!(!signed_in(&browser));
    assert_eq!(events_of_kind(&app, "signin.succeeded").await.len(), 1);
}

async fn a_hosted_domain_admits_only_its_accounts(backend: Backend) {
    let provider = OidcProvider::start().await;
    let app = app_with_oidc(backend, &provider, |config| {
        config.sign_in.oidc_hosted_domain = Some("example.com".to_owned());
    })
    .await;
    provider
        .set_user(
            "personal@example.com",
            json!({"email": "personal@example.com", "email_verified": true}),
        )
        .await;
    provider
        .set_user(
            "work@example.com",
            json!({"email": "work@example.com", "email_verified": true, "hd": "example.com"}),
        )
        .await;
    let mut personal = Browser::new(&app.url);
    let start = personal.get("/auth/login").await;
    assert!(start.location.unwrap().contains("hd=example.com"));
    let page = sign_in(&mut personal, &provider, "personal@example.com", "/").await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("organisation"), "{}", page.body);
    let mut work = Browser::new(&app.url);
    assert_eq!(
        sign_in(&mut work, &provider, "work@example.com", "/")
            .await
            .status,
        303
    );
}

async fn sessions_are_listed_revoked_and_expire(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut laptop = app.admin_browser().await;
    let mut phone = app.admin_browser().await;
    let page = laptop.get("/api/v1/me/sessions").await;
    assert_eq!(page.status, 200);
    let sessions: Vec<Value> = serde_json::from_str(&page.body).unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(sessions[0]["method"], "console_link");
    assert_eq!(sessions[0]["user_agent"], "jeny-testkit browser");
    let phone_id = me(&mut phone).await.1["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Revoking needs the request to come from jeny's own pages.
    let request = laptop
        .http()
        .delete(format!("{}/api/v1/me/sessions/{phone_id}", app.url))
        .header("origin", "https://evil.example");
    assert_eq!(laptop.send(request).await.status, 403);
    assert_eq!(me(&mut phone).await.0, 200);
    let request = laptop
        .http()
        .delete(format!("{}/api/v1/me/sessions/{phone_id}", app.url))
        .header("origin", app.url.clone());
    let page = laptop.send(request).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(me(&mut phone).await.0, 401);
    // Sign-out ends the session and removes the cookie.
    let page = laptop.post_form("/auth/logout", &[]).await;
    assert_eq!(page.status, 200);
    assert!(
        page.set_cookies
            .iter()
            .any(|c| c.starts_with("jeny_session=;") && c.contains("Max-Age=0"))
    );
    assert!(!laptop.cookies.contains_key("jeny_session"));
    // Idle and absolute expiry.
    let mut idle = app.admin_browser().await;
    let mut old = app.admin_browser().await;
    let idle_id = me(&mut idle).await.1["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_id = me(&mut old).await.1["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let day_and_a_bit = 25 * 3600 * 1_000_000_i64;
    let now = jeny_core::Timestamp::now().as_micros();
    exec_sql(
        &app,
        &format!(
            "UPDATE sessions SET last_seen_at = {} WHERE id = '{idle_id}'",
            now - day_and_a_bit
        ),
    )
    .await;
    exec_sql(
        &app,
        &format!(
            "UPDATE sessions SET expires_at = {} WHERE id = '{old_id}'",
            now - 1
        ),
    )
    .await;
    app.auth.forget_all();
    assert_eq!(me(&mut idle).await.0, 401);
    assert_eq!(me(&mut old).await.0, 401);
    let revoked = events_of_kind(&app, "session.revoked").await;
    assert_eq!(revoked.len(), 1);
}

async fn removing_someone_from_the_allowlist_ends_their_access(backend: Backend) {
    let provider = OidcProvider::start().await;
    let app = app_with_oidc(backend, &provider, |_| {}).await;
    let admin = app.with_admin().await;
    let add = |entry: &str| {
        admin
            .request(reqwest::Method::POST, "/api/v1/allowlist")
            .json(&json!({"entry": entry}))
            .send()
    };
    assert_eq!(add("Eve@Partner.org").await.unwrap().status(), 201);
    assert_eq!(add("eve@partner.org").await.unwrap().status(), 409);
    assert_eq!(
        add("@example.com").await.unwrap().status(),
        409,
        "in the configuration"
    );
    assert_eq!(add("partner.org").await.unwrap().status(), 422);
    let list: Vec<Value> = admin
        .request(reqwest::Method::GET, "/api/v1/allowlist")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries: Vec<(&str, &str)> = list
        .iter()
        .map(|e| (e["entry"].as_str().unwrap(), e["source"].as_str().unwrap()))
        .collect();
    assert_eq!(
        entries,
        [("@example.com", "config"), ("eve@partner.org", "api")]
    );
    // Eve signs in, and makes an API token.
    provider
        .set_user(
            "eve@partner.org",
            json!({"email": "eve@partner.org", "email_verified": true}),
        )
        .await;
    let mut eve = Browser::new(&app.url);
    assert_eq!(
        sign_in(&mut eve, &provider, "eve@partner.org", "/")
            .await
            .status,
        303
    );
    let request = eve
        .http()
        .post(format!("{}/api/v1/me/tokens", app.url))
        .header("origin", app.url.clone())
        .json(&json!({"name": "script"}));
    let page = eve.send(request).await;
    assert_eq!(page.status, 201, "{}", page.body);
    let token: Value = serde_json::from_str(&page.body).unwrap();
    let eve_api = app
        .anonymous()
        .with_token(Some(token["token"].as_str().unwrap().to_owned()));
    assert!(eve_api.list_projects(None, None).await.is_ok());
    // The entry of the configuration file cannot be removed here.
    let response = admin
        .request(reqwest::Method::DELETE, "/api/v1/allowlist/@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let response = admin
        .request(reqwest::Method::DELETE, "/api/v1/allowlist/eve@partner.org")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["signed_out"], json!(["eve@partner.org"]));
    assert_eq!(me(&mut eve).await.0, 401, "her session ended");
    assert_eq!(
        status_of(eve_api.list_projects(None, None).await),
        401,
        "her token too"
    );
    let mut again = Browser::new(&app.url);
    assert_eq!(
        sign_in(&mut again, &provider, "eve@partner.org", "/")
            .await
            .status,
        403
    );
    let removed = events_of_kind(&app, "allowlist.removed").await;
    assert_eq!(removed[0]["signed_out"], json!(["eve@partner.org"]));
}

async fn a_role_on_an_environment_overrides_the_global_one(backend: Backend) {
    let (app, admin) = seeded(backend).await;
    admin
        .create_environment("web", &environment("staging", &[("role", "web")]))
        .await
        .unwrap();
    admin.create_project(&project("blog")).await.unwrap();
    let viewer = app.with_viewer().await;
    let grants = |list: Value| {
        let body = json!({"grants": list});
        admin
            .request(
                reqwest::Method::PUT,
                "/api/v1/people/viewer@example.com/grants",
            )
            .json(&body)
            .send()
    };
    // Unknown places are refused, and change nothing.
    let refused = grants(json!([{"project": "nope", "role": "deployer"}]))
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.unwrap();
    assert!(body.contains("\"field\":\"grants[0].project\""), "{body}");
    let refused = grants(json!([{"project": "web", "environment": "nope", "role": "deployer"}]))
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let refused = grants(json!([
        {"project": "web", "environment": "staging", "role": "deployer"},
        {"project": "web", "environment": "staging", "role": "viewer"}
    ]))
    .await
    .unwrap();
    assert_eq!(refused.status(), 422);
    let lock_request = jeny_deploys::LockRequest {
        reason: "testing".to_owned(),
        expires_at: None,
    };
    let lock =
        |environment: &'static str| viewer.lock_environment("web", environment, &lock_request);
    assert_eq!(status_of(lock("staging").await), 403);
    // Deployer on staging, still a viewer on production.
    let response =
        grants(json!([{"project": "web", "environment": "staging", "role": "deployer"}]))
            .await
            .unwrap();
    assert_eq!(response.status(), 200);
    let person: Value = response.json().await.unwrap();
    assert_eq!(person["grants"][0]["environment"], "staging");
    lock("staging").await.unwrap();
    let refused = jeny_testkit_problem(lock("production").await);
    assert!(
        refused.contains("deployer role on web/production"),
        "{refused}"
    );
    // A project-wide grant; the environment's own grant still wins there.
    grants(json!([
        {"project": "web", "role": "deployer"},
        {"project": "web", "environment": "production", "role": "viewer"}
    ]))
    .await
    .unwrap();
    viewer
        .patch_project("web", &json!({"title": "Web shop"}), None)
        .await
        .unwrap();
    assert_eq!(status_of(lock("production").await), 403);
    assert_eq!(
        status_of(
            viewer
                .patch_project("blog", &json!({"title": "x"}), None)
                .await
        ),
        403
    );
    // The role is global again once grants are cleared.
    grants(json!([])).await.unwrap();
    assert_eq!(
        status_of(
            viewer
                .patch_project("web", &json!({"title": "y"}), None)
                .await
        ),
        403
    );
    let changed = events_of_kind(&app, "person.grants_changed").await;
    assert_eq!(changed.len(), 3, "{changed:?}");
    // The last admin stays one.
    let response = admin
        .request(reqwest::Method::PATCH, "/api/v1/people/admin@example.com")
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let response = admin
        .request(reqwest::Method::PATCH, "/api/v1/people/viewer@example.com")
        .json(&json!({"role": "deployer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // now a global deployer, with no grants left: production too
    lock("production").await.unwrap();
}

fn jeny_testkit_problem<T: std::fmt::Debug>(
    result: Result<T, jeny_testkit::ClientError>,
) -> String {
    crate::problem_of(result).detail
}

async fn the_device_flow_gives_a_token_once_approved(backend: Backend) {
    let app = TestApp::spawn_on(TestDatabase::create(backend).await, |config| {
        config.sign_in.device_poll_interval_secs = 1;
    })
    .await;
    let client = app.anonymous();
    let started = client
        .start_device_login("jeny-cli", "jeny login on test")
        .await
        .unwrap();
    assert_eq!(started.interval, 1);
    assert_eq!(started.verification_uri, format!("{}/auth/device", app.url));
    assert!(
        started
            .verification_uri_complete
            .ends_with(&started.user_code)
    );
    let poll = || client.poll_device_login("jeny-cli", &started.device_code);
    assert_eq!(poll().await.unwrap(), jeny_client::DevicePoll::Pending);
    assert_eq!(
        poll().await.unwrap(),
        jeny_client::DevicePoll::SlowDown,
        "polled at once"
    );
    // Not signed in: the page says to sign in first (no OIDC here).
    let mut stranger = Browser::new(&app.url);
    assert_eq!(
        stranger
            .get(&started.verification_uri_complete)
            .await
            .status,
        401
    );
    let page = stranger
        .post_form(
            "/auth/device",
            &[("user_code", &started.user_code), ("action", "approve")],
        )
        .await;
    assert_eq!(page.status, 401);
    // The signed-in person sees what asks, and approves (the code typed in lower case).
    let mut browser = app.admin_browser().await;
    let page = browser.get(&started.verification_uri_complete).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("jeny login on test"), "{}", page.body);
    let page = browser
        .post_form(
            "/auth/device",
            &[
                ("user_code", &started.user_code.to_lowercase()),
                ("action", "approve"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let jeny_client::DevicePoll::Token(token) = poll().await.unwrap() else {
        panic!("no token after approval");
    };
    let signed_in = app.anonymous().with_token(Some(token));
    let me = signed_in.me().await.unwrap();
    assert_eq!(me.email, "admin@localhost");
    assert_eq!(me.token.unwrap().name, "jeny login on test");
    // Once only; and a code cannot be approved twice.
    assert!(matches!(
        poll().await.unwrap(),
        jeny_client::DevicePoll::Refused(_)
    ));
    let page = browser
        .post_form(
            "/auth/device",
            &[("user_code", &started.user_code), ("action", "approve")],
        )
        .await;
    assert_eq!(page.status, 404);
    // Denied.
    let denied = client.start_device_login("jeny-cli", "x").await.unwrap();
    browser
        .post_form(
            "/auth/device",
            &[("user_code", &denied.user_code), ("action", "deny")],
        )
        .await;
    assert_eq!(
        client
            .poll_device_login("jeny-cli", &denied.device_code)
            .await
            .unwrap(),
        jeny_client::DevicePoll::Denied
    );
    // Expired.
    let expired = client.start_device_login("jeny-cli", "x").await.unwrap();
    exec_sql(
        &app,
        &format!(
            "UPDATE device_codes SET expires_at = 0 WHERE user_code = '{}'",
            expired.user_code
        ),
    )
    .await;
    assert_eq!(
        client
            .poll_device_login("jeny-cli", &expired.device_code)
            .await
            .unwrap(),
        jeny_client::DevicePoll::Expired
    );
    // Wrong requests get OAuth errors.
    let response = app
        .anonymous()
        .request(reqwest::Method::POST, "/auth/device/token")
        .form(&[("grant_type", "password"), ("device_code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "unsupported_grant_type");
    let response = app
        .anonymous()
        .request(reqwest::Method::POST, "/auth/device/code")
        .form(&[("client_name", "no id")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

/// Every page says it may not be framed (clickjacking: a framed approval page and one click
/// would hand out a token): the sign-in pages, the device approval page signed in or not, the
/// web app, and API answers, with the web app's own policy kept and `frame-ancestors` merged in.
async fn no_page_can_be_framed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = app.admin_browser().await;
    let cookie = format!("jeny_session={}", browser.cookies["jeny_session"]);
    let started = app
        .anonymous()
        .start_device_login("jeny-cli", "jeny login")
        .await
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let device_page = format!("/auth/device?user_code={}", started.user_code);
    let pages: Vec<(reqwest::Method, &str, bool)> = vec![
        (reqwest::Method::GET, device_page.as_str(), true),
        (reqwest::Method::GET, device_page.as_str(), false),
        (reqwest::Method::GET, "/auth/login?next=/projects", false),
        (reqwest::Method::GET, "/auth/link/jenyl_unknown", false),
        (reqwest::Method::POST, "/auth/logout", false),
        (reqwest::Method::GET, "/", false),
        (reqwest::Method::GET, "/projects/web", true),
        (reqwest::Method::GET, "/api/v1/me", true),
        (reqwest::Method::GET, "/api/v1/nothing-here", true),
    ];
    for (method, path, signed_in) in pages {
        let mut request = http.request(method.clone(), format!("{}{path}", app.url));
        if signed_in {
            request = request.header("cookie", &cookie);
        }
        let response = request.send().await.unwrap();
        let what = format!(
            "{method} {path} (signed in: {signed_in}, {})",
            response.status()
        );
        assert_eq!(
            response
                .headers()
                .get("x-frame-options")
                .map(|v| v.to_str().unwrap()),
            Some("DENY"),
            "{what}"
        );
        let policies: Vec<&str> = response
            .headers()
            .get_all("content-security-policy")
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect();
        let frame_ancestors: Vec<&str> = policies
            .iter()
            .flat_map(|policy| policy.split(';'))
            .map(str::trim)
            .filter(|directive| directive.starts_with("frame-ancestors"))
            .collect();
        assert_eq!(
            frame_ancestors,
            ["frame-ancestors 'none'"],
            "{what}: {policies:?}"
        );
        if path == "/" {
            assert!(
                policies
                    .iter()
                    .any(|policy| policy.contains("script-src 'self'")),
                "the web app keeps its own policy: {policies:?}"
            );
        }
    }
}

/// A small site that answers `GET /start` with `303 Location: <location>` (the exact bytes
/// jeny sent) and `200` to anything else, and records the paths it was asked for.
async fn replay_site(
    location: Option<Vec<u8>>,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = asked.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let record = record.clone();
            let location = location.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let path = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                record.lock().unwrap().push(path.clone());
                let mut response = Vec::new();
                match &location {
                    Some(location) if path == "/start" => {
                        response.extend_from_slice(b"HTTP/1.1 303 See Other\r\nlocation: ");
                        response.extend_from_slice(location);
                        response.extend_from_slice(b"\r\ncontent-length: 0\r\n");
                    }
                    _ => response.extend_from_slice(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 6\r\n",
                    ),
                }
                response.extend_from_slice(b"connection: close\r\n\r\n");
                if !(location.is_some() && path == "/start") {
                    response.extend_from_slice(b"landed");
                }
                let _ = socket.write_all(&response).await;
            });
        }
    });
    (address, asked)
}

/// The open redirect of the probe, in a real browser: after signing in with each `next` an
/// attacker might craft, the `Location` jeny answers, followed by headless Chromium (Debian's,
/// `tests/peers/chromium/setup`) from an http origin, never reaches `evil.example` (which
/// Chromium resolves to a local site that records visits) and lands on the origin. The backend
/// plays no part, so this runs on SQLite only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crafted_next_never_sends_chromium_to_another_site() {
    let chromium = std::path::Path::new("/usr/bin/chromium");
    assert!(
        chromium.exists(),
        "this test needs Debian's chromium: run tests/peers/chromium/setup"
    );
    let provider = OidcProvider::start().await;
    let app = app_with_oidc(Backend::Sqlite, &provider, |config| {
        config.sign_in.signin_attempts_per_minute = 1000;
    })
    .await;
    provider
        .set_user(
            "alice@example.com",
            json!({"email": "alice@example.com", "email_verified": true}),
        )
        .await;
    let (evil, evil_visits) = replay_site(None).await;
    let payloads = [
        ("/\t/evil.example/stolen", "/"),
        ("/%09/evil.example/stolen", "/"),
        ("/\n/evil.example/stolen", "/"),
        ("/\\evil.example/stolen", "/"),
        ("/%5Cevil.example/stolen", "/"),
        ("//evil.example/stolen", "/"),
        ("/%2F%2Fevil.example/stolen", "/"),
        (" //evil.example/stolen", "/"),
        ("https://evil.example/stolen", "/"),
        ("http:evil.example/stolen", "/"),
        ("/projects/web?tab=deploys", "/projects/web?tab=deploys"),
    ];
    for (payload, expected) in payloads {
        let next: String = payload.bytes().map(|byte| format!("%{byte:02X}")).collect();
        let mut browser = Browser::new(&app.url);
        let start = browser.get(&format!("/auth/login?next={next}")).await;
        assert_eq!(start.status, 303, "{}", start.body);
        let callback = provider
            .approve(
                &start.location.expect("to the provider"),
                "alice@example.com",
            )
            .await;
        let answer = browser
            .http()
            .get(&callback)
            .header(
                "cookie",
                format!("jeny_login={}", browser.cookies["jeny_login"]),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 303, "{payload:?}");
        let location = answer.headers()["location"].as_bytes().to_vec();

        let (origin, origin_visits) = replay_site(Some(location.clone())).await;
        let profile = tempfile::tempdir().unwrap();
        let run = tokio::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                &format!("--user-data-dir={}", profile.path().display()),
                &format!(
                    "--host-resolver-rules=MAP evil.example 127.0.0.1:{}",
                    evil.port()
                ),
                "--dump-dom",
                &format!("http://{origin}/start"),
            ])
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(std::time::Duration::from_secs(60), run)
            .await
            .expect("chromium did not finish in a minute")
            .expect("chromium runs");
        let dom = String::from_utf8_lossy(&output.stdout);
        assert!(
            evil_visits.lock().unwrap().is_empty(),
            "{payload:?}: chromium went to evil.example: {:?}",
            evil_visits.lock().unwrap()
        );
        assert!(dom.contains("landed"), "{payload:?}: chromium shows {dom}");
        let visits: Vec<String> = origin_visits
            .lock()
            .unwrap()
            .iter()
            .filter(|path| *path != "/favicon.ico")
            .cloned()
            .collect();
        assert_eq!(
            visits,
            ["/start", expected],
            "{payload:?}: chromium stays on the origin"
        );
        assert_eq!(
            String::from_utf8_lossy(&location),
            expected,
            "{payload:?}: where jeny sends the browser"
        );
    }
}

/// A number that `sql` counts in the app's database.
async fn exec_count(app: &TestApp, sql: &str) -> i64 {
    jeny_store::sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(app.store.reader())
        .await
        .unwrap()
}

/// A device code works only for the client that asked for it (RFC 8628 binds them): a poll by
/// another `client_id` gets `invalid_grant` and no token, and the right client still gets it.
async fn a_device_code_gives_its_token_only_to_the_client_that_asked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.anonymous();
    let started = client
        .start_device_login("jeny-cli", "jeny login on laptop")
        .await
        .unwrap();
    let mut browser = app.admin_browser().await;
    let page = browser
        .post_form(
            "/auth/device",
            &[("user_code", &started.user_code), ("action", "approve")],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let tokens_before = exec_count(&app, "SELECT COUNT(*) FROM api_tokens").await;

    let response = app
        .anonymous()
        .request(reqwest::Method::POST, "/auth/device/token")
        .form(&[
            ("grant_type", jeny_auth::DEVICE_GRANT_TYPE),
            ("device_code", &started.device_code),
            ("client_id", "another-client"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_grant", "{error}");
    assert!(error.get("access_token").is_none(), "{error}");
    // Without a client_id, no token either.
    let response = app
        .anonymous()
        .request(reqwest::Method::POST, "/auth/device/token")
        .form(&[
            ("grant_type", jeny_auth::DEVICE_GRANT_TYPE),
            ("device_code", &started.device_code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_request", "{error}");
    assert_eq!(
        exec_count(&app, "SELECT COUNT(*) FROM api_tokens").await,
        tokens_before,
        "a refused poll made a token"
    );

    let jeny_client::DevicePoll::Token(token) = client
        .poll_device_login("jeny-cli", &started.device_code)
        .await
        .unwrap()
    else {
        panic!("the client that asked gets the token");
    };
    let me = app.anonymous().with_token(Some(token)).me().await.unwrap();
    assert_eq!(me.email, "admin@localhost");
}

/// `/auth/verify` takes each parameter once: `?role=viewer&role=admin` is a 422, not a 204
/// for whoever passes the first.
async fn forward_auth_refuses_a_repeated_parameter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let viewer = app.with_viewer().await;
    let ask = |query: &'static str| {
        viewer
            .request(reqwest::Method::GET, &format!("/auth/verify{query}"))
            .send()
    };
    assert_eq!(ask("?role=viewer").await.unwrap().status(), 204);
    assert_eq!(ask("?role=admin").await.unwrap().status(), 403);
    for query in [
        "?role=viewer&role=admin",
        "?role=admin&role=viewer",
        "?role=viewer&role=viewer",
        "?login=redirect&login=redirect",
    ] {
        let response = ask(query).await.unwrap();
        assert_eq!(response.status(), 422, "{query}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{query}"
        );
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|detail| detail.contains("more than once")),
            "{query}: {problem}"
        );
    }
}

async fn a_console_link_signs_in_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let link = app.auth.create_signin_link().await.unwrap();
    let path = format!("/auth/link/{}", link.expose());
    let mut first = Browser::new(&app.url);
    let page = first.get(&path).await;
    assert_eq!(page.status, 303);
    let (status, who) = me(&mut first).await;
    assert_eq!(status, 200);
    assert_eq!(who["email"], "admin@localhost");
    assert_eq!(who["role"], "admin");
    let mut second = Browser::new(&app.url);
    let page = second.get(&path).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("already used"), "{}", page.body);
    assert!(!second.cookies.contains_key("jeny_session"));
    // An expired one.
    let stale = app.auth.create_signin_link().await.unwrap();
    exec_sql(
        &app,
        "UPDATE signin_links SET expires_at = 0 WHERE used_at IS NULL",
    )
    .await;
    let page = second.get(&format!("/auth/link/{}", stale.expose())).await;
    assert_eq!(page.status, 403);
    // Without OIDC, /auth/login says how to get in.
    let page = second.get("/auth/login").await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("jeny admin sign-in-link"));
}

async fn sign_in_attempts_are_rate_limited(backend: Backend) {
    let app = TestApp::spawn_on(TestDatabase::create(backend).await, |config| {
        config.sign_in.signin_attempts_per_minute = 3;
    })
    .await;
    let mut browser = Browser::new(&app.url);
    for _ in 0..3 {
        assert_eq!(browser.get("/auth/link/jenyl_guess").await.status, 403);
    }
    let response = browser
        .http()
        .get(format!("{}/auth/link/jenyl_guess", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    assert!(response.text().await.unwrap().contains("too_many_requests"));
    // API calls with a token are not sign-in attempts.
    assert!(
        app.with_admin()
            .await
            .list_projects(None, None)
            .await
            .is_ok()
    );
}

/// Behind a trusted reverse proxy, each client has its own allowance (by X-Forwarded-For), and
/// its session records its own address; an untrusted peer's X-Forwarded-For is ignored.
async fn behind_a_trusted_proxy_each_client_counts_apart(backend: Backend) {
    let app = TestApp::spawn_on(TestDatabase::create(backend).await, |config| {
        config.sign_in.signin_attempts_per_minute = 2;
        config.sign_in.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let attempt = |client: &'static str| {
        http.get(format!("{}/auth/link/jenyl_guess", app.url))
            // what the client claims, then what the proxy saw
            .header("x-forwarded-for", format!("203.0.113.99, {client}"))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(attempt("198.51.100.1").await.unwrap().status(), 403);
    }
    assert_eq!(attempt("198.51.100.1").await.unwrap().status(), 429);
    assert_eq!(
        attempt("198.51.100.2").await.unwrap().status(),
        403,
        "another client"
    );
    // The session of a client signing in through the proxy records the client's address.
    let link = app.auth.create_signin_link().await.unwrap();
    let signed_in = http
        .get(format!("{}/auth/link/{}", app.url, link.expose()))
        .header("x-forwarded-for", "198.51.100.3")
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let sessions: Vec<Value> = http
        .get(format!("{}/api/v1/me/sessions", app.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions[0]["ip"], "198.51.100.3");
}

async fn an_untrusted_peer_cannot_pick_its_address(backend: Backend) {
    let app = TestApp::spawn_on(TestDatabase::create(backend).await, |config| {
        config.sign_in.signin_attempts_per_minute = 2;
    })
    .await;
    let http = reqwest::Client::new();
    for (index, client) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        .iter()
        .enumerate()
    {
        let status = http
            .get(format!("{}/auth/link/jenyl_guess", app.url))
            .header("x-forwarded-for", *client)
            .send()
            .await
            .unwrap()
            .status();
        let expected = if index < 2 { 403 } else { 429 };
        assert_eq!(
            status, expected,
            "X-Forwarded-For from an untrusted peer is ignored"
        );
    }
}

both_backends!(
    behind_a_trusted_proxy_each_client_counts_apart,
    an_untrusted_peer_cannot_pick_its_address,
    an_allowed_person_signs_in_and_others_are_refused,
    tampered_or_forged_answers_sign_no_one_in,
    a_hosted_domain_admits_only_its_accounts,
    sessions_are_listed_revoked_and_expire,
    removing_someone_from_the_allowlist_ends_their_access,
    a_role_on_an_environment_overrides_the_global_one,
    the_device_flow_gives_a_token_once_approved,
    a_device_code_gives_its_token_only_to_the_client_that_asked,
    forward_auth_refuses_a_repeated_parameter,
    no_page_can_be_framed,
    a_console_link_signs_in_once,
    sign_in_attempts_are_rate_limited
);
