//! Wire types of the chat part: the Slack connection's settings (secrets write-only) and the
//! channels deploy messages go to.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The default Slack Web API.
pub const SLACK_API_URL: &str = "https://slack.com/api";

/// How Slack reaches jeny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlackMode {
    /// Socket Mode: jeny opens a WebSocket to Slack with the app-level token; no public URL is
    /// needed (a jeny behind a firewall).
    Socket,
    /// Slack posts to `/chat/slack/commands`, `/chat/slack/interactions` and
    /// `/chat/slack/events`, signed with the signing secret.
    Http,
}

impl SlackMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SlackMode::Socket => "socket",
            SlackMode::Http => "http",
        }
    }

    pub fn parse(raw: &str) -> Option<SlackMode> {
        match raw {
            "socket" => Some(SlackMode::Socket),
            "http" => Some(SlackMode::Http),
            _ => None,
        }
    }
}

/// The Slack connection as admins see it: never the tokens or the secret, only whether each is
/// set.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlackSettings {
    pub enabled: bool,
    pub mode: SlackMode,
    pub bot_token_set: bool,
    pub signing_secret_set: bool,
    pub app_token_set: bool,
    /// Where deploy messages go when no channel is set for the project or environment
    /// (`#deploys` or a channel id); none: only projects with a channel get messages.
    pub default_channel: Option<String>,
    /// Slack's Web API (`https://slack.com/api`), or another that speaks it.
    pub api_url: String,
    /// This node's connection to Slack.
    pub connection: ConnectionStatus,
}

/// This node's Socket Mode connection.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ConnectionStatus {
    /// `off` (disabled, HTTP mode or not configured), `connecting`, `connected`, or `retrying`.
    pub state: String,
    /// When it entered that state.
    pub since: Option<jeny_core::Timestamp>,
    /// The last error, when retrying.
    pub error: Option<String>,
}

/// What `PATCH /api/v1/chat/slack` may change. Tokens and the secret are write-only: a string
/// sets one, `null` removes it, leaving it out keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackSettingsInput {
    pub enabled: bool,
    pub mode: Option<SlackMode>,
    /// The bot token (`xoxb-...`): posts and updates messages, looks people up.
    #[schema(
        pattern = "^xoxb-[^\\u0009-\\u000d\\u0085 \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
    )]
    pub bot_token: Option<String>,
    /// The app's signing secret: checks requests in HTTP mode.
    #[schema(
        pattern = "^[^\\u0009-\\u000d\\u0085 \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+$"
    )]
    pub signing_secret: Option<String>,
    /// The app-level token (`xapp-...`, scope `connections:write`): Socket Mode.
    #[schema(
        pattern = "^xapp-[^\\u0009-\\u000d\\u0085 \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$"
    )]
    pub app_token: Option<String>,
    /// A channel name (`#deploys`, `deploys`) or id (`C0123ABCD`).
    #[schema(pattern = "^#?[A-Za-z0-9._-]{1,80}$")]
    pub default_channel: Option<String>,
    /// An http(s) URL.
    #[schema(pattern = "^https?://")]
    pub api_url: Option<String>,
}

/// The channels one project's deploy messages go to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectChannels {
    /// The project's channel (`#shop` or a channel id), or none for the default channel.
    #[serde(default)]
    #[schema(pattern = "^#?[A-Za-z0-9._-]{1,80}$")]
    pub channel: Option<String>,
    /// Channels of particular environments, in place of the project's.
    #[serde(default)]
    pub environments: BTreeMap<String, String>,
}

/// Every project's channels.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelList {
    /// Project name → its channels.
    pub projects: BTreeMap<String, ProjectChannels>,
}

/// A channel as Slack takes it: a name (`#deploys`, `deploys`) or an id (`C0123ABCD`).
pub(crate) fn valid_channel(raw: &str) -> bool {
    let name = raw.strip_prefix('#').unwrap_or(raw);
    !name.is_empty()
        && name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
