//! The metrics service: where points go (the sink) and the rules every write follows whatever
//! the sink: the reserved `project` tag is the database written to. Reads go where the points
//! are: the embedded store's executor, or InfluxDB's own `/query`.

use std::sync::{Arc, RwLock};

use crate::compile::{Compiled, over_rollup, retimed};
use crate::influxql::SelectStatement;
use crate::influxql::Statement;
use crate::line_protocol::Point;
use crate::query::influxql::{Cell, Series, execute};
use crate::sink_influx::{InfluxAuth, InfluxSink, InfluxSinkConfig, SinkError};
use crate::store::{DAY_NS, HOUR_NS, ROLLUP_NS, Retentions, Store, StoreError, Written};

/// Where points are kept.
#[derive(Clone)]
pub enum Sink {
    /// The embedded store in the data dir.
    Embedded(Store),
    /// An InfluxDB (or a server speaking its write and query APIs), through the spool.
    Influx(Arc<InfluxTarget>),
}

/// An InfluxDB: the sink that writes to it, and what reads from it.
pub struct InfluxTarget {
    pub sink: InfluxSink,
    pub config: InfluxSinkConfig,
    /// The projects' retention (`retention.rs` keeps it): where a query's range is older than
    /// its raw points are kept, it reads the rollups.
    pub retention: RwLock<Retentions>,
    /// Every project's name (kept with `retention`): the databases the rollups go through.
    pub projects: RwLock<Vec<String>>,
    http: reqwest::Client,
}

impl InfluxTarget {
    pub fn new(sink: InfluxSink, config: InfluxSinkConfig) -> InfluxTarget {
        InfluxTarget {
            sink,
            config,
            retention: RwLock::new(Retentions::default()),
            projects: RwLock::new(Vec::new()),
            http: reqwest::Client::new(),
        }
    }

    /// Runs InfluxQL on `project`'s database with InfluxDB's 1.x `/query` (which InfluxDB 2.x
    /// also answers, through its database and retention policy mappings): its JSON answer, or
    /// why there is none.
    pub async fn query(
        &self,
        project: &str,
        q: &str,
        epoch: Option<&str>,
    ) -> Result<serde_json::Value, String> {
        self.send_query(reqwest::Method::GET, project, q, epoch)
            .await
    }

    /// Runs InfluxQL that changes something (`CREATE`, `ALTER`, `SELECT ... INTO`), which
    /// InfluxDB 1.x takes only by `POST`.
    pub async fn execute(&self, project: &str, q: &str) -> Result<serde_json::Value, String> {
        let answer = self
            .send_query(reqwest::Method::POST, project, q, Some("ns"))
            .await?;
        // each statement's error is in its result
        for result in answer["results"].as_array().into_iter().flatten() {
            if let Some(error) = result["error"].as_str() {
                return Err(format!("InfluxDB refused {q:?}: {error}"));
            }
        }
        Ok(answer)
    }

