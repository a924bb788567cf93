//! Errors of the chat part. Slack's own failures (a bad token, a channel the bot is not in,
//! Slack down) are not errors of a jeny request: they are logged and shown in the connection's
//! status, and never slow or fail a deploy.

use jeny_core::{DomainError, ErrorCode};
use jeny_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ChatError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> ChatError {
        ChatError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl DomainError for ChatError {
    fn code(&self) -> ErrorCode {
        match self {
            ChatError::Invalid { .. } => ErrorCode::InvalidInput,
            ChatError::NotFound(_) => ErrorCode::NotFound,
            ChatError::Store(error) => error.code(),
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            ChatError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        }
    }
}
