//! Deploy metrics: a consumer of the event log that turns every finished deploy into one `deploy`
//! point (tags `project`, `environment`, `status`, `user`; fields `count`, `duration_ms`,
//! `queue_ms`, `exit_code`, `host_count`, `ref`, `sha`, `deploy_id`; time the finish), as
//! docs/metrics.md describes it.
//!
//! It reads from the first event ever recorded, so a new metrics store gets the whole history.
//! A point is built from the deploy as it is stored (`jeny_deploys::get_deploy`), never from the
//! event's payload, which lacks the queue and start times: handling an event twice writes the
//! same point at the same series and time, which the store keeps once (last write wins), so
//! at-least-once delivery and replays never count a deploy twice. One node of a cluster writes at
//! a time (the `metrics-deploys` lease, taken only when there are deploys to record, so an idle
//! server writes nothing), which is why this runs its own loop over the cursor functions rather
//! than `run_subscriber`, which takes no lease.

use crate::Metrics;
use crate::line_protocol::{FieldValue, Point};
use futures_util::future::BoxFuture;
use jeny_deploys::{Deploy, DeployError};
use jeny_events::{BoxError, Event, EventFilter, StartFrom, Subscriber};
use jeny_store::Channel;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The subscriber's cursor and its lease.
pub const NAME: &str = "metrics-deploys";
/// The measurement every finished deploy is a point of.
pub const MEASUREMENT: &str = "deploy";
/// The one event this consumer reads.
const FINISHED: &str = "deploy.finished";
const LEASE_TTL: Duration = Duration::from_secs(30);
const BATCH: i64 = 200;
/// A safety net for a lost wake-up; normally a commit wakes the loop at once.
const IDLE_POLL: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Writes a `deploy` point for each `deploy.finished` event it is given.
pub struct DeployMetrics {
    metrics: Metrics,
}

impl DeployMetrics {
    pub fn new(metrics: Metrics) -> DeployMetrics {
        DeployMetrics { metrics }
    }
}

impl Subscriber for DeployMetrics {
    fn name(&self) -> &'static str {
        NAME
    }

    fn handle<'a>(&'a self, events: &'a [Event]) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            // get_deploy fills in the deploy's page URL, which a point does not carry.
            let links = jeny_deploys::Links {
                base: String::new(),
            };
            let mut by_project: BTreeMap<String, Vec<Point>> = BTreeMap::new();
            for event in events.iter().filter(|event| event.kind == FINISHED) {
                let Some(id) = event.payload["id"].as_str() else {
                    continue;
                };
                let deploy = match jeny_deploys::get_deploy(&self.metrics.store, &links, id).await {
                    Ok(deploy) => deploy,
                    // Its project was deleted since, and its deploys with it.
                    Err(DeployError::NotFound(_)) => {
                        tracing::debug!(
                            deploy_id = %id,
                            "a finished deploy is gone; no metric for it"
                        );
                        continue;
                    }
                    Err(error) => return Err(error.into()),
                };
                if let Some(point) = deploy_point(&deploy) {
                    by_project
                        .entry(deploy.project.clone())
                        .or_default()
                        .push(point);
                }
            }
            for (project, points) in by_project {
                let count = points.len();
                let written = self.metrics.write(&project, points).await?;
                // Refused by the write rules (a `deploy` field someone wrote with another type,
                // the series limit): writing again would be refused again, so it is said and
                // passed over.
                if written.dropped > 0 || written.refused_whole {
                    tracing::warn!(
                        project = %project,
                        points = count,
                        dropped = written.dropped,
                        reason = written.reason.as_deref().unwrap_or("field type conflict"),
                        "deploy metrics were refused by the metrics store"
                    );
                }
            }
            Ok(())
        })
    }
}

