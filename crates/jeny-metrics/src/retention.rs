//! Retention per project: how long each resolution of a project's metrics is kept (raw points,
//! 5-minute and 1-hour rollups), from the project's `metrics_retention` over the server's
//! settings, one job for either sink. It loads the projects at start and again whenever a
//! `project.*` event is recorded, then:
//!
//! - **the embedded store** gets the policies: its background thread builds the rollups at
//!   compaction and deletes what ages out (`Store::expire`); its writes refuse points older than
//!   the raw retention.
//! - **an InfluxDB 1.x** gets, per project, its database, the raw retention policy's duration
//!   and two rollup policies (`jeny_5m`, `jeny_1h` unless configured) with theirs; InfluxDB
//!   deletes what ages out. Every 5 minutes (two after the bucket ends, and the last hour again
//!   for late points) one node (the `metrics-rollups` lease) writes each numeric field's
//!   `count_f`, `sum_f`, `min_f`, `max_f`, `first_f`, `last_f` per bucket into them with
//!   `SELECT ... INTO`, from a cursor per project, so a restart leaves no gap. The query model
//!   reads them where the raw points are gone (`Metrics::run_compiled`).
//!
//! An idle server writes nothing: a round reads InfluxDB's count of new points first, and takes
//! the lease and moves a cursor only when there are some.

use std::collections::HashMap;
use std::time::Duration;

use jeny_core::PageRequest;
use jeny_events::{BoxError, EventFilter};
use jeny_projects::MetricsRetention;
use jeny_store::Channel;
use tokio_util::sync::CancellationToken;

use crate::Metrics;
use crate::service::{InfluxTarget, Sink};
use crate::sink_influx::RollupPolicies;
use crate::store::{DAY_NS, HOUR_NS, ROLLUP_NS, Retention, Retentions};

const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The rollups' lease and the prefix of their cursors.
pub const ROLLUPS: &str = "metrics-rollups";
const LEASE_TTL: Duration = Duration::from_secs(120);
/// How long after a 5-minute bucket ends its rollup is written (points arrive late).
const LAG_NS: i64 = 2 * 60 * 1_000_000_000;
/// Each round rolls up the last hour again, for points later than the lag.
const REDO_NS: i64 = HOUR_NS;
/// The most one statement rolls up: a backfill goes a day at a time.
const CHUNK_NS: i64 = DAY_NS;
/// How far back a project's first round goes.
const BACKFILL_NS: i64 = 30 * DAY_NS;

/// A project's retention: its own where it sets one, the server's elsewhere; 0 days is forever.
pub fn effective(project: &MetricsRetention, server: Retention) -> Retention {
    let days = |own: Option<u32>, default: Option<u32>| match own {
        Some(0) => None,
        Some(days) => Some(days),
        None => default,
    };
    Retention {
        raw_days: days(project.raw_days, server.raw_days),
        rollup_5m_days: days(project.rollup_5m_days, server.rollup_5m_days),
        rollup_1h_days: days(project.rollup_1h_days, server.rollup_1h_days),
    }
}

/// Every project's retention, the server's as the default, and every project's name.
pub async fn load(
    store: &jeny_store::Store,
    server: Retention,
) -> Result<(Retentions, Vec<String>), BoxError> {
    let mut databases = HashMap::new();
    let mut names = Vec::new();
    let mut page = PageRequest {
        limit: PageRequest::MAX_LIMIT,
        after: None,
    };
    loop {
        let projects = jeny_projects::list_projects(store, &page).await?;
        for project in &projects.items {
            names.push(project.name.clone());
            let own = effective(&project.metrics_retention, server);
            if own != server {
                databases.insert(project.name.clone(), own);
            }
        }
        match projects.next_cursor {
            Some(cursor) => page.after = Some(cursor),
            None => break,
        }
    }
    Ok((
        Retentions {
            default: server,
            databases,
        },
        names,
    ))
}

