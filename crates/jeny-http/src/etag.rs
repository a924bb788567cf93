//! ETags and `If-Match`: optimistic concurrency for every updatable resource. A resource's ETag
//! names its id and version; an update carrying a stale `If-Match` gets 412 and changes nothing,
//! so two editors cannot silently overwrite each other.

use crate::ApiError;
use axum::extract::FromRequestParts;
use http::request::Parts;
use jeny_core::ErrorCode;

/// The strong ETag of version `version` of the resource `id`.
pub fn etag_for(id: &str, version: i64) -> String {
    format!("\"{version}-{id}\"")
}

/// The `If-Match` header of a request, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IfMatch(Option<Vec<String>>);

impl IfMatch {
    pub fn any() -> IfMatch {
        IfMatch(None)
    }

    /// Succeeds when there is no `If-Match`, when it is `*`, or when it lists `current_etag`.
    pub fn check(&self, current_etag: &str, what: &str) -> Result<(), ApiError> {
        let Some(tags) = &self.0 else {
            return Ok(());
        };
        let matches = tags.iter().any(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*" || tag == current_etag
        });
        if matches {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::PreconditionFailed,
                format!(
                    "the {what} changed since you read it (it is now {current_etag}); fetch it again and reapply your change"
                ),
            ))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<IfMatch, ApiError> {
        let mut tags = Vec::new();
        for value in parts.headers.get_all(http::header::IF_MATCH) {
            let text = value.to_str().map_err(|_| {
                ApiError::new(ErrorCode::MalformedRequest, "the If-Match header is not valid text")
            })?;
            tags.extend(text.split(',').map(|tag| tag.trim().to_owned()).filter(|tag| !tag.is_empty()));
        }
        Ok(IfMatch((!tags.is_empty()).then_some(tags)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_current_tag_or_a_star_passes() {
        let current = etag_for("abc", 2);
        assert!(IfMatch::any().check(&current, "project").is_ok());
        assert!(IfMatch(Some(vec!["*".into()])).check(&current, "project").is_ok());
        assert!(IfMatch(Some(vec![etag_for("abc", 1), current.clone()])).check(&current, "project").is_ok());
        let stale = IfMatch(Some(vec![etag_for("abc", 1)])).check(&current, "project").unwrap_err();
        assert_eq!(stale.code, ErrorCode::PreconditionFailed);
    }
}