/// The point of a finished deploy; none for one that has not finished.
pub fn deploy_point(deploy: &Deploy) -> Option<Point> {
    let finished_at = deploy.finished_at?.as_micros();
    if !deploy.status.is_finished() {
        return None;
    }
    let queued_at = deploy.queued_at.as_micros();
    // Both times come from the database's clock; a clock stepped back must not make one negative.
    let elapsed_ms = |from: i64, to: i64| ((to - from) / 1000).max(0);
    let mut fields = vec![
        ("count".to_owned(), FieldValue::Integer(1)),
        (
            "deploy_id".to_owned(),
            FieldValue::String(deploy.id.clone()),
        ),
    ];
    match deploy.started_at.map(|started| started.as_micros()) {
        Some(started_at) => {
            fields.push((
                "duration_ms".to_owned(),
                FieldValue::Integer(elapsed_ms(started_at, finished_at)),
            ));
            fields.push((
                "queue_ms".to_owned(),
                FieldValue::Integer(elapsed_ms(queued_at, started_at)),
            ));
        }
        // Ended before it started (cancelled, superseded): it ran for no time, so it has no
        // duration to pull a mean down; all its life was the queue.
        None => fields.push((
            "queue_ms".to_owned(),
            FieldValue::Integer(elapsed_ms(queued_at, finished_at)),
        )),
    }
    if let Some(exit_code) = deploy.exit_code {
        fields.push((
            "exit_code".to_owned(),
            FieldValue::Integer(i64::from(exit_code)),
        ));
    }
    fields.push((
        "host_count".to_owned(),
        FieldValue::Integer(i64::try_from(deploy.hosts.len()).unwrap_or(i64::MAX)),
    ));
    if let Some(git_ref) = &deploy.git_ref {
        fields.push(("ref".to_owned(), FieldValue::String(git_ref.clone())));
    }
    if let Some(sha) = &deploy.sha {
        fields.push(("sha".to_owned(), FieldValue::String(sha.clone())));
    }
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Some(Point {
        measurement: MEASUREMENT.to_owned(),
        // Sorted by key; `Metrics::write` adds `project`.
        tags: vec![
            ("environment".to_owned(), deploy.environment.clone()),
            ("status".to_owned(), deploy.status.as_str().to_owned()),
            ("user".to_owned(), deploy.user.clone()),
        ],
        fields,
        time_ns: finished_at
            .saturating_mul(1000)
            .saturating_add(nanos_of(&deploy.id)),
    })
}

/// A stable 0..999 from the deploy's id, added to its finish time (whole microseconds): deploys
/// ended in one transaction (the queued ones a newer deploy supersedes) can share a finish time
/// and every tag, and would otherwise overwrite each other's point. CRC-32, not std's hasher,
/// whose output may change between releases: a replay must land on the same nanosecond.
fn nanos_of(id: &str) -> i64 {
    i64::from(crc32fast::hash(id.as_bytes()) % 1000)
}

/// Writes a point for every finished deploy, past and future, until `shutdown` is cancelled,
/// while this process (`holder`, unique per process: `<node_name>/<UUIDv7>`) holds the
/// `metrics-deploys` lease.
pub async fn run_deploy_metrics(metrics: Metrics, holder: String, shutdown: CancellationToken) {
    let store = metrics.store.clone();
    let subscriber = DeployMetrics::new(metrics);
    let mut wake = store.subscribe(Channel::Events);
    let mut backoff = Duration::from_millis(200);
    let mut lease_renewed: Option<tokio::time::Instant> = None;
    while !shutdown.is_cancelled() {
        wake.borrow_and_update();
        // Only an idle loop wakes on a commit: one waiting for the lease or after a failure
        // waits its time out, or (a failed lease take is a commit too, on SQLite) it would wake
        // itself.
        let (pause, wake_on_commit) =
            match step(&store, &subscriber, &holder, &mut lease_renewed).await {
                Ok(Step::More) => {
                    backoff = Duration::from_millis(200);
                    continue;
                }
                Ok(Step::Idle) => {
                    backoff = Duration::from_millis(200);
                    (IDLE_POLL, true)
                }
                Ok(Step::NotLeader) => (LEASE_TTL / 4, false),
                Err(error) => {
                    tracing::warn!(
                        subscriber = NAME,
                        error = %jeny_core::ErrorChain(&*error),
                        retry_in_ms = backoff.as_millis() as u64,
                        "deploy metrics failed; retrying"
                    );
                    let pause = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    (pause, false)
                }
            };
        tokio::select! {
            _ = wake.changed(), if wake_on_commit => {}
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.cancelled() => {}
        }
    }
    if let Err(error) = jeny_store::release_lease(&store, NAME, &holder).await {
        tracing::debug!(
            error = %jeny_core::ErrorChain(&error),
            "cannot release the deploy metrics' lease"
        );
    }
}

enum Step {
    More,
    Idle,
    NotLeader,
}

