//! Errors of the auth part.

use jeny_core::{DomainError, ErrorCode};
use jeny_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0:?} is not an email address")]
    InvalidEmail(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for AuthError {
    fn code(&self) -> ErrorCode {
        match self {
            AuthError::InvalidEmail(_) => ErrorCode::InvalidInput,
            AuthError::Store(error) => error.code(),
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            AuthError::InvalidEmail(_) => Some("email".to_owned()),
            AuthError::Store(_) => None,
        }
    }
}
