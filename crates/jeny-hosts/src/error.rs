//! Errors of the hosts part; each names its `ErrorCode` and, for bad input, the field.

use jeny_core::{DomainError, ErrorCode};
use jeny_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("there is no host named {0:?}")]
    NotFound(String),
    #[error("a host named {0:?} already exists")]
    NameTaken(String),
    #[error(
        "the host changed since you read it (it is now {current_etag}); fetch it again and reapply your change"
    )]
    Changed { current_etag: String },
    #[error("host {name:?} is kept in sync by {managed_by}: change it there, not here")]
    Managed { name: String, managed_by: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Bad input found by the shared validation (`jeny_api::hosts`): the same field and message.
impl From<jeny_api::Invalid> for HostError {
    fn from(invalid: jeny_api::Invalid) -> HostError {
        HostError::Invalid {
            field: invalid.field,
            message: invalid.message,
        }
    }
}

impl DomainError for HostError {
    fn code(&self) -> ErrorCode {
        match self {
            HostError::Invalid { .. } => ErrorCode::InvalidInput,
            HostError::NotFound(_) => ErrorCode::NotFound,
            HostError::NameTaken(_) | HostError::Managed { .. } => ErrorCode::Conflict,
            HostError::Changed { .. } => ErrorCode::PreconditionFailed,
            HostError::Store(error) => error.code(),
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            HostError::Invalid { field, .. } => Some(field.clone()),
            HostError::NameTaken(_) => Some("name".to_owned()),
            _ => None,
        }
    }
}