/// Keeps the sink's retention in step with the projects until `shutdown`; `holder` names this
/// node for the rollups' lease.
pub async fn run_retention(
    metrics: Metrics,
    server: Retention,
    holder: String,
    shutdown: CancellationToken,
) {
    let store = metrics.store.clone();
    let mut wake = store.subscribe(Channel::Events);
    let projects_changed = EventFilter {
        project: None,
        kind_prefix: Some("project.".to_owned()),
    };
    let mut seen: Option<i64> = None;
    let mut backoff = Duration::from_millis(200);
    while !shutdown.is_cancelled() {
        wake.borrow_and_update();
        let step = async {
            let latest = jeny_events::latest_id(&store).await?;
            let changed = match seen {
                None => true,
                Some(after) => !jeny_events::read_after(&store, after, 1, &projects_changed)
                    .await?
                    .is_empty(),
            };
            if changed {
                let (retentions, projects) = load(&store, server).await?;
                match metrics.sink.as_ref() {
                    Sink::Embedded(embedded) => embedded.set_retention(retentions),
                    Sink::Influx(target) => {
                        ensure_policies(target, &retentions, &projects).await?;
                        *target.retention.write().unwrap_or_else(|e| e.into_inner()) = retentions;
                        *target.projects.write().unwrap_or_else(|e| e.into_inner()) = projects;
                    }
                }
            }
            if let Sink::Influx(target) = metrics.sink.as_ref()
                && target.config.rollup_policies.is_some()
            {
                roll_up_due(&store, target, &holder).await?;
            }
            Ok::<i64, BoxError>(latest)
        };
        match step.await {
            Ok(latest) => {
                seen = Some(latest);
                backoff = Duration::from_millis(200);
                // an InfluxDB's rollups are due two minutes after each 5-minute bucket ends
                let next_round = match metrics.sink.as_ref() {
                    Sink::Influx(target) if target.config.rollup_policies.is_some() => {
                        let now = crate::api::influx::now_ns();
                        let due =
                            (now - LAG_NS).div_euclid(ROLLUP_NS) * ROLLUP_NS + ROLLUP_NS + LAG_NS;
                        Some(Duration::from_nanos((due - now).max(0) as u64))
                    }
                    _ => None,
                };
                tokio::select! {
                    _ = wake.changed() => {}
                    _ = tokio::time::sleep(next_round.unwrap_or(Duration::from_secs(86_400))), if next_round.is_some() => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            Err(error) => {
                tracing::warn!(
                    error = %jeny_core::ErrorChain(&*error),
                    retry_in_ms = backoff.as_millis() as u64,
                    "cannot load the projects' metrics retention; retrying"
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// InfluxDB's words for a duration of whole days (`INF` for forever).
fn influx_duration(days: Option<u32>) -> String {
    days.map_or("INF".to_owned(), |d| format!("{d}d"))
}

/// How InfluxDB shows that duration in `SHOW RETENTION POLICIES`.
fn shown_duration(days: Option<u32>) -> String {
    days.map_or("0s".to_owned(), |d| format!("{}h0m0s", u64::from(d) * 24))
}

/// InfluxDB's own shard group duration for a policy of that duration (it refuses a policy
/// shorter than its shard groups): an hour under two days, a day under six months, else a week.
fn shard_duration(days: Option<u32>) -> &'static str {
    match days {
        Some(d) if d < 2 => "1h",
        Some(d) if d < 183 => "1d",
        _ => "7d",
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Each project's database, with its raw policy's duration and its rollup policies, as its
/// retention says: created where missing, altered where they differ.
pub async fn ensure_policies(
    target: &InfluxTarget,
    retentions: &Retentions,
    projects: &[String],
) -> Result<(), BoxError> {
    let Some(policies) = &target.config.rollup_policies else {
        return Ok(());
    };
    for project in projects {
        let db = quoted(&target.config.database(project));
        let retention = retentions.of(project);
        target
            .execute(project, &format!("CREATE DATABASE {db}"))
            .await?;
        let shown = target
            .query(project, &format!("SHOW RETENTION POLICIES ON {db}"), None)
            .await?;
        let rows = shown["results"][0]["series"][0]["values"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let existing = |name: &str| {
            rows.iter()
                .find(|r| r[0].as_str() == Some(name))
                .map(|r| r[1].as_str().unwrap_or_default().to_owned())
        };
        let raw = target.config.retention_policy.clone().or_else(|| {
            rows.iter()
                .find(|r| r[4].as_bool() == Some(true))
                .and_then(|r| r[0].as_str().map(str::to_owned))
        });
        let mut wanted = vec![
            (policies.five_minutes.clone(), retention.rollup_5m_days),
            (policies.hour.clone(), retention.rollup_1h_days),
        ];
        if let Some(raw) = raw {
            wanted.push((raw, retention.raw_days));
        }
        for (name, days) in wanted {
            let (verb, is) = match existing(&name) {
                None => ("CREATE", None),
                Some(is) => ("ALTER", Some(is)),
            };
            if is.as_deref() == Some(shown_duration(days).as_str()) {
                continue;
            }
            let replication = if verb == "CREATE" {
                " REPLICATION 1"
            } else {
                ""
            };
            target
                .execute(
                    project,
                    &format!(
                        "{verb} RETENTION POLICY {} ON {db} DURATION {}{replication} SHARD DURATION {}",
                        quoted(&name),
                        influx_duration(days),
                        shard_duration(days)
                    ),
                )
                .await?;
        }
    }
    Ok(())
}

/// Rolls up, for every project, what has arrived since its cursor; takes the lease only when
/// there is something to roll up.
async fn roll_up_due(
    store: &jeny_store::Store,
    target: &InfluxTarget,
    holder: &str,
) -> Result<(), BoxError> {
    let now = crate::api::influx::now_ns();
    let latest = (now - LAG_NS).div_euclid(ROLLUP_NS) * ROLLUP_NS;
    let projects = target
        .projects
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut leased = false;
    for project in projects {
        let cursor_name = format!("{ROLLUPS}:{project}");
        let mut cursor = match rollup_cursor(store, &project).await? {
            Some(cursor) => cursor,
            None => {
                // a first round starts once there are points, from as far back as it reaches
                let start = (now - BACKFILL_NS).div_euclid(DAY_NS) * DAY_NS;
                if count_points(target, &project, start, latest).await? == 0 {
                    continue;
                }
                jeny_events::load_or_create_cursor(
                    store,
                    &cursor_name,
                    jeny_events::StartFrom::Beginning,
                )
                .await?;
                start
            }
        };
        while cursor < latest {
            let to = latest.min(cursor + CHUNK_NS);
            if count_points(target, &project, cursor, to).await? > 0 {
                if !leased {
                    if !jeny_store::hold_lease(store, ROLLUPS, holder, LEASE_TTL).await? {
                        return Ok(());
                    }
                    leased = true;
                }
                roll_up(target, &project, cursor.min(to - REDO_NS), to).await?;
            } else if to == latest {
                // nothing new: the cursor stays (an idle server writes nothing)
                break;
            }
            // past an empty day of a backfill, or what was just rolled up
            jeny_events::save_cursor(store, &cursor_name, to).await?;
            cursor = to;
        }
    }
    Ok(())
}

/// Where `project`'s rollups on InfluxDB have reached: every 5-minute bucket before it is
/// rolled up (`None` before the first round).
pub async fn rollup_cursor(
    store: &jeny_store::Store,
    project: &str,
) -> Result<Option<i64>, BoxError> {
    Ok(
        jeny_events::cursor_position(store, &format!("{ROLLUPS}:{project}"))
            .await?
            .filter(|&at| at > 0),
    )
}

/// The points written to `project`'s raw policy in `[from, to)`.
async fn count_points(
    target: &InfluxTarget,
    project: &str,
    from: i64,
    to: i64,
) -> Result<u64, BoxError> {
    let answer = target
        .query(
            project,
            &format!("SELECT count(*) FROM /.*/ WHERE time >= {from} AND time < {to}"),
            Some("ns"),
        )
        .await?;
    let mut total = 0;
    for series in answer["results"][0]["series"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for row in series["values"].as_array().into_iter().flatten() {
            for cell in row.as_array().into_iter().flatten().skip(1) {
                total += cell.as_u64().unwrap_or(0);
            }
        }
    }
    Ok(total)
}

/// Writes the 5-minute rollups of `[from, to)` (and the 1-hour ones of the whole hours in it)
/// of every numeric field of `project` into its rollup policies.
pub async fn roll_up(
    target: &InfluxTarget,
    project: &str,
    from: i64,
    to: i64,
) -> Result<(), BoxError> {
    let Some(RollupPolicies { five_minutes, hour }) = &target.config.rollup_policies else {
        return Ok(());
    };
    let raw = target
        .config
        .retention_policy
        .as_deref()
        .map(|rp| format!("{}.", quoted(rp)))
        .unwrap_or_default();
    let keys = target.query(project, "SHOW FIELD KEYS", None).await?;
    let mut statements = Vec::new();
    let hours = (
        from.div_euclid(HOUR_NS) * HOUR_NS,
        to.div_euclid(HOUR_NS) * HOUR_NS,
    );
    for series in keys["results"][0]["series"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let Some(measurement) = series["name"].as_str() else {
            continue;
        };
        let numeric: Vec<&str> = series["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|row| matches!(row[1].as_str(), Some("float" | "integer")))
            .filter_map(|row| row[0].as_str())
            .collect();
        if numeric.is_empty() {
            continue;
        }
        let fields: Vec<String> = numeric
            .iter()
            .flat_map(|f| {
                crate::compile::ROLLUP_AGGREGATES
                    .map(|agg| format!("{agg}({}) AS {}", quoted(f), quoted(&format!("{agg}_{f}"))))
            })
            .collect();
        let mut select = |into: &str, a: i64, b: i64, width: &str| {
            statements.push(format!(
                "SELECT {} INTO {}.{} FROM {raw}{} WHERE time >= {a} AND time < {b} GROUP BY time({width}), *",
                fields.join(", "),
                quoted(into),
                quoted(measurement),
                quoted(measurement),
            ));
        };
        select(five_minutes, from, to, "5m");
        if hours.1 > hours.0 {
            select(hour, hours.0, hours.1, "1h");
        }
    }
    if !statements.is_empty() {
        target.execute(project, &statements.join("; ")).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_projects_own_days_win_and_zero_is_forever() {
        let server = Retention {
            raw_days: Some(30),
            rollup_5m_days: Some(365),
            rollup_1h_days: None,
        };
        assert_eq!(effective(&MetricsRetention::default(), server), server);
        let own = MetricsRetention {
            raw_days: Some(7),
            rollup_5m_days: Some(0),
            rollup_1h_days: Some(3650),
        };
        assert_eq!(
            effective(&own, server),
            Retention {
                raw_days: Some(7),
                rollup_5m_days: None,
                rollup_1h_days: Some(3650),
            }
        );
    }
}
