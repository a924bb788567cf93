//! Reading metrics: aggregations over time buckets (`aggregate.rs`), the same for every sink, and
//! InfluxQL statements executed over the embedded store as InfluxDB 1.x answers them
//! (`influxql.rs`).

pub mod aggregate;
pub mod influxql;