    async fn send_query(
        &self,
        method: reqwest::Method,
        project: &str,
        q: &str,
        epoch: Option<&str>,
    ) -> Result<serde_json::Value, String> {
        let mut params = vec![("db", self.config.database(project)), ("q", q.to_owned())];
        if let Some(epoch) = epoch {
            params.push(("epoch", epoch.to_owned()));
        }
        if let Some(rp) = &self.config.retention_policy {
            params.push(("rp", rp.clone()));
        }
        let mut request = self
            .http
            .request(
                method,
                format!("{}/query", self.config.url.trim_end_matches('/')),
            )
            .query(&params)
            .timeout(self.config.request_timeout);
        request = match &self.config.auth {
            InfluxAuth::None => request,
            InfluxAuth::UserPassword { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
            InfluxAuth::Token(token) => {
                request.header("authorization", format!("Token {}", token.expose()))
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| format!("InfluxDB at {} did not answer: {e}", self.config.url))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("InfluxDB's answer could not be read: {e}"))?;
        if !status.is_success() {
            return Err(format!("InfluxDB answered {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("InfluxDB's answer is not JSON: {e}"))
    }
}

/// The metrics part, shared by its routes and by what records metrics.
#[derive(Clone)]
pub struct Metrics {
    /// the main store: projects, to check that a database names one
    pub store: jeny_store::Store,
    pub sink: Arc<Sink>,
    /// The largest write body taken (the server's `max_body_bytes`): a body that streams past
    /// it is refused with 413.
    pub max_body_bytes: usize,
}

/// The tag that names a point's project: always the database it was written to.
pub const PROJECT_TAG: &str = "project";

/// Sets a point's `project` tag to `project`, replacing one sent with it and keeping the tags
/// sorted.
pub fn label_project(point: &mut Point, project: &str) {
    match point
        .tags
        .binary_search_by(|(k, _)| k.as_str().cmp(PROJECT_TAG))
    {
        Ok(i) => point.tags[i].1 = project.to_owned(),
        Err(i) => point
            .tags
            .insert(i, (PROJECT_TAG.to_owned(), project.to_owned())),
    }
}

/// A JSON value of InfluxDB's answer as a cell; the `time` column as a time (asked in ns).
fn cell_of(value: &serde_json::Value, is_time: bool) -> Cell {
    match value {
        serde_json::Value::Null => Cell::Null,
        serde_json::Value::Bool(b) => Cell::Boolean(*b),
        serde_json::Value::String(s) => Cell::String(s.clone()),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                if is_time {
                    Cell::Time(i)
                } else {
                    Cell::Integer(i)
                }
            } else if let Some(u) = n.as_u64() {
                Cell::Unsigned(u)
            } else {
                Cell::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        other => Cell::String(other.to_string()),
    }
}

/// The first result of InfluxDB's `/query` answer as series.
fn series_of(answer: &serde_json::Value) -> Result<Vec<Series>, String> {
    let result = &answer["results"][0];
    if let Some(error) = result["error"].as_str() {
        return Err(error.to_owned());
    }
    let mut out = Vec::new();
    for s in result["series"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let columns: Vec<String> = s["columns"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|c| c.as_str().unwrap_or_default().to_owned())
            .collect();
        let tags = s["tags"].as_object().map(|t| {
            t.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        });
        let values = s["values"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|row| {
                row.as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                    .map(|(i, v)| cell_of(v, columns.get(i).is_some_and(|c| c == "time")))
                    .collect()
            })
            .collect();
        out.push(Series {
            name: s["name"].as_str().unwrap_or_default().to_owned(),
            tags,
            columns,
            values,
        });
    }
    Ok(out)
}

impl Metrics {
    /// The embedded store, when it is the sink.
    pub fn embedded(&self) -> Option<&Store> {
        match self.sink.as_ref() {
            Sink::Embedded(store) => Some(store),
            Sink::Influx(_) => None,
        }
    }

    /// Runs one InfluxQL statement over `project` where its points are: the embedded store's
    /// executor, or the InfluxDB's `/query`. The error is the statement's, in InfluxDB's words.
    pub async fn run(
        &self,
        project: &str,
        statement: &Statement,
        now_ns: i64,
    ) -> Result<Vec<Series>, String> {
        match self.sink.as_ref() {
            Sink::Embedded(store) => {
                let (store, project, statement) =
                    (store.clone(), project.to_owned(), statement.clone());
                tokio::task::spawn_blocking(move || execute(&store, &project, &statement, now_ns))
                    .await
                    .unwrap_or_else(|e| Err(format!("the query failed: {e}")))
            }
            Sink::Influx(target) => {
                let q = crate::influxql::render(std::slice::from_ref(statement));
                series_of(&target.query(project, &q, Some("ns")).await?)
            }
        }
    }

    /// Runs a compiled query of the query model over `[from_ns, to_ns]`. On an InfluxDB whose
    /// project keeps its raw points for less than the range reaches back, the part older than
    /// that reads the rollups (`over_rollup`: the coarsest policy whose buckets divide the
    /// interval) and the rest the points, one series out of both; the embedded store's executor
    /// makes that choice itself, day by day.
    pub async fn run_compiled(
        &self,
        project: &str,
        compiled: &Compiled,
        from_ns: i64,
        to_ns: i64,
        now_ns: i64,
    ) -> Result<Vec<Series>, String> {
        let whole = || Statement::Select(compiled.statement.clone());
        let Sink::Influx(target) = self.sink.as_ref() else {
            return self.run(project, &whole(), now_ns).await;
        };
        let raw_days = target
            .retention
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .of(project)
            .raw_days;
        let (Some(policies), Some(raw_days)) = (&target.config.rollup_policies, raw_days) else {
            return self.run(project, &whole(), now_ns).await;
        };
        let horizon = now_ns.saturating_sub(i64::from(raw_days).saturating_mul(DAY_NS));
        let interval = compiled.interval_ns.max(1);
        // the first bucket wholly inside the raw points' horizon
        let boundary = horizon
            .div_euclid(interval)
            .saturating_add(1)
            .saturating_mul(interval);
        if from_ns >= boundary {
            return self.run(project, &whole(), now_ns).await;
        }
        let over: Option<SelectStatement> =
            over_rollup(&compiled.statement, &policies.hour, HOUR_NS)
                .or_else(|| over_rollup(&compiled.statement, &policies.five_minutes, ROLLUP_NS));
        let Some(over) = over else {
            return self.run(project, &whole(), now_ns).await;
        };
        let old = Statement::Select(retimed(&over, from_ns, (boundary - 1).min(to_ns)));
        let mut series = self.run(project, &old, now_ns).await?;
        if boundary <= to_ns {
            let recent = Statement::Select(retimed(&compiled.statement, boundary, to_ns));
            for s in self.run(project, &recent, now_ns).await? {
                match series
                    .iter_mut()
                    .find(|old| old.name == s.name && old.tags == s.tags)
                {
                    Some(old) => old.values.extend(s.values),
                    None => series.push(s),
                }
            }
            series.sort_by(|a, b| (&a.name, &a.tags).cmp(&(&b.name, &b.tags)));
        }
        Ok(series)
    }

    /// Writes points of `project`; they are durable when this returns.
    pub async fn write(
        &self,
        project: &str,
        mut points: Vec<Point>,
    ) -> Result<Written, StoreError> {
        for p in &mut points {
            label_project(p, project);
        }
        match self.sink.as_ref() {
            Sink::Influx(target) => {
                let n = points.len();
                target
                    .sink
                    .write(project, points)
                    .await
                    .map_err(|e| match e {
                        // the spool is full or unwritable: the same answer as a full disk
                        SinkError::Failed(why) => StoreError::Failed(why),
                        other => StoreError::Io(std::io::Error::other(other.to_string())),
                    })?;
                Ok(Written {
                    points: n,
                    ..Written::default()
                })
            }
            Sink::Embedded(store) => {
                let store = store.clone();
                let project = project.to_owned();
                tokio::task::spawn_blocking(move || store.write(&project, &points))
                    .await
                    .map_err(|e| StoreError::Failed(format!("the writing thread ended: {e}")))?
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_tag_is_the_database() {
        let mut p = crate::line_protocol::parse(
            b"m,a=1,project=other,z=2 v=1",
            crate::line_protocol::Precision::Nanoseconds,
            0,
        )
        .points
        .remove(0);
        label_project(&mut p, "shop");
        assert_eq!(
            p.tags,
            [("a", "1"), ("project", "shop"), ("z", "2")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let mut p = crate::line_protocol::parse(
            b"m,host=a v=1",
            crate::line_protocol::Precision::Nanoseconds,
            0,
        )
        .points
        .remove(0);
        label_project(&mut p, "shop");
        assert_eq!(p.tags[0], ("host".to_owned(), "a".to_owned()));
        assert_eq!(p.tags[1], ("project".to_owned(), "shop".to_owned()));
    }
}
