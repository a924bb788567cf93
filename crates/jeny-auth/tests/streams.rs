//! A long answer's guard (`jeny_http::CredentialGuard`) against the real auth part on both
//! backends: the stream ends when its token is revoked or its person no longer has the role the
//! stream needs, whether it is sending or waiting, and what comes after is not sent.

use futures_util::StreamExt;
use futures_util::stream::{self, Stream};
use jeny_auth::{AuthConfig, AuthService, Email, PersonUpdate, issue_token};
use jeny_core::{Principal, Role};
use jeny_http::{Authenticator, Authenticators, CredentialGuard};
use jeny_store::testing::TestDatabase;
use jeny_store::{Backend, both_backends};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

both_backends!(
    a_busy_stream_sends_nothing_after_its_person_is_demoted,
    a_waiting_stream_ends_when_its_person_is_demoted,
    a_stream_ends_when_its_token_is_revoked_unannounced,
);

/// The time a guard has to notice, with room for a slow machine (the periodic check is 5 s).
const DEADLINE: Duration = Duration::from_secs(4);

struct Setup {
    auth: Arc<AuthService>,
    principal: Principal,
    _database: TestDatabase,
}

/// `ops@example.com`, an admin with a token, authenticated; another admin so that ops may be
/// demoted.
async fn setup(backend: Backend) -> (Setup, String) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    for (email, role) in [
        ("boss@example.com", Role::Admin),
        ("ops@example.com", Role::Admin),
    ] {
        issue_token(&store, &Email::parse(email).unwrap(), role, "setup", "test")
            .await
            .unwrap();
    }
    let issued = issue_token(
        &store,
        &Email::parse("ops@example.com").unwrap(),
        Role::Admin,
        "stream",
        "test",
    )
    .await
    .unwrap();
    let auth = Arc::new(AuthService::new(store, AuthConfig::new("http://localhost")));
    let parts = http::Request::builder()
        .header("authorization", format!("Bearer {}", issued.token.expose()))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let principal = auth.authenticate(&parts).await.unwrap();
    (
        Setup {
            auth,
            principal,
            _database: database,
        },
        issued.token_id,
    )
}

/// A stream the test feeds, watched by a guard that needs `needed`.
fn guarded(
    setup: &Setup,
    needed: Role,
) -> (
    mpsc::UnboundedSender<u32>,
    impl Stream<Item = u32> + Unpin + Send + use<>,
) {
    let (sender, receiver) = mpsc::unbounded_channel::<u32>();
    let source = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    let guard = CredentialGuard::new(
        Authenticators(setup.auth.clone() as Arc<dyn Authenticator>),
        setup.principal.clone(),
    )
    .requiring(move |principal| principal.role >= needed);
    (sender, Box::pin(guard.watch(source)))
}

async fn demote(setup: &Setup) {
    setup
        .auth
        .update_person(
            "boss@example.com",
            "ops@example.com",
            PersonUpdate { role: Role::Viewer },
        )
        .await
        .unwrap();
}

async fn a_busy_stream_sends_nothing_after_its_person_is_demoted(backend: Backend) {
    let (setup, _) = setup(backend).await;
    let (feed, mut stream) = guarded(&setup, Role::Deployer);
    feed.send(1).unwrap();
    assert_eq!(stream.next().await, Some(1));

    demote(&setup).await;
    // Already waiting in the stream when the demotion is noticed: never sent.
    feed.send(2).unwrap();
    let after = tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("the stream did not end after the demotion");
    assert_eq!(after, None, "an item went out after the demotion");
}

async fn a_waiting_stream_ends_when_its_person_is_demoted(backend: Backend) {
    let (setup, _) = setup(backend).await;
    let (feed, mut stream) = guarded(&setup, Role::Deployer);
    feed.send(1).unwrap();
    assert_eq!(stream.next().await, Some(1));
    // A stream that needs only a viewer goes on.
    let (viewer_feed, mut viewer_stream) = guarded(&setup, Role::Viewer);

    let waiting = tokio::spawn(async move {
        let next = tokio::time::timeout(DEADLINE, stream.next()).await;
        (next, feed)
    });
    demote(&setup).await;
    let (next, _feed) = waiting.await.unwrap();
    assert_eq!(
        next.expect("the waiting stream did not end after the demotion"),
        None
    );
    viewer_feed.send(7).unwrap();
    assert_eq!(viewer_stream.next().await, Some(7));
}

/// A revocation nobody announced (written straight to the database, by hand or by an older
/// node) still ends the stream, at the periodic check at the latest.
async fn a_stream_ends_when_its_token_is_revoked_unannounced(backend: Backend) {
    let (setup, token_id) = setup(backend).await;
    let (feed, mut stream) = guarded(&setup, Role::Viewer);
    feed.send(1).unwrap();
    assert_eq!(stream.next().await, Some(1));

    let store = setup.auth.store().clone();
    let mut tx = store.begin().await.unwrap();
    jeny_store::sqlx::query("UPDATE api_tokens SET revoked_at = 1 WHERE id = $1")
        .bind(&token_id)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let after = tokio::time::timeout(jeny_http::RECHECK_EVERY + DEADLINE, stream.next())
        .await
        .expect("the stream did not end after the revocation");
    assert_eq!(after, None);
}
