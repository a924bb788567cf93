//! Tokens on both backends: issued once, stored hashed, verified into a principal.

use jeny_auth::{AuthConfig, AuthService, Email, issue_token};
use jeny_core::Role;
use jeny_store::testing::TestDatabase;
use jeny_store::{Backend, Row, both_backends, sqlx};

async fn an_issued_token_authenticates_as_its_person(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let email = Email::parse("Ops@Example.com").unwrap();
    let issued = issue_token(&store, &email, Role::Admin, "laptop", "jeny")
        .await
        .unwrap();
    let authenticator = AuthService::new(store.clone(), AuthConfig::new("http://localhost"));
    use jeny_http::Authenticator;
    let principal = authenticator
        .authenticate(&with_authorization(&format!(
            "Bearer {}",
            issued.token.expose()
        )))
        .await
        .unwrap();
    assert_eq!(principal.email, "ops@example.com");
    assert_eq!(principal.role, Role::Admin);
    for refused in [
        "Bearer jeny_not-a-real-token",
        "Bearer nonsense",
        "Basic abc",
    ] {
        let error = authenticator
            .authenticate(&with_authorization(refused))
            .await
            .unwrap_err();
        assert_eq!(
            error.code,
            jeny_core::ErrorCode::Unauthenticated,
            "{refused}"
        );
    }
}

fn with_authorization(value: &str) -> http::request::Parts {
    http::Request::builder()
        .header("authorization", value)
        .body(())
        .unwrap()
        .into_parts()
        .0
}

async fn tokens_are_stored_hashed_and_reissuing_updates_the_role(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let email = Email::parse("dev@example.com").unwrap();
    let first = issue_token(&store, &email, Role::Viewer, "ci", "jeny")
        .await
        .unwrap();
    let second = issue_token(&store, &email, Role::Deployer, "ci", "jeny")
        .await
        .unwrap();
    assert_eq!(first.person.id, second.person.id);
    let rows = sqlx::query("SELECT token_hash FROM api_tokens")
        .fetch_all(store.reader())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let stored: String = row.get("token_hash");
        assert!(!stored.contains(first.token.expose().as_str()) && !stored.starts_with("jeny_"));
    }
    let role: String = sqlx::query("SELECT role FROM people")
        .fetch_one(store.reader())
        .await
        .unwrap()
        .get("role");
    assert_eq!(role, "deployer");
    let kinds: Vec<String> = sqlx::query("SELECT type FROM events ORDER BY id")
        .fetch_all(store.reader())
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("type"))
        .collect();
    assert_eq!(kinds, ["person.created", "token.created", "token.created"]);
}

async fn the_last_admin_cannot_be_demoted_by_a_new_token(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let admin = Email::parse("ops@example.com").unwrap();
    issue_token(&store, &admin, Role::Admin, "laptop", "jeny")
        .await
        .unwrap();
    let refused = issue_token(&store, &admin, Role::Viewer, "laptop", "jeny")
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("last admin"), "{refused}");
    let other = Email::parse("second@example.com").unwrap();
    issue_token(&store, &other, Role::Admin, "laptop", "jeny")
        .await
        .unwrap();
    let demoted = issue_token(&store, &admin, Role::Viewer, "laptop", "jeny")
        .await
        .unwrap();
    assert_eq!(demoted.person.role, Role::Viewer);
}

both_backends!(
    the_last_admin_cannot_be_demoted_by_a_new_token,
    an_issued_token_authenticates_as_its_person,
    tokens_are_stored_hashed_and_reissuing_updates_the_role
);
