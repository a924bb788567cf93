//! The CloudWatch and load balancer metrics import: per account and region, whole periods (1 or
//! 5 minutes) that ended at least five minutes ago (CloudWatch's data lands late) are read with
//! GetMetricData, named as Telegraf's cloudwatch input names them, joined with jeny's inventory
//! and written to the metrics store of each project they belong to.
//!
//! What is read: `AWS/EC2` for every instance the sync made a host of (`CPUUtilization`,
//! `NetworkIn`, `NetworkOut`, `StatusCheckFailed`), `AWS/ApplicationELB` for every application
//! load balancer and each of its target groups, `AWS/ELB` `Latency` for every classic one.
//! Who a datapoint belongs to: an instance is its host, in every environment whose selector
//! picks that host (one point per environment, written to the environment's project); a load
//! balancer is in the environment its `jeny:project` / `jeny:environment` tags name, else in
//! those whose hosts are its targets. A datapoint of no project is dropped and counted.
//!
//! A cursor per account and region (the end of the last window imported) is written once per
//! import, after the points: a restart reads on from it, so there is no gap, and a window
//! imported again (a crash between the points and the cursor) writes the same points at the same
//! times, which the store keeps once. A window is at most [`MAX_WINDOW_PERIODS`] periods, so an
//! import that is behind catches up in several; one never goes back more than
//! [`MAX_CATCH_UP`] (a first import reads the last [`FIRST_BACKFILL`]).

use crate::cloudwatch::{self, MetricQuery};
use crate::elb;
use crate::model::{AwsAccount, MetricsImportReport, RegionImportReport};
use crate::query_protocol::{self, AccountCredentials, Service, Session};
use crate::store;
use crate::{Aws, AwsError};
use jeny_core::{PageRequest, Timestamp};
use jeny_hosts::{TagSelector, Tags};
use jeny_metrics::line_protocol::{FieldValue, Point};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How late CloudWatch's data may land: a window ends at least this long ago.
pub const DELAY: Duration = Duration::from_secs(300);
/// The longest window one import reads, in periods (an hour at 1 minute).
pub const MAX_WINDOW_PERIODS: i64 = 60;
/// How far back a first import reads.
pub const FIRST_BACKFILL: Duration = Duration::from_secs(3 * 3600);
/// How far back an import that is behind (the server was down) reads at most: older windows
/// stay a gap.
pub const MAX_CATCH_UP: Duration = Duration::from_secs(24 * 3600);
/// The lease one node holds while it imports an account.
const LEASE_TTL: Duration = Duration::from_secs(600);
/// How often the importer looks for new accounts and changed settings when none is due.
const IDLE_CHECK: Duration = Duration::from_secs(60);

/// The tags that name a load balancer's project and environment.
pub const PROJECT_TAG: &str = "jeny:project";
pub const ENVIRONMENT_TAG: &str = "jeny:environment";

/// One metric set: a namespace, the dimensions a metric is read by, and each metric with the
/// statistic read.
struct MetricSet {
    namespace: &'static str,
    metrics: &'static [(&'static str, &'static str)],
}

const EC2: MetricSet = MetricSet {
    namespace: "AWS/EC2",
    metrics: &[
        ("CPUUtilization", "Average"),
        ("NetworkIn", "Sum"),
        ("NetworkOut", "Sum"),
        ("StatusCheckFailed", "Maximum"),
    ],
};
/// An application load balancer's own metrics (by `LoadBalancer`).
const ALB: MetricSet = MetricSet {
    namespace: "AWS/ApplicationELB",
    metrics: &[
        ("RequestCount", "Sum"),
        ("TargetResponseTime", "Average"),
        ("HTTPCode_Target_5XX_Count", "Sum"),
    ],
};
/// A target group's metrics (by `TargetGroup` and `LoadBalancer`).
const ALB_TARGET_GROUP: MetricSet = MetricSet {
    namespace: "AWS/ApplicationELB",
    metrics: &[
        ("RequestCount", "Sum"),
        ("TargetResponseTime", "Average"),
        ("HTTPCode_Target_5XX_Count", "Sum"),
        ("HealthyHostCount", "Average"),
    ],
};
const CLASSIC_ELB: MetricSet = MetricSet {
    namespace: "AWS/ELB",
    metrics: &[("Latency", "Average")],
};

