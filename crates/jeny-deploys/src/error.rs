//! Errors of the deploys part; each names its `ErrorCode` and, for bad input, the field.

use jeny_core::{DomainError, ErrorCode, Timestamp};
use jeny_hosts::HostError;
use jeny_projects::ProjectError;
use jeny_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("there is no deploy {0:?}")]
    NotFound(String),
    #[error("{environment} is locked by {locked_by}{}: {reason}", until(*.expires_at))]
    Locked {
        environment: String,
        reason: String,
        locked_by: String,
        expires_at: Option<Timestamp>,
    },
    #[error("{environment} is not locked")]
    NotLocked { environment: String },
    #[error(
        "this deploy would target no host: {why}. Check the hosts' tags, or allow host-less deploys on the environment (allow_hostless_deploys)"
    )]
    NoHosts { field: Option<String>, why: String },
    #[error("the deploy is already {status}; only a queued or running deploy can be cancelled")]
    NotCancellable { status: crate::DeployStatus },
    #[error("{0}")]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn until(expires_at: Option<Timestamp>) -> String {
    expires_at
        .map(|at| format!(" until {}", at.to_rfc3339()))
        .unwrap_or_default()
}

impl DeployError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> DeployError {
        DeployError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Bad input found by the shared validation (`jeny_api::deploys`, `jeny_api::hosts` for a host
/// filter): the same field and message.
impl From<jeny_api::Invalid> for DeployError {
    fn from(invalid: jeny_api::Invalid) -> DeployError {
        DeployError::Invalid {
            field: invalid.field,
            message: invalid.message,
        }
    }
}

impl DomainError for DeployError {
    fn code(&self) -> ErrorCode {
        match self {
            DeployError::Invalid { .. } | DeployError::NoHosts { .. } => ErrorCode::InvalidInput,
            DeployError::NotFound(_) | DeployError::NotLocked { .. } => ErrorCode::NotFound,
            DeployError::Locked { .. } => ErrorCode::Locked,
            DeployError::NotCancellable { .. } => ErrorCode::Conflict,
            DeployError::Project(error) => error.code(),
            DeployError::Host(error) => error.code(),
            DeployError::Store(error) => error.code(),
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            DeployError::Invalid { field, .. } => Some(field.clone()),
            DeployError::NoHosts { field, .. } => field.clone(),
            DeployError::Project(error) => error.field(),
            DeployError::Host(error) => error.field(),
            _ => None,
        }
    }
}

impl jeny_store::MaybeContention for DeployError {
    fn is_contention(&self) -> bool {
        matches!(self, DeployError::Store(error) if error.is_contention())
            || matches!(self, DeployError::Project(jeny_projects::ProjectError::Store(error)) if error.is_contention())
    }
}
