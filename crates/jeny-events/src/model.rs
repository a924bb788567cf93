//! What an event is. As the API shows it, `Event` is `jeny_api::events` (shared with the
//! clients); this room re-exports it and adds what only the server writes: an event to append.

pub use jeny_api::events::*;

use serde_json::Value;

/// An event to append: its type (`project.created`), where it happened, who did it, and what.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: String,
    pub project: Option<String>,
    pub environment: Option<String>,
    pub actor: String,
    pub payload: Value,
}

impl NewEvent {
    pub fn new(kind: impl Into<String>, actor: impl Into<String>, payload: Value) -> NewEvent {
        NewEvent {
            kind: kind.into(),
            project: None,
            environment: None,
            actor: actor.into(),
            payload,
        }
    }

    pub fn in_project(mut self, project: impl Into<String>) -> NewEvent {
        self.project = Some(project.into());
        self
    }

    pub fn in_environment(mut self, environment: impl Into<String>) -> NewEvent {
        self.environment = Some(environment.into());
        self
    }
}