/// One look at the event log. Reading is all an idle step does: the lease is taken or renewed
/// only when there are deploys to record, and the cursor saved only when it moved (a commit
/// wakes every waiter on SQLite, this loop included).
async fn step(
    store: &jeny_store::Store,
    subscriber: &DeployMetrics,
    holder: &str,
    lease_renewed: &mut Option<tokio::time::Instant>,
) -> Result<Step, BoxError> {
    let position =
        jeny_events::load_or_create_cursor(store, subscriber.name(), StartFrom::Beginning).await?;
    let filter = EventFilter {
        kind_prefix: Some(FINISHED.to_owned()),
        ..EventFilter::default()
    };
    let events = jeny_events::read_after(store, position, BATCH, &filter).await?;
    let Some(last) = events.last().map(|event| event.id) else {
        return Ok(Step::Idle);
    };
    if !hold_lease_when_due(store, holder, lease_renewed).await? {
        return Ok(Step::NotLeader);
    }
    subscriber.handle(&events).await?;
    jeny_events::save_cursor(store, subscriber.name(), last).await?;
    Ok(if events.len() as i64 == BATCH {
        Step::More
    } else {
        Step::Idle
    })
}

/// Whether this process holds the lease, renewing it once a third of it has passed (a renewal
/// is a write, so not at every step).
async fn hold_lease_when_due(
    store: &jeny_store::Store,
    holder: &str,
    lease_renewed: &mut Option<tokio::time::Instant>,
) -> Result<bool, BoxError> {
    if lease_renewed.is_some_and(|renewed| renewed.elapsed() < LEASE_TTL / 3) {
        return Ok(true);
    }
    let held = jeny_store::hold_lease(store, NAME, holder, LEASE_TTL).await?;
    *lease_renewed = held.then(tokio::time::Instant::now);
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deploy of `shop/production` queued at 1 s, as the API shows it, with `changes` applied.
    fn deploy(changes: serde_json::Value) -> Deploy {
        let mut value = serde_json::json!({
            "id": "0196a3c0-0000-7000-8000-000000000001", "project": "shop",
            "environment": "production", "status": "succeeded", "ref": null, "sha": null,
            "description": "", "exit_code": null, "user": "ana@example.com",
            "queue_position": null, "queued_at": at(1_000_000), "started_at": null,
            "finished_at": null, "duration_ms": null, "hosts": [], "host_filter": {},
            "reason": null, "cancelled_by": null, "redeploy_of": null, "command": null,
            "variables": [], "output_bytes": 0, "node": null, "url": "", "output_url": "",
        });
        for (key, change) in changes.as_object().unwrap() {
            value[key] = change.clone();
        }
        serde_json::from_value(value).unwrap()
    }

    /// A time in Unix microseconds, as the API writes it.
    fn at(micros: i64) -> serde_json::Value {
        serde_json::to_value(jeny_core::Timestamp::from_micros(micros)).unwrap()
    }

    fn field<'a>(point: &'a Point, name: &str) -> Option<&'a FieldValue> {
        point
            .fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    #[test]
    fn a_deploy_ended_in_the_queue_has_a_queue_time_and_no_duration() {
        let cancelled = deploy(serde_json::json!({
            "status": "cancelled", "finished_at": at(3_500_000),
        }));
        let point = deploy_point(&cancelled).unwrap();
        assert_eq!(field(&point, "queue_ms"), Some(&FieldValue::Integer(2500)));
        assert_eq!(field(&point, "duration_ms"), None);
        assert_eq!(field(&point, "exit_code"), None);
        assert_eq!(field(&point, "host_count"), Some(&FieldValue::Integer(0)));
        assert_eq!(point.tags[1], ("status".to_owned(), "cancelled".to_owned()));
        assert!((3_500_000_000..3_500_001_000).contains(&point.time_ns));
        assert!(point.fields.is_sorted_by(|a, b| a.0 < b.0));
    }

    #[test]
    fn a_deploy_still_running_has_no_point() {
        let running = deploy(serde_json::json!({"status": "running", "started_at": at(2_000_000)}));
        assert_eq!(deploy_point(&running), None);
    }

    #[test]
    fn deploys_ended_in_the_same_microsecond_get_different_times_the_same_at_every_replay() {
        let first =
            deploy(serde_json::json!({"status": "cancelled", "finished_at": at(3_000_000)}));
        let second = deploy(serde_json::json!({
            "id": "0196a3c0-0000-7000-8000-000000000002", "status": "cancelled",
            "finished_at": at(3_000_000),
        }));
        let first_time = deploy_point(&first).unwrap().time_ns;
        assert_ne!(first_time, deploy_point(&second).unwrap().time_ns);
        assert_eq!(first_time, deploy_point(&first).unwrap().time_ns);
    }
}
