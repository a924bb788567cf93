//! The metrics part's wire types, from `jeny-api` (the query model and its answer).

pub use jeny_api::metrics::*;
