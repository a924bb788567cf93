//! The `If-Match` extractor: turns the header into the `Precondition` an update checks.

use crate::ApiError;
use axum::extract::FromRequestParts;
use http::request::Parts;
use jeny_core::{ErrorCode, Precondition};

/// The request's `If-Match` header as a precondition (`Precondition::None` when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IfMatch(pub Precondition);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<IfMatch, ApiError> {
        let mut tags = Vec::new();
        for value in parts.headers.get_all(http::header::IF_MATCH) {
            let text = value.to_str().map_err(|_| {
                ApiError::new(
                    ErrorCode::MalformedRequest,
                    "the If-Match header is not valid text",
                )
            })?;
            tags.extend(
                text.split(',')
                    .map(|tag| tag.trim().to_owned())
                    .filter(|tag| !tag.is_empty()),
            );
        }
        if tags.is_empty() {
            Ok(IfMatch(Precondition::None))
        } else {
            Ok(IfMatch(Precondition::IfMatch(tags)))
        }
    }
}
