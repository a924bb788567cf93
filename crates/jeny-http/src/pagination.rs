//! `?limit=&cursor=` on every list route, parsed into a `PageRequest`.

use crate::ApiError;
use jeny_core::page::decode_cursor;
use jeny_core::{ErrorCode, PageRequest};
use serde::Deserialize;

/// The pagination parameters of a list route.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// How many items per page, 1 to 500 (default 50).
    // The bounds are `PageRequest`'s (a test checks they agree).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page (opaque; empty means the first page).
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// Checks and decodes pagination parameters.
pub fn page_request(limit: Option<usize>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(PageRequest::DEFAULT_LIMIT);
    if !(1..=PageRequest::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("limit must be between 1 and {}", PageRequest::MAX_LIMIT),
        ));
    }
    let after = match cursor {
        None | Some("") => None,
        Some(cursor) => Some(decode_cursor(cursor).ok_or_else(|| ApiError {
            field: Some("cursor".to_owned()),
            ..ApiError::new(
                ErrorCode::InvalidInput,
                "this cursor was not produced by this list; start again without it",
            )
        })?),
    };
    Ok(PageRequest { limit, after })
}

impl Pagination {
    pub fn to_request(&self) -> Result<PageRequest, ApiError> {
        page_request(self.limit, self.cursor.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::IntoParams;

    #[test]
    fn the_documented_limit_bounds_are_the_ones_checked() {
        let parameters = serde_json::to_value(Pagination::into_params(|| None)).unwrap();
        let limit = &parameters[0]["schema"];
        assert_eq!(limit["minimum"], 1);
        assert_eq!(limit["maximum"], PageRequest::MAX_LIMIT);
        assert!(page_request(Some(0), None).is_err());
        assert!(page_request(Some(PageRequest::MAX_LIMIT + 1), None).is_err());
        assert!(page_request(Some(PageRequest::MAX_LIMIT), None).is_ok());
    }
}
