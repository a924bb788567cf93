//! Reading metrics: aggregations over time buckets (`aggregate.rs`), the same for every sink.

pub mod aggregate;
