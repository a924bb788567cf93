//! The metrics routes: InfluxDB's own write API (`influx.rs`), so that Telegraf and InfluxDB
//! clients write to jeny unchanged.

pub mod influx;

use axum::Router;

use crate::Metrics;

pub fn routes(metrics: Metrics) -> Router {
    Router::new().merge(influx::routes(metrics))
}
