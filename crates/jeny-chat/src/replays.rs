//! Each Slack request is acted on once. A signed request stays valid for five minutes either
//! side of its timestamp, so the same request sent again (a replay, or Slack retrying a slow
//! answer) must not queue a second deploy. What makes a request unique — the team, the user, the
//! action and its `trigger_id` or `action_ts` (a click), the command and its `trigger_id` (a
//! slash command), the `event_id` (an event) — is remembered in `chat_seen`, in the database, so
//! a replay to another node or after a restart is caught too. The first to record a key acts;
//! the others answer Slack as usual and do nothing.

use crate::{Chat, ChatError};
use serde_json::Value;
use sha2::Digest;
use std::time::Duration;

/// How long a key is remembered: past the signature window on both sides of a request's
/// timestamp (a request signed five minutes ahead verifies for ten), with a minute to spare.
pub(crate) const REMEMBER_FOR: Duration =
    Duration::from_secs(2 * crate::signature::MAX_AGE_SECS.unsigned_abs() + 60);

/// What makes a slash command unique (its payload: Slack's form fields, or Socket Mode's JSON).
pub(crate) fn command_key(payload: &Value) -> Option<Vec<String>> {
    let field = |name: &str| payload[name].as_str().unwrap_or("").to_owned();
    let trigger_id = payload["trigger_id"].as_str().filter(|id| !id.is_empty())?;
    Some(vec![
        "command".to_owned(),
        field("team_id"),
        field("user_id"),
        field("command"),
        trigger_id.to_owned(),
    ])
}

/// What makes an interaction (a button click) unique.
pub(crate) fn interaction_key(payload: &Value) -> Option<Vec<String>> {
    let action = &payload["actions"][0];
    let unique = payload["trigger_id"]
        .as_str()
        .or_else(|| action["action_ts"].as_str())
        .filter(|id| !id.is_empty())?;
    let team = payload["team"]["id"]
        .as_str()
        .or_else(|| payload["user"]["team_id"].as_str())
        .unwrap_or("");
    Some(vec![
        "interaction".to_owned(),
        team.to_owned(),
        payload["user"]["id"].as_str().unwrap_or("").to_owned(),
        action["action_id"].as_str().unwrap_or("").to_owned(),
        unique.to_owned(),
    ])
}

/// What makes an Events API delivery unique.
pub(crate) fn event_key(payload: &Value) -> Option<Vec<String>> {
    let event_id = payload["event_id"].as_str().filter(|id| !id.is_empty())?;
    Some(vec![
        "event".to_owned(),
        payload["team_id"].as_str().unwrap_or("").to_owned(),
        event_id.to_owned(),
    ])
}

/// A request's raw body as its key, for a request without the fields above (a replay is the
/// same bytes).
pub(crate) fn body_key(kind: &str, body: &[u8]) -> Vec<String> {
    vec![
        kind.to_owned(),
        "body".to_owned(),
        String::from_utf8_lossy(body).into_owned(),
    ]
}

/// The stored form of a key: a SHA-256 of its parts, each prefixed with its length so that no
/// two different keys run together into the same text.
fn digest(parts: &[String]) -> String {
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl Chat {
    /// True the first time `key` is seen by any node of the cluster within `REMEMBER_FOR`: the
    /// caller acts. False for a request already acted on: the caller answers and does nothing.
    pub(crate) async fn first_time(&self, key: &[String]) -> Result<bool, ChatError> {
        Ok(crate::store::remember(self.store(), &digest(key), REMEMBER_FOR).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_click_is_known_by_its_team_user_action_and_trigger() {
        let click = json!({
            "type": "block_actions", "trigger_id": "123.456.abc",
            "team": {"id": "T1"}, "user": {"id": "U1", "team_id": "T1"},
            "actions": [{"action_id": "deploy_redeploy", "action_ts": "1700000000.000100"}],
        });
        assert_eq!(
            interaction_key(&click).unwrap(),
            ["interaction", "T1", "U1", "deploy_redeploy", "123.456.abc"]
        );
        let mut without_trigger = click.clone();
        without_trigger["trigger_id"] = Value::Null;
        assert_eq!(
            interaction_key(&without_trigger).unwrap()[4],
            "1700000000.000100"
        );
        without_trigger["actions"][0]["action_ts"] = Value::Null;
        assert_eq!(interaction_key(&without_trigger), None);
    }

    #[test]
    fn keys_whose_parts_run_together_differ() {
        let one = digest(&["ab".to_owned(), "c".to_owned()]);
        let other = digest(&["a".to_owned(), "bc".to_owned()]);
        assert_ne!(one, other);
        assert_eq!(one.len(), 64);
    }
}
