//! jeny's HTTP conventions, shared by every part's routes: errors rendered as
//! `application/problem+json` from `ErrorCode`s (the only place codes become statuses), the
//! `AppJson` and `MergePatch` extractors that turn any bad body into a 4xx, the `Auth` extractor
//! that yields a `Principal`, ETags and `If-Match`, pagination parameters, and the request
//! middleware that gives every request an id and guarantees every error body is problem+json.

mod auth;
mod etag;
mod json;
mod middleware;
mod pagination;
mod problem;
pub mod sse;

pub use auth::{Auth, Authenticator, Authenticators};
pub use etag::{IfMatch, etag_for};
pub use json::{AppJson, MergePatch, merge_patch};
pub use middleware::{RequestId, request_context};
pub use pagination::{Pagination, page_request};
pub use problem::{ApiError, Problem, status_of};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";
