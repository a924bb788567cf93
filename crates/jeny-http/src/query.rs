//! `QueryPairs`: the query string as ordered pairs, for parameters that repeat
//! (`?tag=role=web&tag=env=production`), which serde's query extractor cannot express.

use crate::ApiError;
use axum::extract::FromRequestParts;
use http::request::Parts;
use jeny_core::PageRequest;

#[derive(Debug, Clone, Default)]
pub struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    /// The pairs of a URI's query string.
    pub fn from_uri(uri: &http::Uri) -> QueryPairs {
        let pairs = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        QueryPairs(pairs)
    }

    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Refuses parameters this route does not know, so a typo is not silently ignored.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self
            .0
            .iter()
            .find(|(key, _)| !known.contains(&key.as_str()))
        {
            Some((unknown, _)) => Err(ApiError::invalid(
                unknown.clone(),
                format!(
                    "unknown query parameter {unknown:?}; this route takes {}",
                    known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// Refuses a parameter given more than once among `names`: `?role=viewer&role=admin` means
    /// nothing sensible, and reading only one of them would let the other pass unchecked.
    pub fn at_most_once(&self, names: &[&str]) -> Result<(), ApiError> {
        match names.iter().find(|name| self.all(name).nth(1).is_some()) {
            Some(repeated) => Err(ApiError::invalid(
                *repeated,
                format!("the query parameter {repeated:?} is given more than once; give it once"),
            )),
            None => Ok(()),
        }
    }

    /// The `limit` and `cursor` parameters.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        crate::page_request(self.limit()?, self.first("cursor"))
    }

    /// The `limit` parameter, checked to be 1 to 500 (`None` when absent).
    pub fn limit(&self) -> Result<Option<usize>, ApiError> {
        let Some(text) = self.first("limit") else {
            return Ok(None);
        };
        let limit = text
            .parse::<usize>()
            .map_err(|_| ApiError::invalid("limit", "limit must be a whole number"))?;
        crate::page_request(Some(limit), None).map(|page| Some(page.limit))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<QueryPairs, ApiError> {
        Ok(QueryPairs::from_uri(&parts.uri))
    }
}
