//! Events on the wire: what happened, where, by whom, as `GET /api/v1/events` shows it.

use jeny_core::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
