//! Live answers end with their credential: an event stream, a deploy's output stream and a
//! followed output, opened with a token, end within seconds of the token's revocation; an event
//! stream opened by a browser session ends when the session signs out; and what is written after
//! is not sent on them. (Demotion is checked against the guard itself in
//! `crates/jeny-auth/tests/streams.rs`: no stream of the API needs more than a viewer yet.)

use crate::{environment, host, project};
use futures_util::{Stream, StreamExt};
use jeny_deploys::{DeployRequest, DeployStatus};
use jeny_testkit::{Backend, Client, TestApp, both_backends};
use std::time::Duration;

both_backends!(
    an_event_stream_ends_when_its_token_is_revoked,
    an_event_stream_ends_when_its_session_signs_out,
    output_streams_end_when_their_token_is_revoked,
);

/// How long a stream may outlive its credential here: the guard reacts to the revocation's
/// announcement at once; this leaves room for a slow machine.
const DEADLINE: Duration = Duration::from_secs(10);

type Body = std::pin::Pin<Box<dyn Stream<Item = reqwest::Result<Vec<u8>>> + Send>>;

/// Opens `path` as a stream with `request`'s credentials.
async fn open(request: reqwest::RequestBuilder, accept: &str) -> Body {
    let response = request.header("accept", accept).send().await.unwrap();
    assert_eq!(response.status(), 200);
    Box::pin(
        response
            .bytes_stream()
            .map(|chunk| chunk.map(|bytes| bytes.to_vec())),
    )
}

/// Reads until `needle` has arrived (30 s at most).
async fn read_until(stream: &mut Body, needle: &str) -> String {
    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !received.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("{needle:?} did not arrive: {received}"))
            .expect("the stream ended early")
            .unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    received
}

/// Reads until the server ends the stream: what arrived meanwhile. Panics when it is still open
/// at the deadline.
async fn read_to_end(stream: &mut Body, what: &str) -> String {
    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(chunk))) => received.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Some(Err(_)) | None) => return received,
            Err(_) => panic!("{what}: the stream is still open after {DEADLINE:?}: {received}"),
        }
    }
}

/// A second API token of the admin, for the stream, and its id.
async fn stream_token(admin: &Client) -> (String, String) {
    let created: serde_json::Value = admin
        .request(reqwest::Method::POST, "/api/v1/me/tokens")
        .json(&serde_json::json!({"name": "stream"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        created["token"].as_str().unwrap().to_owned(),
        created["id"].as_str().unwrap().to_owned(),
    )
}

async fn an_event_stream_ends_when_its_token_is_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let (token, token_id) = stream_token(&admin).await;
    let streamer = app.anonymous().with_token(Some(token));
    let mut stream = open(
        streamer.request(reqwest::Method::GET, "/api/v1/events?after=latest"),
        "text/event-stream",
    )
    .await;
    admin.create_project(&project("before")).await.unwrap();
    read_until(&mut stream, "\"name\":\"before\"").await;

    admin.revoke_token(&token_id).await.unwrap();
    admin
        .create_project(&project("after-revocation"))
        .await
        .unwrap();
    let received = read_to_end(&mut stream, "a revoked token's event stream").await;
    assert!(
        !received.contains("after-revocation"),
        "an event written after the revocation was sent: {received}"
    );
    // The token is refused for a new stream, too.
    let refused = streamer
        .request(reqwest::Method::GET, "/api/v1/events")
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}

async fn an_event_stream_ends_when_its_session_signs_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let browser = app.admin_browser().await;
    let cookie = format!("jeny_session={}", browser.cookies["jeny_session"]);
    let mut stream = open(
        app.anonymous()
            .request(reqwest::Method::GET, "/api/v1/events?after=latest")
            .header("cookie", &cookie),
        "text/event-stream",
    )
    .await;
    admin.create_project(&project("before")).await.unwrap();
    read_until(&mut stream, "\"name\":\"before\"").await;

    let signed_out = app
        .anonymous()
        .request(reqwest::Method::POST, "/auth/logout")
        .header("cookie", &cookie)
        .header("origin", &app.url)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 200);
    admin
        .create_project(&project("after-sign-out"))
        .await
        .unwrap();
    let received = read_to_end(&mut stream, "a signed-out session's event stream").await;
    assert!(
        !received.contains("after-sign-out"),
        "an event written after the sign-out was sent: {received}"
    );
}

async fn output_streams_end_when_their_token_is_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    let mut input = project("app");
    // Output all the time, for a minute: the streams are busy when the token is revoked.
    input.deploy_command =
        "i=0; while [ $i -lt 1200 ]; do echo tick-$i; i=$((i+1)); sleep 0.05; done".to_owned();
    admin.create_project(&input).await.unwrap();
    admin
        .create_environment("app", &environment("production", &[("role", "web")]))
        .await
        .unwrap();
    admin
        .create_host(&host("web-1", &[("role", "web")]))
        .await
        .unwrap();
    let deploy = admin
        .create_deploy("app", "production", &DeployRequest::default())
        .await
        .unwrap();
    let (token, token_id) = stream_token(&admin).await;
    let streamer = app.anonymous().with_token(Some(token));
    let output = format!("/api/v1/deploys/{}/output", deploy.id);
    let mut events = open(
        streamer.request(reqwest::Method::GET, &output),
        "text/event-stream",
    )
    .await;
    let mut followed = open(
        streamer.request(reqwest::Method::GET, &format!("{output}?follow=true")),
        "text/plain",
    )
    .await;
    read_until(&mut events, "tick-3").await;
    read_until(&mut followed, "tick-3").await;

    admin.revoke_token(&token_id).await.unwrap();
    let received = read_to_end(&mut events, "a revoked token's output stream").await;
    assert!(
        !received.contains("event: end"),
        "the stream ended with the deploy, not with the token: {received}"
    );
    read_to_end(&mut followed, "a revoked token's followed output").await;
    assert_eq!(
        admin.get_deploy(&deploy.id).await.unwrap().status,
        DeployStatus::Running,
        "the deploy goes on; only the streams ended"
    );
    admin.cancel_deploy(&deploy.id).await.unwrap();
    admin.wait_for_deploy(&deploy.id).await.unwrap();
}
