//! The API's wire types: what a jeny server and its clients exchange, with the validation both
//! sides share. One module per concept (`projects`, `hosts`, `deploys`, `auth`, `events`) holds
//! that concept's request and response bodies (serde + OpenAPI schema), the parsed newtypes they
//! are checked into (`HostName`, `VariableKey`, `TagSelector`), and the pure formats a client
//! also writes (`hosts::inventory`). No I/O: no store, no HTTP server, no runtime. The concept
//! crates re-export their module from their `model.rs` and add what only the server needs;
//! `jeny-client` and the CLI depend on this crate and `jeny-core` alone.
//!
//! Validation returns `Invalid` (a field and a message); each concept's error turns it into its
//! own `Invalid { field, message }` variant, so a 422 says exactly what it said before.

pub mod auth;
pub mod deploys;
pub mod events;
pub mod hosts;
pub mod metrics;
pub mod openapi;
pub mod projects;

use jeny_core::{DomainError, ErrorCode};

/// A value a client sent (or is about to send) that the API refuses: which field, and why.
/// Messages are meant for the person who wrote the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// The field at fault: `name`, `host_selector`, `tags.role`.
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl DomainError for Invalid {
    fn code(&self) -> ErrorCode {
        ErrorCode::InvalidInput
    }

    fn field(&self) -> Option<String> {
        Some(self.field.clone())
    }
}
