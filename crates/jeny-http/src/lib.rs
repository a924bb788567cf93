//! jeny's HTTP conventions, shared by every part's routes: errors rendered as
//! `application/problem+json` from `ErrorCode`s (the only place codes become statuses), the
//! `AppJson` and `MergePatch` extractors that turn any bad body into a 4xx, the `Auth` extractor
//! that yields a `Principal`, ETags and `If-Match`, pagination parameters, and the request
//! middleware that gives every request an id and guarantees every error body is problem+json.

mod auth;
mod etag;
mod framing;
mod json;
mod live;
mod middleware;
pub mod openapi;
mod pagination;
mod problem;
mod query;
pub mod sse;

pub use auth::{AsAdmin, AsAgent, AsDeployer, Auth, Authenticator, Authenticators};
pub use etag::IfMatch;
pub use framing::{deny_framing, forbid_framing};
pub use json::{AppJson, MergePatch, json_created, json_with_etag, merge_patch};
pub use live::{AuthStream, CredentialGuard, RECHECK_EVERY};
pub use middleware::{DeliberateBody, RequestId, detach_writes, request_context};
pub use pagination::{Pagination, page_request};
pub use problem::{ApiError, Problem, ReadErrors, WriteErrors, status_of};
pub use query::QueryPairs;

/// Declares the schema of a create request (see `jeny_api::create_request_schema`).
pub use jeny_api::create_request_schema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";
