//! Errors of the auth part.

use jeny_core::{DomainError, ErrorCode};
use jeny_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0:?} is not an email address")]
    InvalidEmail(String),
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("you have no API token {0:?}")]
    TokenNotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> AuthError {
        AuthError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl DomainError for AuthError {
    fn code(&self) -> ErrorCode {
        match self {
            AuthError::InvalidEmail(_) | AuthError::Invalid { .. } => ErrorCode::InvalidInput,
            AuthError::TokenNotFound(_) => ErrorCode::NotFound,
            AuthError::Store(error) => error.code(),
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            AuthError::InvalidEmail(_) => Some("email".to_owned()),
            AuthError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        }
    }
}
