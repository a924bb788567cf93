//! The metrics routes: InfluxDB's own API (`influx.rs`: `/write`, `/api/v2/write`, `/query`,
//! `/ping`), so that Telegraf, Grafana and InfluxDB clients work with jeny unchanged, Prometheus
//! remote write as InfluxDB 1.x takes it (`prom.rs`: `/api/v1/prom/write`), and jeny's query
//! model and autocomplete (`query.rs`, under `/api/v1/metrics`).

pub mod influx;
pub mod prom;
pub mod query;

use axum::Router;
use axum::routing::{get, post};

use crate::Metrics;

pub fn routes(metrics: Metrics) -> Router {
    Router::new()
        .route("/api/v1/metrics/query", post(query::query))
        .route("/api/v1/metrics/measurements", get(query::measurements))
        .route("/api/v1/metrics/field-keys", get(query::field_keys))
        .route("/api/v1/metrics/tag-keys", get(query::tag_keys))
        .route("/api/v1/metrics/tag-values", get(query::tag_values))
        .with_state(metrics.clone())
        .merge(influx::routes(metrics.clone()))
        .merge(prom::routes(metrics))
}

/// The metrics routes' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        influx::write_v1,
        influx::write_v2,
        influx::query_v1,
        influx::ping,
        prom::remote_write,
        query::query,
        query::measurements,
        query::field_keys,
        query::tag_keys,
        query::tag_values
    ),
    components(schemas(
        influx::InfluxV1Error,
        influx::InfluxV2Error,
        prom::PromWriteRequest,
        crate::model::MetricsQuery,
        crate::model::MetricQuery,
        crate::model::TagCondition,
        crate::model::TimeSpec,
        crate::model::MetricsAnswer,
        crate::model::MetricResult,
        crate::model::MetricSeries,
        crate::model::MetricNames,
        crate::model::MetricName
    ))
)]
pub struct MetricsApi;
