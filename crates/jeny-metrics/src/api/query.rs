//! jeny's own reads of metrics: the query model (`POST /api/v1/metrics/query`, a read: viewers
//! may call it) and autocomplete (`GET /api/v1/metrics/{measurements,field-keys,tag-keys,
//! tag-values}`). Errors are problem+json, as everywhere under `/api/v1`.

use axum::extract::State;
use jeny_http::{ApiError, AppJson, Auth, QueryPairs, ReadErrors};

use crate::compile::compile;
use crate::model::{
    MAX_POINTS, MAX_QUERIES, MetricName, MetricNames, MetricResult, MetricSeries, MetricsAnswer,
    MetricsQuery, TimeSpec,
};
use crate::query::influxql::{Cell, execute};
use crate::service::{Metrics, Sink};

fn cell_json(cell: &Cell) -> serde_json::Value {
    match cell {
        Cell::Time(ns) => serde_json::json!(ns.div_euclid(1_000_000)),
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
    let Sink::Embedded(store) = metrics.sink.as_ref();
    let store = store.clone();
    let project = request.project.clone();
    let statements: Vec<_> = compiled
        .iter()
        .map(|c| crate::influxql::Statement::Select(c.statement.clone()))
        .collect();
    let outcomes = tokio::task::spawn_blocking(move || {
        statements
            .iter()
            .map(|s| execute(&store, &project, s, now))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::new(jeny_core::ErrorCode::Internal, e.to_string()))?;
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

async fn names(
    metrics: &Metrics,
    query: &QueryPairs,
    known: &[&str],
    list: impl FnOnce(&crate::store::Store, &QueryPairs) -> Result<Vec<MetricName>, ApiError>,
) -> Result<AppJson<MetricNames>, ApiError> {
    query.only(known)?;
    query.at_most_once(known)?;
    let project = required(query, "project")?;
    jeny_projects::get_project(&metrics.store, project).await?;
    let Sink::Embedded(store) = metrics.sink.as_ref();
    Ok(AppJson(MetricNames {
        items: list(store, query)?,
    }))
}

fn plain(names: Vec<String>) -> Vec<MetricName> {
    names
        .into_iter()
        .map(|name| MetricName {
            name,
            field_type: None,
        })
        .collect()
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
    names(&metrics, &query, &["project"], |store, q| {
        Ok(plain(store.measurements(required(q, "project")?)))
    })
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
    names(&metrics, &query, &["project", "measurement"], |store, q| {
        let fields = store.field_keys(required(q, "project")?, required(q, "measurement")?);
        Ok(fields
            .into_iter()
            .map(|(name, ty)| MetricName {
                name,
                field_type: Some(ty.name().to_owned()),
            })
            .collect())
    })
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
    names(&metrics, &query, &["project", "measurement"], |store, q| {
        Ok(plain(store.tag_keys(
            required(q, "project")?,
            required(q, "measurement")?,
        )))
    })
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
    names(
        &metrics,
        &query,
        &["project", "measurement", "key"],
        |store, q| {
            Ok(plain(store.tag_values(
                required(q, "project")?,
                required(q, "measurement")?,
                required(q, "key")?,
            )))
        },
    )
    .await
}
