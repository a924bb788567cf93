//! Errors of the AWS part. AWS's own errors (bad credentials, throttling, a region down) are
//! not errors of a request: they are recorded on the account's last sync report.

use jeny_core::{DomainError, ErrorCode};
use jeny_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("there is no AWS account named {0:?}")]
    NotFound(String),
    #[error("an AWS account named {0:?} already exists")]
    NameTaken(String),
    #[error(
        "the account changed since you read it (it is now {current_etag}); fetch it again and reapply your change"
    )]
    Changed { current_etag: String },
    #[error("a sync of {0} is already running (on {1}); try again when it ends")]
    SyncRunning(String, String),
    #[error("a metrics import of {0} is already running (on {1}); try again when it ends")]
    ImportRunning(String, String),
    /// A metrics import that could not finish for a reason of jeny's (its metrics store, its
    /// inventory): the cursor stays, the next import reads the window again.
    #[error("{0}")]
    Import(String),
    #[error(transparent)]
    Hosts(#[from] jeny_hosts::HostError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AwsError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> AwsError {
        AwsError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl DomainError for AwsError {
    fn code(&self) -> ErrorCode {
        match self {
            AwsError::Invalid { .. } => ErrorCode::InvalidInput,
            AwsError::NotFound(_) => ErrorCode::NotFound,
            AwsError::NameTaken(_) | AwsError::SyncRunning(..) | AwsError::ImportRunning(..) => {
                ErrorCode::Conflict
            }
            AwsError::Import(_) => ErrorCode::Internal,
            AwsError::Changed { .. } => ErrorCode::PreconditionFailed,
            AwsError::Hosts(error) => error.code(),
            AwsError::Store(error) => error.code(),
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            AwsError::Invalid { field, .. } => Some(field.clone()),
            AwsError::NameTaken(_) => Some("name".to_owned()),
            AwsError::Hosts(error) => error.field(),
            _ => None,
        }
    }
}
