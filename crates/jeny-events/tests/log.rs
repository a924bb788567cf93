//! The event log's contract on both backends: append is transactional, reads are ordered and
//! filtered, a follower never misses an event committed concurrently, and subscribers resume from
//! their durable cursor.

use futures_util::future::BoxFuture;
use jeny_events::{
    BoxError, Event, EventFilter, NewEvent, StartFrom, Subscriber, append, cursor_position,
    latest_id, read_after, run_subscriber,
};
use jeny_store::testing::TestDatabase;
use jeny_store::{Backend, Store, both_backends};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn append_one(store: &Store, event: NewEvent) -> i64 {
    let mut tx = store.begin().await.unwrap();
    let id = append(&mut tx, event).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn an_event_exists_only_if_its_transaction_commits(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    {
        let mut tx = store.begin().await.unwrap();
        append(
            &mut tx,
            NewEvent::new("project.created", "a@example.com", json!({})),
        )
        .await
        .unwrap();
    }
    assert_eq!(latest_id(&store).await.unwrap(), 0);
    let id = append_one(
        &store,
        NewEvent::new("project.created", "a@example.com", json!({"name": "web"})).in_project("web"),
    )
    .await;
    let events = read_after(&store, 0, 10, &EventFilter::default())
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, id);
    assert_eq!(events[0].kind, "project.created");
    assert_eq!(events[0].project.as_deref(), Some("web"));
    assert_eq!(events[0].payload, json!({"name": "web"}));
}

async fn reads_are_ordered_and_filtered(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    for (kind, project) in [
        ("project.created", "a"),
        ("host.created", "-"),
        ("project.updated", "b"),
        ("project_x.created", "a"),
    ] {
        let mut event = NewEvent::new(kind, "jeny", json!({}));
        if project != "-" {
            event = event.in_project(project);
        }
        append_one(&store, event).await;
    }
    let all = read_after(&store, 0, 100, &EventFilter::default())
        .await
        .unwrap();
    assert!(all.windows(2).all(|pair| pair[0].id < pair[1].id));
    let kinds = |events: Vec<Event>| events.into_iter().map(|e| e.kind).collect::<Vec<_>>();
    let projects_only = EventFilter {
        kind_prefix: Some("project.".into()),
        ..Default::default()
    };
    assert_eq!(
        kinds(read_after(&store, 0, 100, &projects_only).await.unwrap()),
        ["project.created", "project.updated"]
    );
    let project_a = EventFilter {
        project: Some("a".into()),
        ..Default::default()
    };
    assert_eq!(
        kinds(read_after(&store, 0, 100, &project_a).await.unwrap()),
        ["project.created", "project_x.created"]
    );
    assert_eq!(
        read_after(&store, all[1].id, 1, &EventFilter::default())
            .await
            .unwrap()[0]
            .id,
        all[2].id
    );
}

/// Writers race while a follower reads "after its position": the follower must see every event,
/// which fails if ids could become visible out of order.
async fn a_follower_never_misses_concurrent_appends(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..40 {
                    let mut tx = store.begin().await.unwrap();
                    append(
                        &mut tx,
                        NewEvent::new("test.appended", "jeny", json!({"writer": writer, "n": n})),
                    )
                    .await
                    .unwrap();
                    if n % 3 == 0 {
                        tokio::task::yield_now().await;
                    }
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut position = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < 8 * 40 && tokio::time::Instant::now() < deadline {
        for event in read_after(&store, position, 50, &EventFilter::default())
            .await
            .unwrap()
        {
            assert!(event.id > position);
            position = event.id;
            seen.insert(event.id);
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let all: BTreeSet<i64> = read_after(&store, 0, 1000, &EventFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(all.len(), 8 * 40);
    assert_eq!(seen, all, "the follower missed events");
}

struct Recorder {
    seen: Mutex<Vec<i64>>,
    fail_first: Mutex<bool>,
}

impl Subscriber for Recorder {
    fn name(&self) -> &'static str {
        "test-recorder"
    }

    fn handle<'a>(&'a self, events: &'a [Event]) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let mut fail_first = self.fail_first.lock().unwrap();
            if *fail_first {
                *fail_first = false;
                return Err("refusing the first batch".into());
            }
            self.seen
                .lock()
                .unwrap()
                .extend(events.iter().map(|e| e.id));
            Ok(())
        })
    }
}

async fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_subscriber_resumes_from_its_cursor_and_retries_failures(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let store = database.open().await;
    let before = append_one(&store, NewEvent::new("test.before", "jeny", json!({}))).await;

    let recorder = Arc::new(Recorder {
        seen: Mutex::new(Vec::new()),
        fail_first: Mutex::new(true),
    });
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(run_subscriber(
        store.clone(),
        recorder.clone(),
        StartFrom::Now,
        shutdown.clone(),
    ));
    // Wait for the cursor to exist at the "now" position before appending.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while cursor_position(&store, "test-recorder")
        .await
        .unwrap()
        .is_none()
    {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        cursor_position(&store, "test-recorder").await.unwrap(),
        Some(before)
    );
    let first = append_one(&store, NewEvent::new("test.one", "jeny", json!({}))).await;
    wait_until(|| recorder.seen.lock().unwrap().contains(&first)).await;
    shutdown.cancel();
    running.await.unwrap();

    // Events committed while it was stopped are delivered when it comes back, once each.
    let second = append_one(&store, NewEvent::new("test.two", "jeny", json!({}))).await;
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(run_subscriber(
        store.clone(),
        recorder.clone(),
        StartFrom::Now,
        shutdown.clone(),
    ));
    wait_until(|| recorder.seen.lock().unwrap().contains(&second)).await;
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(*recorder.seen.lock().unwrap(), vec![first, second]);
    assert_eq!(
        cursor_position(&store, "test-recorder").await.unwrap(),
        Some(second)
    );
}

both_backends!(
    an_event_exists_only_if_its_transaction_commits,
    reads_are_ordered_and_filtered,
    a_follower_never_misses_concurrent_appends,
    a_subscriber_resumes_from_its_cursor_and_retries_failures,
);
