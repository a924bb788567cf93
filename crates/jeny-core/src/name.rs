//! `Name`: the URL-safe identifier of projects and environments, `[a-z0-9][a-z0-9-]{0,62}`.
//! Parsed once at the edge, so code holding a `Name` never re-checks it.

use std::fmt;

/// A validated project or environment name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name cannot be empty")]
    Empty,
    #[error("a name is at most 63 characters, this one has {0}")]
    TooLong(usize),
    #[error("a name must start with a lowercase letter or a digit")]
    BadStart,
    #[error("a name may only contain lowercase letters, digits and '-', found {0:?}")]
    BadCharacter(char),
}

impl Name {
    pub const MAX_LEN: usize = 63;
    /// The rule of `parse` as an ECMA-262 regular expression (the OpenAPI document's).
    pub const PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,62}$";

    pub fn parse(raw: &str) -> Result<Name, NameError> {
        let Some(first) = raw.chars().next() else {
            return Err(NameError::Empty);
        };
        let length = raw.chars().count();
        if length > Self::MAX_LEN {
            return Err(NameError::TooLong(length));
        }
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return Err(NameError::BadStart);
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(NameError::BadCharacter(bad));
        }
        Ok(Name(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// `Name` in the OpenAPI document: exactly the rule `parse` applies, for fields and parameters
/// that hold a name (`#[schema(value_type = Name)]`).
impl utoipa::PartialSchema for Name {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A URL-safe name: a lowercase letter or digit, then lowercase letters, digits and `-`; 1 to 63 characters.",
            ))
            .pattern(Some(Name::PATTERN))
            .min_length(Some(1))
            .max_length(Some(Name::MAX_LEN))
            .into()
    }
}

impl utoipa::ToSchema for Name {}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_shape() {
        for good in ["a", "0", "web", "my-app-2", &"a".repeat(63)] {
            assert!(Name::parse(good).is_ok(), "{good} should be accepted");
        }
    }

    #[test]
    fn rejects_everything_else_with_the_reason() {
        assert_eq!(Name::parse(""), Err(NameError::Empty));
        assert_eq!(Name::parse(&"a".repeat(64)), Err(NameError::TooLong(64)));
        assert_eq!(Name::parse("-web"), Err(NameError::BadStart));
        assert_eq!(Name::parse("Web"), Err(NameError::BadStart));
        assert_eq!(Name::parse("we_b"), Err(NameError::BadCharacter('_')));
        assert_eq!(Name::parse("web/.."), Err(NameError::BadCharacter('/')));
        assert_eq!(Name::parse("wéb"), Err(NameError::BadCharacter('é')));
    }

    #[test]
    fn the_documented_pattern_states_the_length_limit() {
        let repeat = format!("{{0,{}}}", Name::MAX_LEN - 1);
        assert!(Name::PATTERN.contains(&repeat), "{}", Name::PATTERN);
    }
}
