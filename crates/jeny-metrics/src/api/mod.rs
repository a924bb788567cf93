//! The metrics routes: InfluxDB's own write API (`influx.rs`), so that Telegraf and InfluxDB
//! clients write to jeny unchanged.

pub mod influx;

use axum::Router;

use crate::Metrics;

pub fn routes(metrics: Metrics) -> Router {
    Router::new().merge(influx::routes(metrics))
}

/// The metrics routes' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(influx::write_v1, influx::write_v2, influx::ping),
    components(schemas(influx::InfluxV1Error, influx::InfluxV2Error))
)]
pub struct MetricsApi;
