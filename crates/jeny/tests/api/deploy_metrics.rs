//! Deploy metrics end to end: real deploys finish, and the event log's consumer writes one
//! `deploy` point for each into the embedded metrics store, with the deploy's tags and fields.
//! The points outlive a restart, and a replay of the event log (a lost metrics store, its cursor
//! reset) writes the same points again, never a second copy.

use crate::{environment, host, project};
use jeny_deploys::{Deploy, DeployRequest, DeployStatus};
use jeny_metrics::store::Values;
use jeny_testkit::{Backend, Client, TestApp, TestDatabase, both_backends};
use std::collections::BTreeMap;

both_backends!(
    every_finished_deploy_becomes_one_point_with_its_tags_and_fields,
    points_outlive_a_restart_and_later_deploys_add_only_their_own,
    a_replay_rebuilds_a_lost_metrics_store_with_the_same_points_and_never_doubles_them,
);

const CURSOR: &str = jeny_metrics::deploys::NAME;

/// A field's value as stored: the deploy fields are integers or strings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Integer(i64),
    Text(String),
}

/// One point of the `deploy` measurement: its tags, time and fields.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct DeployPoint {
    tags: BTreeMap<String, String>,
    time_ns: i64,
    fields: BTreeMap<String, Field>,
}

impl DeployPoint {
    fn deploy_id(&self) -> Option<&str> {
        match self.fields.get("deploy_id") {
            Some(Field::Text(id)) => Some(id),
            _ => None,
        }
    }

    fn integer(&self, name: &str) -> Option<i64> {
        match self.fields.get(name) {
            Some(Field::Integer(value)) => Some(*value),
            _ => None,
        }
    }
}

/// A series' tags, sorted by key.
type Tags = Vec<(String, String)>;

/// Every `deploy` point of `project` in the embedded store, its series put back together by
/// tags and time, sorted.
fn deploy_points(app: &TestApp, project: &str) -> Vec<DeployPoint> {
    let store = app
        .metrics
        .embedded()
        .expect("the embedded store is the sink");
    let mut points: BTreeMap<(Tags, i64), BTreeMap<String, Field>> = BTreeMap::new();
    for series in store.series(project, "deploy", None, &|_| true) {
        let read = store.read(series.id, i64::MIN, i64::MAX).unwrap();
        let values: Vec<Field> = match read.values {
            Values::Bits(bits) => bits
                .into_iter()
                .map(|bits| Field::Integer(bits as i64))
                .collect(),
            Values::Text(texts) => texts
                .into_iter()
                .map(|text| Field::Text(text.into()))
                .collect(),
        };
        for (time_ns, value) in read.times.into_iter().zip(values) {
            points
                .entry((series.tags.clone(), time_ns))
                .or_default()
                .insert(series.field.clone(), value);
        }
    }
    points
        .into_iter()
        .map(|((tags, time_ns), fields)| DeployPoint {
            tags: tags.into_iter().collect(),
            time_ns,
            fields,
        })
        .collect()
}

/// Waits until `project` has a complete point for each of `deploys` (and no other), and answers
/// them in the order of `deploys`.
async fn wait_for_points(app: &TestApp, project: &str, deploys: &[&Deploy]) -> Vec<DeployPoint> {
    let ids: Vec<&str> = deploys.iter().map(|deploy| deploy.id.as_str()).collect();
    jeny_testkit::poll_until(
        &format!("{project} has a deploy point for each of {ids:?}"),
        || async {
            let points = deploy_points(app, project);
            let complete = points.len() == ids.len()
                && points.iter().all(|point| {
                    point.fields.contains_key("count") && point.fields.contains_key("host_count")
                });
            if !complete {
                return None;
            }
            ids.iter()
                .map(|id| {
                    points
                        .iter()
                        .find(|point| point.deploy_id() == Some(id))
                        .cloned()
                })
                .collect::<Option<Vec<_>>>()
        },
    )
    .await
}

/// Project `shop` whose command fails with exit code 3 for the ref `broken`, environment
/// `production` on `role=web`, one host.
async fn shop(backend: Backend) -> (TestApp, Client) {
    let app = TestApp::spawn(backend).await;
    let admin = app.with_admin().await;
    prepare_shop(&admin).await;
    (app, admin)
}

async fn prepare_shop(admin: &Client) {
    let mut input = project("shop");
    input.deploy_command = "echo hi; test \"$JENY_REF\" != broken || exit 3".to_owned();
    admin.create_project(&input).await.unwrap();
    admin
        .create_environment("shop", &environment("production", &[("role", "web")]))
        .await
        .unwrap();
    admin
        .create_host(&host("web-1", &[("role", "web")]))
        .await
        .unwrap();
}

/// Runs a deploy of `git_ref` to its end.
async fn deploy_to_the_end(client: &Client, git_ref: &str) -> Deploy {
    let request = DeployRequest {
        git_ref: Some(git_ref.to_owned()),
        ..DeployRequest::default()
    };
    let queued = client
        .create_deploy("shop", "production", &request)
        .await
        .unwrap();
    client.wait_for_deploy(&queued.id).await.unwrap()
}

/// Stops the app, and makes the deploy metrics' consumer start again from the first event, as an
/// operator does after losing the metrics store (`wipe_metrics` removes it too).
async fn stop_and_reset_the_cursor(app: TestApp, wipe_metrics: bool) -> TestDatabase {
    let database = app.stop().await;
    if wipe_metrics {
        std::fs::remove_dir_all(database.dir.path().join("metrics")).unwrap();
    }
    let store = database.open().await;
    let mut tx = store.begin().await.unwrap();
    let removed = jeny_store::sqlx::query("DELETE FROM event_cursors WHERE consumer = $1")
        .bind(CURSOR)
        .execute(tx.conn())
        .await
        .unwrap()
        .rows_affected();
    tx.commit().await.unwrap();
    store.close().await;
    assert_eq!(removed, 1, "the consumer had a cursor");
    database
}

