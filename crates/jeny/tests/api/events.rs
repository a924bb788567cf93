//! The event log through the API: every change is an event, readable after an id and live.

use crate::{environment, host, project, variable};
use futures_util::StreamExt;
use jeny_testkit::{Backend, TestApp, VariableScope, both_backends};
use serde_json::json;
use std::time::Duration;

async fn every_change_appends_one_event_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    let before = client
        .list_events(0, Some(500), None, None)
        .await
        .unwrap()
        .items
        .last()
        .map(|e| e.id)
        .unwrap_or(0);
    client.create_project(&project("web")).await.unwrap();
    client
        .patch_project("web", &json!({"title": "Web"}), None)
        .await
        .unwrap();
    client
        .create_environment("web", &environment("production", &[("role", "web")]))
        .await
        .unwrap();
    client
        .put_variable(
            VariableScope::Environment("web", "production"),
            "A",
            &variable("A", Some("1"), false),
            None,
        )
        .await
        .unwrap();
    client
        .create_host(&host("web-1", &[("role", "web")]))
        .await
        .unwrap();
    client.delete_host("web-1", None).await.unwrap();
    client.delete_project("web", None).await.unwrap();
    // Refused changes leave no event.
    assert!(client.create_project(&project("Bad")).await.is_err());

    let events = client
        .list_events(before, Some(500), None, None)
        .await
        .unwrap()
        .items;
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "project.created",
            "project.updated",
            "environment.created",
            "variable.created",
            "host.created",
            "host.deleted",
            "project.deleted"
        ]
    );
    assert!(events.windows(2).all(|pair| pair[0].id < pair[1].id));
    assert!(events.iter().all(|e| e.actor == "admin@example.com"));
    assert_eq!(events[1].payload["before"]["title"], "web");
    assert_eq!(events[1].payload["after"]["title"], "Web");
    assert_eq!(events[3].project.as_deref(), Some("web"));
    assert_eq!(events[3].environment.as_deref(), Some("production"));

    let only_web = client
        .list_events(before, None, Some("web"), Some("project."))
        .await
        .unwrap()
        .items;
    assert_eq!(only_web.len(), 3);
    let first_two = client
        .list_events(before, Some(2), None, None)
        .await
        .unwrap();
    assert_eq!(first_two.items.len(), 2);
    assert_eq!(
        first_two.next_cursor.as_deref(),
        Some(first_two.items[1].id.to_string().as_str())
    );
}

/// Reads an SSE body until `needle` arrives (30 s at most): what arrived so far.
async fn read_until<Chunk: AsRef<[u8]>>(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<Chunk>> + Unpin),
    needle: &str,
    failure: &str,
) -> String {
    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !received.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect(failure)
            .unwrap()
            .unwrap();
        received.push_str(&String::from_utf8_lossy(chunk.as_ref()));
    }
    received
}

async fn the_live_stream_delivers_new_events_and_resumes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    let start = client
        .list_events(0, Some(500), None, None)
        .await
        .unwrap()
        .items
        .last()
        .map(|e| e.id)
        .unwrap_or(0);
    let response = client
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/events?after={start}"),
        )
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = response.bytes_stream();
    client.create_project(&project("live")).await.unwrap();
    let received = read_until(
        &mut stream,
        "event: project.created",
        "no live event in time",
    )
    .await;
    assert!(received.contains("\"name\":\"live\""), "{received}");
    let id_line = received
        .lines()
        .find(|line| line.starts_with("id:"))
        .unwrap();
    let live_id: i64 = id_line.trim_start_matches("id:").trim().parse().unwrap();

    // A reconnect with Last-Event-ID gets only what came after.
    client.create_project(&project("later")).await.unwrap();
    let resumed = client
        .request(reqwest::Method::GET, "/api/v1/events")
        .header("accept", "text/event-stream")
        .header("last-event-id", live_id.to_string())
        .send()
        .await
        .unwrap();
    let mut stream = resumed.bytes_stream();
    let received = read_until(
        &mut stream,
        "event: project.created",
        "no resumed event in time",
    )
    .await;
    assert!(received.contains("\"name\":\"later\""), "{received}");
    assert!(
        !received.contains("\"name\":\"live\""),
        "an event before Last-Event-ID came again"
    );
}

async fn a_view_starts_from_the_latest_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.with_admin().await;
    client.create_project(&project("before")).await.unwrap();
    // A page from `latest` is empty: everything so far is behind it.
    let page: serde_json::Value = client
        .request(reqwest::Method::GET, "/api/v1/events?after=latest")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"], serde_json::json!([]), "{page}");
    // A stream from `latest` carries what comes next, and nothing before.
    let response = client
        .request(reqwest::Method::GET, "/api/v1/events?after=latest")
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    client.create_project(&project("after")).await.unwrap();
    let received = read_until(
        &mut stream,
        "event: project.created",
        "no live event in time",
    )
    .await;
    assert!(received.contains("\"name\":\"after\""), "{received}");
    assert!(!received.contains("\"name\":\"before\""), "{received}");
    let refused = client
        .request(reqwest::Method::GET, "/api/v1/events?after=soon")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
}

both_backends!(
    every_change_appends_one_event_in_order,
    the_live_stream_delivers_new_events_and_resumes,
    a_view_starts_from_the_latest_event
);