/// A name as Telegraf's cloudwatch input writes it: an underscore before an upper-case letter
/// that follows a lower-case one or precedes one (`CPUUtilization` -> `cpu_utilization`,
/// `DynamoDB` -> `dynamo_db`), all lower case, spaces as underscores and no doubled underscore.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (index, &c) in chars.iter().enumerate() {
        let before_lower = chars.get(index + 1).is_some_and(|next| next.is_lowercase());
        let after_lower = index > 0 && chars[index - 1].is_lowercase();
        if index > 0 && c.is_uppercase() && (before_lower || after_lower) {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    let mut out = out.replace(' ', "_");
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    out
}

/// The measurement of a namespace: `AWS/EC2` -> `cloudwatch_aws_ec2`.
pub fn measurement(namespace: &str) -> String {
    format!("cloudwatch_{}", snake_case(&namespace.replace('/', "_")))
}

/// The field of a metric's statistic: `CPUUtilization`, `Average` -> `cpu_utilization_average`.
pub fn field(metric: &str, statistic: &str) -> String {
    snake_case(&format!("{metric}_{}", snake_case(statistic)))
}

/// A project and, when known, its environment: where a datapoint goes.
type Owner = (String, Option<String>);

/// Which environments pick which hosts: the join of the inventory, made once per import.
pub(crate) struct Inventory {
    environments: Vec<(String, String, TagSelector)>,
}

impl Inventory {
    pub(crate) async fn load(store: &jeny_store::Store) -> Result<Inventory, AwsError> {
        let mut environments = Vec::new();
        let mut projects_page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let projects = jeny_projects::list_projects(store, &projects_page)
                .await
                .map_err(project_error)?;
            for project in &projects.items {
                let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
                loop {
                    let listed = jeny_projects::list_environments(store, &project.name, &page)
                        .await
                        .map_err(project_error)?;
                    for environment in &listed.items {
                        environments.push((
                            project.name.clone(),
                            environment.name.clone(),
                            environment.selector(),
                        ));
                    }
                    match listed.next_cursor {
                        Some(after) => page.after = Some(after),
                        None => break,
                    }
                }
            }
            match projects.next_cursor {
                Some(after) => projects_page.after = Some(after),
                None => break,
            }
        }
        Ok(Inventory { environments })
    }

    /// The environments whose selector picks a host with `tags` (an empty selector picks none).
    fn owners_of(&self, tags: &Tags) -> Vec<Owner> {
        self.environments
            .iter()
            .filter(|(_, _, selector)| !selector.is_empty() && selector.matches(tags))
            .map(|(project, environment, _)| (project.clone(), Some(environment.clone())))
            .collect()
    }

    /// The environment a load balancer's tags name: `jeny:project` alone names the project.
    fn owner_by_tags(&self, tags: &[(String, String)]) -> Option<Owner> {
        let tag = |key: &str| {
            tags.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let project = tag(PROJECT_TAG)?;
        let environment = tag(ENVIRONMENT_TAG);
        let known = self.environments.iter().any(|(p, e, _)| {
            *p == project
                && environment
                    .as_ref()
                    .is_none_or(|environment| e == environment)
        });
        known.then_some((project, environment))
    }
}

fn project_error(error: jeny_projects::ProjectError) -> AwsError {
    AwsError::Import(format!(
        "cannot read the environments: {}",
        jeny_core::ErrorChain(&error)
    ))
}

/// A host synced from the account's region: its name and the environments that pick it.
struct SyncedHost {
    name: String,
    owners: Vec<Owner>,
}

/// The hosts the sync made of the region's instances, by instance id.
async fn synced_hosts(
    store: &jeny_store::Store,
    inventory: &Inventory,
    account: &str,
    region: &str,
) -> Result<BTreeMap<String, SyncedHost>, AwsError> {
    let mut selected: Tags = Tags::new();
    selected.insert("aws:account".to_owned(), account.to_owned());
    selected.insert("aws:region".to_owned(), region.to_owned());
    let selector = TagSelector::from_tags("selector", selected)
        .map_err(|error| AwsError::Import(format!("{error:?}")))?;
    let mut hosts = BTreeMap::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let listed = jeny_hosts::list_hosts(store, &selector, &page).await?;
        for host in listed.items {
            let Some(instance_id) = host.external_id.clone() else {
                continue;
            };
            hosts.insert(
                instance_id,
                SyncedHost {
                    owners: inventory.owners_of(&host.tags),
                    name: host.name,
                },
            );
        }
        match listed.next_cursor {
            Some(after) => page.after = Some(after),
            None => return Ok(hosts),
        }
    }
}

