//! Metrics: numbers over time about what jeny runs. A metric is a point in InfluxDB's
//! line-protocol form: a measurement (what is measured), tags (which thing: always the project,
//! environment and host, plus the metric's own), fields (the values: float, integer, unsigned,
//! string or boolean) and a time in nanoseconds. jeny writes deploy metrics (durations, results),
//! host metrics from the agent, check results and metrics imported from CloudWatch, and accepts
//! points from anything that speaks InfluxDB's `/write`. Points go to a sink: the embedded store or
//! an InfluxDB. `line_protocol` reads and writes points exactly as InfluxDB does (and says where it
//! deliberately differs), `store` is the embedded store, `service` the sink behind one interface,
//! and `api` the routes, InfluxDB's own among them.

pub mod api;
pub mod compile;
pub mod deploys;
pub mod influxql;
pub mod line_protocol;
pub mod model;
pub mod query;
pub mod retention;
pub mod service;
pub mod sink_influx;
pub mod store;

pub use service::{Metrics, Sink};
