//! jeny's own reads of metrics: the query model (`POST /api/v1/metrics/query`, a read: viewers
//! may call it) and autocomplete (`GET /api/v1/metrics/{measurements,field-keys,tag-keys,
//! tag-values}`). Errors are problem+json, as everywhere under `/api/v1`.

use axum::extract::State;
use jeny_http::{ApiError, AppJson, Auth, QueryPairs, ReadErrors};

use crate::compile::compile;
use crate::influxql::{Measurement, MeasurementName, Show, ShowKind, Statement, TagKeyFilter};
use crate::model::{
    MAX_POINTS, MAX_QUERIES, MetricName, MetricNames, MetricResult, MetricSeries, MetricsAnswer,
    MetricsQuery, TimeSpec,
};
use crate::query::influxql::{Cell, Series};
use crate::service::Metrics;

fn cell_json(cell: &Cell) -> serde_json::Value {
    match cell {
        Cell::Time(ns) => serde_json::json!(ns.div_euclid(1_000_000)),
        // a whole float as an integer, as InfluxDB writes it, so that both sinks answer alike
        Cell::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
            serde_json::json!(*f as i64)
        }
        Cell::Float(f) if f.is_finite() => serde_json::json!(f),
        Cell::Float(_) | Cell::Null => serde_json::Value::Null,
        Cell::Integer(i) => serde_json::json!(i),
        Cell::Unsigned(u) => serde_json::json!(u),
        Cell::String(s) => serde_json::json!(s),
        Cell::Boolean(b) => serde_json::json!(b),
    }
}

/// Runs queries of the query model: each compiles to InfluxQL (echoed as `influxql`) and runs
/// on the project's metrics. The interval is never finer than `(to - from) / max_points`.
#[utoipa::path(
    post,
    path = "/api/v1/metrics/query",
    tag = "metrics",
    request_body = MetricsQuery,
    security(("bearer" = [])),
    extensions(("x-jeny-read" = json!(true))),
    responses(
        (status = 200, description = "One result per query, in order", body = MetricsAnswer),
        (status = 404, description = "No such project", body = jeny_http::Problem),
        (status = 422, description = "A query that cannot run, naming its field", body = jeny_http::Problem),
        ReadErrors,
    )
)]
pub async fn query(
    _auth: Auth,
    State(metrics): State<Metrics>,
    AppJson(request): AppJson<MetricsQuery>,
) -> Result<AppJson<MetricsAnswer>, ApiError> {
    if request.queries.is_empty() || request.queries.len() > MAX_QUERIES {
        return Err(ApiError::invalid(
            "queries",
            format!("1 to {MAX_QUERIES} queries"),
        ));
    }
    let max_points = request.max_points.unwrap_or(1000);
    if !(1..=MAX_POINTS).contains(&max_points) {
        return Err(ApiError::invalid(
            "max_points",
            format!("max_points is 1 to {MAX_POINTS}"),
        ));
    }
    let now = crate::api::influx::now_ns();
    let from = request
        .from
        .clone()
        .unwrap_or(TimeSpec::Text("now-1h".into()))
        .resolve(now, "from")
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    let to = request
        .to
        .clone()
        .unwrap_or(TimeSpec::Text("now".into()))
        .resolve(now, "to")
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    if from >= to {
        return Err(ApiError::invalid("from", "from must be before to"));
    }
    let mut compiled = Vec::with_capacity(request.queries.len());
    for (i, q) in request.queries.iter().enumerate() {
        compiled.push(
            compile(i, q, from, to, max_points, &request.variables)
                .map_err(|e| ApiError::invalid(e.field, e.message))?,
        );
    }
    jeny_projects::get_project(&metrics.store, &request.project).await?;
    let mut outcomes = Vec::with_capacity(compiled.len());
    for c in &compiled {
        outcomes.push(
            metrics
                .run_compiled(&request.project, c, from, to, now)
                .await,
        );
    }
    let mut results = Vec::with_capacity(outcomes.len());
    for (i, ((q, c), outcome)) in request
        .queries
        .iter()
        .zip(&compiled)
        .zip(outcomes)
        .enumerate()
    {
        let series = outcome.map_err(|e| ApiError::invalid(format!("queries[{i}]"), e))?;
        results.push(MetricResult {
            reference: q.reference.clone(),
            influxql: c.influxql.clone(),
            interval_ms: c.interval_ns / 1_000_000,
            series: series
                .into_iter()
                .map(|s| MetricSeries {
                    name: s.name,
                    tags: s.tags.unwrap_or_default(),
                    columns: s.columns,
                    values: s
                        .values
                        .iter()
                        .map(|row| row.iter().map(cell_json).collect())
                        .collect(),
                })
                .collect(),
        });
    }
    Ok(AppJson(MetricsAnswer { results }))
}

fn required<'a>(query: &'a QueryPairs, name: &str) -> Result<&'a str, ApiError> {
    query
        .first(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid(name, format!("{name} is required")))
}