/// What a query's datapoints become: their measurement, field and tags (without `project` and
/// `environment`), and who they belong to.
struct Target {
    measurement: String,
    field: String,
    tags: Vec<(String, String)>,
    owners: Vec<Owner>,
}

/// The queries of a set for one resource, with their targets.
#[expect(
    clippy::too_many_arguments,
    reason = "one resource's whole context, and the two lists it adds to"
)]
fn queries_of(
    set: &MetricSet,
    dimensions: &[(&'static str, String)],
    extra_tags: &[(&str, &str)],
    owners: &[Owner],
    period_secs: u64,
    region: &str,
    queries: &mut Vec<MetricQuery>,
    targets: &mut Vec<Target>,
) {
    let mut tags: Vec<(String, String)> = dimensions
        .iter()
        .map(|(name, value)| (snake_case(name), value.clone()))
        .chain(
            extra_tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .collect();
    tags.push(("region".to_owned(), region.to_owned()));
    for (metric, statistic) in set.metrics {
        queries.push(MetricQuery {
            namespace: set.namespace,
            metric,
            dimensions: dimensions.to_vec(),
            statistic,
            period_secs,
        });
        targets.push(Target {
            measurement: measurement(set.namespace),
            field: field(metric, statistic),
            tags: tags.clone(),
            owners: owners.to_vec(),
        });
    }
}

/// Each project's points from the queries' datapoints: one point per resource, time and
/// environment, holding each of its metrics as a field. Returns them with the count of
/// datapoints that belong to no project.
fn points_of(
    targets: &[Target],
    datapoints: &[cloudwatch::Datapoints],
) -> (BTreeMap<String, Vec<Point>>, usize) {
    type Key = (String, String, Vec<(String, String)>, i64);
    let mut merged: BTreeMap<Key, Vec<(String, FieldValue)>> = BTreeMap::new();
    let mut unattributed = 0;
    for (target, points) in targets.iter().zip(datapoints) {
        if target.owners.is_empty() {
            unattributed += points.len();
            continue;
        }
        for (project, environment) in &target.owners {
            let mut tags = target.tags.clone();
            if let Some(environment) = environment {
                tags.push(("environment".to_owned(), environment.clone()));
            }
            tags.sort_unstable();
            for (time, value) in points {
                merged
                    .entry((
                        project.clone(),
                        target.measurement.clone(),
                        tags.clone(),
                        *time,
                    ))
                    .or_default()
                    .push((target.field.clone(), FieldValue::Float(*value)));
            }
        }
    }
    let mut by_project: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for ((project, measurement, tags, time), fields) in merged {
        by_project.entry(project).or_default().push(Point {
            measurement,
            tags,
            fields,
            time_ns: time.saturating_mul(1_000_000_000),
        });
    }
    (by_project, unattributed)
}

/// The window an import of a region reads: whole periods from its cursor (or the backfill) to
/// the last one that ended at least [`DELAY`] ago, at most [`MAX_WINDOW_PERIODS`]; `None` when
/// no whole period is due. Seconds since the epoch.
pub fn window(cursor_micros: Option<i64>, now_secs: i64, period_secs: u64) -> Option<(i64, i64)> {
    let period = i64::try_from(period_secs).ok()?.max(1);
    let delay = i64::try_from(DELAY.as_secs()).ok()?;
    let latest_end = (now_secs - delay).div_euclid(period) * period;
    let oldest = latest_end - i64::try_from(MAX_CATCH_UP.as_secs()).ok()?;
    let start = match cursor_micros {
        Some(cursor) => cursor.div_euclid(1_000_000).div_euclid(period) * period,
        None => latest_end - i64::try_from(FIRST_BACKFILL.as_secs()).ok()?,
    }
    .max(oldest.div_euclid(period) * period);
    let end = latest_end.min(start + MAX_WINDOW_PERIODS * period);
    (end > start).then_some((start, end))
}

/// When the next import of a region is due: once a whole period past its cursor has ended
/// [`DELAY`] ago (now for a region never imported). Seconds since the epoch.
fn due_at(cursor_micros: Option<i64>, period_secs: u64) -> i64 {
    match cursor_micros {
        None => 0,
        Some(cursor) => {
            cursor.div_euclid(1_000_000)
                + i64::try_from(period_secs + DELAY.as_secs()).unwrap_or(i64::MAX / 2)
        }
    }
}

/// One region's import, before its cursor is written.
struct RegionImport {
    report: RegionImportReport,
    /// The cursor to write when it succeeded.
    cursor: Option<i64>,
}

impl Aws {
    /// Imports an account's metrics now: one window per region. Refused while an import of it
    /// runs (here or on another node).
    pub async fn import_metrics(&self, name: &str) -> Result<MetricsImportReport, AwsError> {
        let row = store::get(&self.store, name)
            .await?
            .ok_or_else(|| AwsError::NotFound(name.to_owned()))?;
        let lease = format!("aws-metrics:{}", row.account.id);
        let Some(_running) = RunningHere::enter(&row.account.id) else {
            return Err(AwsError::ImportRunning(name.to_owned(), self.node.clone()));
        };
        if !jeny_store::hold_lease(&self.store, &lease, &self.node, LEASE_TTL).await? {
            return Err(AwsError::ImportRunning(
                name.to_owned(),
                "another node".to_owned(),
            ));
        }
        let result = self.import_held(row).await;
        if let Err(error) = jeny_store::release_lease(&self.store, &lease, &self.node).await {
            tracing::warn!(error = %jeny_core::ErrorChain(&error), account = name, "cannot release an AWS metrics import lease");
        }
        result
    }

    async fn import_held(&self, row: store::AccountRow) -> Result<MetricsImportReport, AwsError> {
        let started_at = Timestamp::now();
        let own_started = Instant::now();
        let account = &row.account;
        let credentials = self.account_credentials(&row);
        let cursors = store::metrics_cursors(&self.store, &account.id).await?;
        let inventory = Inventory::load(&self.store).await?;
        let now_secs = started_at.as_micros().div_euclid(1_000_000);
        let mut waited = Duration::ZERO;
        let mut imports = Vec::new();
        for region in &account.regions {
            let window = window(
                cursors.get(region).copied(),
                now_secs,
                account.metrics_period_secs,
            );
            let import = match (window, &credentials) {
                (None, _) => RegionImport {
                    report: empty_report(region, "idle", None, None),
                    cursor: None,
                },
                (Some((start, end)), Err(error)) => RegionImport {
                    report: RegionImportReport {
                        error: Some(error.clone()),
                        ..empty_report(region, "error", Some(start), Some(end))
                    },
                    cursor: None,
                },
                (Some((start, end)), Ok(credentials)) => {
                    self.import_region(account, credentials, &inventory, region, start, end)
                        .await?
                }
            };
            waited += Duration::from_millis(import.report.fetch_ms);
            imports.push(import);
        }
        let failed = imports
            .iter()
            .filter(|i| i.report.status == "error")
            .count();
        let report = MetricsImportReport {
            started_at,
            finished_at: Timestamp::now(),
            status: match failed {
                0 => "ok",
                n if n == imports.len() => "error",
                _ => "partial",
            }
            .to_owned(),
            points: imports.iter().map(|i| i.report.points).sum(),
            unattributed: imports.iter().map(|i| i.report.unattributed).sum(),
            own_ms: u64::try_from(own_started.elapsed().saturating_sub(waited).as_millis())
                .unwrap_or(u64::MAX),
            node: self.node.clone(),
            regions: imports.iter().map(|i| i.report.clone()).collect(),
        };
        let moved: Vec<(String, i64)> = imports
            .iter()
            .filter_map(|i| i.cursor.map(|cursor| (i.report.region.clone(), cursor)))
            .collect();
        store::finish_metrics_import(&self.store, &account.id, &moved, &report).await?;
        Ok(report)
    }

    /// One region's window: its resources, their queries, the points written. AWS's errors are
    /// the report's; the store's are the caller's.
    async fn import_region(
        &self,
        account: &AwsAccount,
        credentials: &AccountCredentials,
        inventory: &Inventory,
        region: &str,
        start: i64,
        end: i64,
    ) -> Result<RegionImport, AwsError> {
        let mut report = empty_report(region, "ok", Some(start), Some(end));
        let session = match query_protocol::session(account, credentials, region).await {
            Ok(session) => session,
            Err(error) => {
                report.status = "error".to_owned();
                report.error = Some(error);
                return Ok(RegionImport {
                    report,
                    cursor: None,
                });
            }
        };
        let hosts = synced_hosts(&self.store, inventory, &account.name, region).await?;
        let period = account.metrics_period_secs;
        let mut queries = Vec::new();
        let mut targets = Vec::new();
        for (instance_id, host) in &hosts {
            queries_of(
                &EC2,
                &[("InstanceId", instance_id.clone())],
                &[("host", host.name.as_str())],
                &host.owners,
                period,
                region,
                &mut queries,
                &mut targets,
            );
        }
        let mut waited = Duration::ZERO;
        match load_balancer_queries(&session, inventory, &hosts, period, region).await {
            Ok((lb_queries, lb_targets, lb_waited)) => {
                queries.extend(lb_queries);
                targets.extend(lb_targets);
                waited += lb_waited;
            }
            Err(error) => {
                tracing::warn!(account = %account.name, %region, %error, "load balancers could not be listed; their metrics are not imported this time");
                report.error = Some(error);
            }
        }
        report.queries = queries.len();
        let client = session.client(Service::CloudWatch);
        let fetched = match cloudwatch::get_metric_data(&client, &queries, start, end).await {
            Ok(fetched) => fetched,
            Err(error) => {
                tracing::warn!(account = %account.name, %region, %error, "CloudWatch metrics could not be read");
                report.status = "error".to_owned();
                report.error = Some(error);
                report.fetch_ms = millis(waited);
                return Ok(RegionImport {
                    report,
                    cursor: None,
                });
            }
        };
        waited += fetched.waited;
        report.calls = fetched.calls;
        report.fetch_ms = millis(waited);
        report.datapoints = fetched.datapoints.iter().map(Vec::len).sum();
        let (by_project, unattributed) = points_of(&targets, &fetched.datapoints);
        report.unattributed = unattributed;
        for (project, points) in by_project {
            let count = points.len();
            let written = self
                .metrics
                .write(&project, points)
                .await
                .map_err(|error| {
                    AwsError::Import(format!(
                        "the metrics store refused the points of {project}: {}",
                        jeny_core::ErrorChain(&error)
                    ))
                })?;
            let refused = if written.refused_whole {
                count
            } else {
                written.dropped
            };
            report.refused += refused;
            report.points += count - refused;
            if refused > 0 {
                tracing::warn!(
                    account = %account.name, %region, %project, refused,
                    reason = written.reason.as_deref().unwrap_or("field type conflict"),
                    "imported CloudWatch points were refused by the metrics store"
                );
            }
        }
        Ok(RegionImport {
            report,
            cursor: Some(end.saturating_mul(1_000_000)),
        })
    }

    /// Imports, one account after the other, the accounts whose next window is due, and sleeps
    /// until the next is, until `shutdown`. It reads the accounts and cursors once a minute when
    /// nothing is due, and writes only when it imports.
    pub async fn run_metrics_importer(self, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            let next = match self.import_due().await {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(error = %jeny_core::ErrorChain(&error), "cannot read which AWS accounts are due for a metrics import");
                    IDLE_CHECK
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(next) => {}
            }
        }
    }

    /// Imports the accounts that are due; how long until the next one is (at most a minute).
    async fn import_due(&self) -> Result<Duration, AwsError> {
        let now = Timestamp::now().as_micros().div_euclid(1_000_000);
        let mut next = now + i64::try_from(IDLE_CHECK.as_secs()).unwrap_or(60);
        for row in store::list(&self.store).await? {
            let account = &row.account;
            if !(account.enabled && account.metrics_import) {
                continue;
            }
            let cursors = store::metrics_cursors(&self.store, &account.id).await?;
            let due = account
                .regions
                .iter()
                .map(|region| due_at(cursors.get(region).copied(), account.metrics_period_secs))
                .min()
                .unwrap_or(i64::MAX);
            if due > now {
                next = next.min(due);
                continue;
            }
            match self.import_metrics(&account.name).await {
                Ok(report) => {
                    tracing::info!(account = %account.name, status = %report.status, points = report.points, unattributed = report.unattributed, "imported AWS metrics");
                    // behind (a window shorter than the backlog): the next one at once
                    let behind = report.regions.iter().any(|region| {
                        region.status == "ok"
                            && region.to.is_some_and(|to| {
                                to.as_micros().div_euclid(1_000_000)
                                    + i64::try_from(account.metrics_period_secs + DELAY.as_secs())
                                        .unwrap_or(0)
                                    <= now
                            })
                    });
                    if behind {
                        next = now;
                    }
                    // a failed region waits a period before it is tried again
                    if report.status != "ok" {
                        next = next
                            .min(now + i64::try_from(account.metrics_period_secs).unwrap_or(300));
                    }
                }
                Err(AwsError::ImportRunning(..)) => {}
                Err(error) => {
                    tracing::warn!(account = %account.name, error = %jeny_core::ErrorChain(&error), "an AWS metrics import failed");
                }
            }
        }
        let now_after = Timestamp::now().as_micros().div_euclid(1_000_000);
        Ok(Duration::from_secs(
            u64::try_from(next - now_after).unwrap_or(0).max(1),
        ))
    }
}

/// The queries of the region's load balancers, their targets, and the time spent listing them.
async fn load_balancer_queries(
    session: &Session,
    inventory: &Inventory,
    hosts: &BTreeMap<String, SyncedHost>,
    period: u64,
    region: &str,
) -> Result<(Vec<MetricQuery>, Vec<Target>, Duration), String> {
    let client = session.client(Service::Elb);
    let mut calls = elb::Calls::default();
    let mut queries = Vec::new();
    let mut targets = Vec::new();
    let owners_of_instances = |instances: &mut dyn Iterator<Item = &String>| -> Vec<Owner> {
        let mut owners: Vec<Owner> = instances
            .filter_map(|id| hosts.get(id))
            .flat_map(|host| host.owners.iter().cloned())
            .collect();
        owners.sort();
        owners.dedup();
        owners
    };
    for balancer in elb::application_load_balancers(&client, &mut calls).await? {
        let owners = match inventory.owner_by_tags(&balancer.tags) {
            Some(owner) => vec![owner],
            None => owners_of_instances(
                &mut balancer
                    .target_groups
                    .iter()
                    .flat_map(|group| group.targets.iter()),
            ),
        };
        queries_of(
            &ALB,
            &[("LoadBalancer", balancer.dimension.clone())],
            &[],
            &owners,
            period,
            region,
            &mut queries,
            &mut targets,
        );
        for group in &balancer.target_groups {
            queries_of(
                &ALB_TARGET_GROUP,
                &[
                    ("TargetGroup", group.dimension.clone()),
                    ("LoadBalancer", balancer.dimension.clone()),
                ],
                &[],
                &owners,
                period,
                region,
                &mut queries,
                &mut targets,
            );
        }
    }
    for balancer in elb::classic_load_balancers(&client, &mut calls).await? {
        let owners = match inventory.owner_by_tags(&balancer.tags) {
            Some(owner) => vec![owner],
            None => owners_of_instances(&mut balancer.instances.iter()),
        };
        queries_of(
            &CLASSIC_ELB,
            &[("LoadBalancerName", balancer.name.clone())],
            &[],
            &owners,
            period,
            region,
            &mut queries,
            &mut targets,
        );
    }
    Ok((queries, targets, calls.waited))
}

fn empty_report(
    region: &str,
    status: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> RegionImportReport {
    let at = |secs: i64| Timestamp::from_micros(secs.saturating_mul(1_000_000));
    RegionImportReport {
        region: region.to_owned(),
        status: status.to_owned(),
        from: from.map(at),
        to: to.map(at),
        queries: 0,
        calls: 0,
        datapoints: 0,
        points: 0,
        unattributed: 0,
        refused: 0,
        error: None,
        fetch_ms: 0,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The accounts this process imports now: one import of an account at a time, also when the
/// periodic importer and a request ask together (the lease is this node's in both).
struct RunningHere(String);

fn running_here() -> &'static std::sync::Mutex<std::collections::HashSet<String>> {
    static RUNNING: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        std::sync::OnceLock::new();
    RUNNING.get_or_init(Default::default)
}

impl RunningHere {
    fn enter(account_id: &str) -> Option<RunningHere> {
        let mut running = running_here().lock().unwrap_or_else(|e| e.into_inner());
        running
            .insert(account_id.to_owned())
            .then(|| RunningHere(account_id.to_owned()))
    }
}

impl Drop for RunningHere {
    fn drop(&mut self) {
        running_here()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_telegrafs() {
        assert_eq!(measurement("AWS/EC2"), "cloudwatch_aws_ec2");
        assert_eq!(
            measurement("AWS/ApplicationELB"),
            "cloudwatch_aws_application_elb"
        );
        assert_eq!(measurement("AWS/ELB"), "cloudwatch_aws_elb");
        assert_eq!(measurement("AWS/DynamoDB"), "cloudwatch_aws_dynamo_db");
        assert_eq!(
            field("CPUUtilization", "Average"),
            "cpu_utilization_average"
        );
        assert_eq!(field("NetworkIn", "Sum"), "network_in_sum");
        assert_eq!(
            field("StatusCheckFailed", "Maximum"),
            "status_check_failed_maximum"
        );
        assert_eq!(
            field("HTTPCode_Target_5XX_Count", "Sum"),
            "http_code_target_5xx_count_sum"
        );
        assert_eq!(
            field("DiskWriteBytes", "SampleCount"),
            "disk_write_bytes_sample_count"
        );
        assert_eq!(snake_case("InstanceId"), "instance_id");
        assert_eq!(snake_case("LoadBalancer"), "load_balancer");
        assert_eq!(snake_case("TargetGroup"), "target_group");
        assert_eq!(snake_case("LoadBalancerName"), "load_balancer_name");
    }

    #[test]
    fn windows_are_whole_periods_late_enough_and_bounded() {
        let now = 1_796_724_000 + 17; // 10:00:17
        // first import: the backfill, at most MAX_WINDOW_PERIODS periods
        let (start, end) = window(None, now, 60).unwrap();
        assert_eq!(end - start, 60 * 60);
        assert_eq!(start, 1_796_724_000 - 300 - 3 * 3600);
        // caught up: the next window begins where the cursor is and ends 5 minutes ago
        let cursor = (1_796_724_000 - 600) * 1_000_000;
        assert_eq!(
            window(Some(cursor), now, 60),
            Some((1_796_724_000 - 600, 1_796_724_000 - 300))
        );
        // nothing due until a whole period has ended DELAY ago
        let cursor = (1_796_724_000 - 300) * 1_000_000;
        assert_eq!(window(Some(cursor), now, 60), None);
        assert_eq!(due_at(Some(cursor), 60), 1_796_724_000 + 60);
        // a long outage: at most a day back
        let (start, _) = window(Some(0), now, 300).unwrap();
        assert_eq!(start, 1_796_724_000 - 300 - 24 * 3600);
        assert_eq!(start % 300, 0);
    }

    #[test]
    fn datapoints_become_one_point_per_resource_time_and_environment() {
        let owners = vec![
            ("shop".to_owned(), Some("production".to_owned())),
            ("shop".to_owned(), Some("canary".to_owned())),
        ];
        let mut queries = Vec::new();
        let mut targets = Vec::new();
        queries_of(
            &EC2,
            &[("InstanceId", "i-1".to_owned())],
            &[("host", "web-1")],
            &owners,
            60,
            "eu-west-1",
            &mut queries,
            &mut targets,
        );
        queries_of(
            &EC2,
            &[("InstanceId", "i-2".to_owned())],
            &[("host", "lost")],
            &[],
            60,
            "eu-west-1",
            &mut queries,
            &mut targets,
        );
        assert_eq!(queries.len(), 8);
        let mut datapoints = vec![Vec::new(); 8];
        datapoints[0] = vec![(600, 12.5)];
        datapoints[1] = vec![(600, 1024.0)];
        datapoints[4] = vec![(600, 1.0), (660, 2.0)];
        let (by_project, unattributed) = points_of(&targets, &datapoints);
        assert_eq!(unattributed, 2);
        let points = &by_project["shop"];
        assert_eq!(points.len(), 2, "{points:?}");
        let canary = &points[0];
        assert_eq!(canary.measurement, "cloudwatch_aws_ec2");
        assert_eq!(
            canary.tags,
            [
                ("environment", "canary"),
                ("host", "web-1"),
                ("instance_id", "i-1"),
                ("region", "eu-west-1")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(
            canary.fields,
            vec![
                (
                    "cpu_utilization_average".to_owned(),
                    FieldValue::Float(12.5)
                ),
                ("network_in_sum".to_owned(), FieldValue::Float(1024.0)),
            ]
        );
        assert_eq!(canary.time_ns, 600_000_000_000);
    }
}
