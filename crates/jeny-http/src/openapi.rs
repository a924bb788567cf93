//! OpenAPI pieces the parts share. They live in `jeny-api` (the wire types' crate, which uses
//! them) and are re-exported here so that `jeny_http::create_request_schema!` and
//! `jeny_http::openapi::with_required_field` keep working.

pub use jeny_api::openapi::with_required_field;