/// Runs a `SHOW` of `kind` (of the `measurement` parameter's measurement, when the route takes
/// one) where the project's points are; each row's `name_column` (and `type_column`) is a name.
async fn names(
    metrics: &Metrics,
    query: &QueryPairs,
    known: &[&str],
    kind: ShowKind,
    name_column: &str,
    type_column: Option<&str>,
) -> Result<AppJson<MetricNames>, ApiError> {
    query.only(known)?;
    query.at_most_once(known)?;
    let project = required(query, "project")?;
    let sources = if known.contains(&"measurement") {
        vec![Measurement {
            database: None,
            retention_policy: None,
            name: MeasurementName::Name(required(query, "measurement")?.to_owned()),
        }]
    } else {
        Vec::new()
    };
    jeny_projects::get_project(&metrics.store, project).await?;
    let statement = Statement::Show(Show {
        kind,
        database: None,
        sources,
        condition: None,
        limit: None,
        offset: None,
    });
    let series: Vec<Series> = metrics
        .run(project, &statement, crate::api::influx::now_ns())
        .await
        .map_err(|e| ApiError::new(jeny_core::ErrorCode::Unavailable, e))?;
    let mut items: Vec<MetricName> = Vec::new();
    for s in &series {
        let at = |c: &str| s.columns.iter().position(|name| name == c);
        let (Some(n), t) = (at(name_column), type_column.and_then(at)) else {
            continue;
        };
        for row in &s.values {
            if let Some(Cell::String(name)) = row.get(n) {
                let field_type = t.and_then(|t| match row.get(t) {
                    Some(Cell::String(ty)) => Some(ty.clone()),
                    _ => None,
                });
                items.push(MetricName {
                    name: name.clone(),
                    field_type,
                });
            }
        }
    }
    Ok(AppJson(MetricNames { items }))
}

/// A project's measurements, sorted.
#[utoipa::path(
    get,
    path = "/api/v1/metrics/measurements",
    tag = "metrics",
    params(("project" = String, Query, description = "The project")),
    security(("bearer" = [])),
    responses((status = 200, description = "The names", body = MetricNames), (status = 404, description = "No such project", body = jeny_http::Problem), ReadErrors)
)]
pub async fn measurements(
    _auth: Auth,
    State(metrics): State<Metrics>,
    query: QueryPairs,
) -> Result<AppJson<MetricNames>, ApiError> {
    names(
        &metrics,
        &query,
        &["project"],
        ShowKind::Measurements(None),
        "name",
        None,
    )
    .await
}

/// A measurement's fields and their types, sorted.
#[utoipa::path(
    get,
    path = "/api/v1/metrics/field-keys",
    tag = "metrics",
    params(
        ("project" = String, Query, description = "The project"),
        ("measurement" = String, Query, description = "The measurement"),
    ),
    security(("bearer" = [])),
    responses((status = 200, description = "The fields", body = MetricNames), (status = 404, description = "No such project", body = jeny_http::Problem), ReadErrors)
)]
pub async fn field_keys(
    _auth: Auth,
    State(metrics): State<Metrics>,
    query: QueryPairs,
) -> Result<AppJson<MetricNames>, ApiError> {
    names(
        &metrics,
        &query,
        &["project", "measurement"],
        ShowKind::FieldKeys,
        "fieldKey",
        Some("fieldType"),
    )
    .await
}

/// A measurement's tag keys, sorted.
#[utoipa::path(
    get,
    path = "/api/v1/metrics/tag-keys",
    tag = "metrics",
    params(
        ("project" = String, Query, description = "The project"),
        ("measurement" = String, Query, description = "The measurement"),
    ),
    security(("bearer" = [])),
    responses((status = 200, description = "The tag keys", body = MetricNames), (status = 404, description = "No such project", body = jeny_http::Problem), ReadErrors)
)]
pub async fn tag_keys(
    _auth: Auth,
    State(metrics): State<Metrics>,
    query: QueryPairs,
) -> Result<AppJson<MetricNames>, ApiError> {
    names(
        &metrics,
        &query,
        &["project", "measurement"],
        ShowKind::TagKeys,
        "tagKey",
        None,
    )
    .await
}

/// A tag's values in a measurement, sorted.
#[utoipa::path(
    get,
    path = "/api/v1/metrics/tag-values",
    tag = "metrics",
    params(
        ("project" = String, Query, description = "The project"),
        ("measurement" = String, Query, description = "The measurement"),
        ("key" = String, Query, description = "The tag key"),
    ),
    security(("bearer" = [])),
    responses((status = 200, description = "The values", body = MetricNames), (status = 404, description = "No such project", body = jeny_http::Problem), ReadErrors)
)]
pub async fn tag_values(
    _auth: Auth,
    State(metrics): State<Metrics>,
    query: QueryPairs,
) -> Result<AppJson<MetricNames>, ApiError> {
    let key = required(&query, "key")?.to_owned();
    let kind = ShowKind::TagValues(TagKeyFilter::Equal(key));
    names(
        &metrics,
        &query,
        &["project", "measurement", "key"],
        kind,
        "value",
        None,
    )
    .await
}
