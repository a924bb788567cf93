//! What an event is, as stored and as the API shows it.

use jeny_core::Timestamp;
use serde::{Deserialize, Serialize};
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

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// Increasing with commit order; may have gaps.
    pub id: i64,
    /// What happened, `<concept>.<verb>`: `project.created`, `variable.deleted`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The project's name, when the event belongs to one.
    pub project: Option<String>,
    /// The environment's name, when the event belongs to one.
    pub environment: Option<String>,
    /// Who did it: a person's email, or `jeny` for the server itself.
    pub actor: String,
    pub time: Timestamp,
    /// The details; never holds a secret value.
    pub payload: Value,
}