/// Waits until the consumer's cursor has passed the newest `deploy.finished` event.
async fn wait_until_every_finish_is_handled(app: &TestApp) {
    jeny_testkit::poll_until(
        "the deploy metrics' cursor passes every finished deploy",
        || async {
            let newest: Option<i64> = jeny_store::sqlx::query_scalar(
                "SELECT MAX(id) FROM events WHERE type = 'deploy.finished'",
            )
            .fetch_one(app.store.reader())
            .await
            .unwrap();
            let position: Option<i64> = jeny_store::sqlx::query_scalar(
                "SELECT position FROM event_cursors WHERE consumer = $1",
            )
            .bind(CURSOR)
            .fetch_optional(app.store.reader())
            .await
            .unwrap();
            (position.is_some() && position >= newest).then_some(())
        },
    )
    .await;
}

async fn every_finished_deploy_becomes_one_point_with_its_tags_and_fields(backend: Backend) {
    let (app, admin) = shop(backend).await;

    let succeeded = deploy_to_the_end(&admin, "v1").await;
    let failed = deploy_to_the_end(&admin, "broken").await;
    assert_eq!(succeeded.status, DeployStatus::Succeeded);
    assert_eq!(failed.status, DeployStatus::Failed);
    assert_eq!(failed.exit_code, Some(3));

    let points = wait_for_points(&app, "shop", &[&succeeded, &failed]).await;
    for (point, deploy, status) in [
        (&points[0], &succeeded, "succeeded"),
        (&points[1], &failed, "failed"),
    ] {
        let expected_tags: BTreeMap<String, String> = [
            ("environment", "production"),
            ("project", "shop"),
            ("status", status),
            ("user", "admin@example.com"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        assert_eq!(point.tags, expected_tags, "{point:?}");
        let queued_at = deploy.queued_at.as_micros();
        let started_at = deploy.started_at.expect("it ran").as_micros();
        let finished_at = deploy.finished_at.expect("it ended").as_micros();
        let mut expected_fields = BTreeMap::from([
            ("count".to_owned(), Field::Integer(1)),
            ("deploy_id".to_owned(), Field::Text(deploy.id.clone())),
            (
                "duration_ms".to_owned(),
                Field::Integer((finished_at - started_at) / 1000),
            ),
            (
                "queue_ms".to_owned(),
                Field::Integer((started_at - queued_at) / 1000),
            ),
            ("host_count".to_owned(), Field::Integer(1)),
            (
                "ref".to_owned(),
                Field::Text(deploy.git_ref.clone().expect("a ref was given")),
            ),
        ]);
        if let Some(exit_code) = deploy.exit_code {
            expected_fields.insert("exit_code".to_owned(), Field::Integer(exit_code.into()));
        }
        assert_eq!(point.fields, expected_fields, "{point:?}");
        assert_eq!(point.integer("duration_ms"), deploy.duration_ms);
        assert!(point.integer("duration_ms").unwrap() >= 0, "{point:?}");
        // The finish time, in nanoseconds, plus under a microsecond that keeps deploys ended
        // together apart.
        assert!(
            (finished_at * 1000..(finished_at + 1) * 1000).contains(&point.time_ns),
            "{} is not within the microsecond {finished_at}",
            point.time_ns
        );
    }
    assert_eq!(points[1].integer("exit_code"), Some(3));
    assert_eq!(
        points[0].integer("exit_code"),
        succeeded.exit_code.map(i64::from)
    );
}

async fn points_outlive_a_restart_and_later_deploys_add_only_their_own(backend: Backend) {
    let (app, admin) = shop(backend).await;
    let first = deploy_to_the_end(&admin, "v1").await;
    let before_restart = wait_for_points(&app, "shop", &[&first]).await;

    let app = TestApp::spawn_on(app.stop().await, |_| {}).await;
    let admin = app.with_admin().await;
    assert_eq!(
        deploy_points(&app, "shop"),
        before_restart,
        "kept across the restart"
    );
    let second = deploy_to_the_end(&admin, "v2").await;

    let points = wait_for_points(&app, "shop", &[&first, &second]).await;
    assert_eq!(points[0], before_restart[0]);
    assert_eq!(deploy_points(&app, "shop").len(), 2, "one point per deploy");
}

async fn a_replay_rebuilds_a_lost_metrics_store_with_the_same_points_and_never_doubles_them(
    backend: Backend,
) {
    let (app, admin) = shop(backend).await;
    let succeeded = deploy_to_the_end(&admin, "v1").await;
    let failed = deploy_to_the_end(&admin, "broken").await;
    let written = wait_for_points(&app, "shop", &[&succeeded, &failed]).await;
    let mut all_written = written.clone();
    all_written.sort();

    // The metrics store is lost: a replay from the first event writes the same points.
    let database = stop_and_reset_the_cursor(app, true).await;
    let app = TestApp::spawn_on(database, |_| {}).await;
    let rebuilt = wait_for_points(&app, "shop", &[&succeeded, &failed]).await;
    assert_eq!(rebuilt, written);

    // A replay over points already there writes them again at the same series and time: still
    // one point per deploy.
    let database = stop_and_reset_the_cursor(app, false).await;
    let app = TestApp::spawn_on(database, |_| {}).await;
    wait_until_every_finish_is_handled(&app).await;
    assert_eq!(deploy_points(&app, "shop"), all_written);
}
