//! Errors of the projects part; each names its `ErrorCode` and, for bad input, the field.

use jeny_core::{DomainError, ErrorCode};
use jeny_hosts::HostError;
use jeny_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("there is no project named {0:?}")]
    ProjectNotFound(String),
    #[error("project {project:?} has no environment named {environment:?}")]
    EnvironmentNotFound {
        project: String,
        environment: String,
    },
    #[error("there is no variable {key:?} here")]
    VariableNotFound { key: String },
    #[error("{what} {name:?} already exists")]
    Taken { what: &'static str, name: String },
    #[error(
        "the {what} changed since you read it (it is now {current_etag}); fetch it again and reapply your change"
    )]
    Changed {
        what: &'static str,
        current_etag: String,
    },
    #[error("the secret variable {key:?} cannot be opened with this server's key")]
    SecretUnreadable { key: String },
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ProjectError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> ProjectError {
        ProjectError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Bad input found by the shared validation (`jeny_api::projects`, `jeny_api::hosts` for a host
/// selector): the same field and message.
impl From<jeny_api::Invalid> for ProjectError {
    fn from(invalid: jeny_api::Invalid) -> ProjectError {
        ProjectError::Invalid {
            field: invalid.field,
            message: invalid.message,
        }
    }
}

impl DomainError for ProjectError {
    fn code(&self) -> ErrorCode {
        match self {
            ProjectError::Invalid { .. } => ErrorCode::InvalidInput,
            ProjectError::ProjectNotFound(_)
            | ProjectError::EnvironmentNotFound { .. }
            | ProjectError::VariableNotFound { .. } => ErrorCode::NotFound,
            ProjectError::Taken { .. } => ErrorCode::Conflict,
            ProjectError::Changed { .. } => ErrorCode::PreconditionFailed,
            ProjectError::SecretUnreadable { .. } => ErrorCode::Internal,
            ProjectError::Host(error) => error.code(),
            ProjectError::Store(error) => error.code(),
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            ProjectError::Invalid { field, .. } => Some(field.clone()),
            ProjectError::Taken { what, .. } if *what == "variable" => Some("key".to_owned()),
            ProjectError::Taken { .. } => Some("name".to_owned()),
            ProjectError::Host(error) => error.field(),
            _ => None,
        }
    }
}
