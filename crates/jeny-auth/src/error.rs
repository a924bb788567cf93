//! Errors of the auth part. Each names an `ErrorCode`; sign-in refusals carry a reason meant
//! for the person refused (shown on a page), never an internal detail.

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
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    SignInRefused(String),
    #[error(transparent)]
    Forbidden(#[from] jeny_core::Forbidden),
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
            AuthError::TokenNotFound(_) | AuthError::NotFound(_) => ErrorCode::NotFound,
            AuthError::Conflict(_) => ErrorCode::Conflict,
            AuthError::SignInRefused(_) | AuthError::Forbidden(_) => ErrorCode::Forbidden,
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
