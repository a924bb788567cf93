//! Slack's Web API, the few methods jeny calls: `chat.postMessage`, `chat.update`,
//! `chat.postEphemeral`, `users.info`, `conversations.history`/`replies` (to find a message
//! after a crash) and `apps.connections.open` (Socket Mode). A 429 is honoured: the call waits
//! the `Retry-After` seconds and tries again. Slack answers HTTP 200 with `"ok": false` and an
//! `error` code for its own refusals; those come back as `SlackError::Api`. A `response_url`
//! is called only on Slack's own host or the configured API host (`is_slack_response_url`).

use serde_json::{Value, json};
use std::time::Duration;

/// Attempts of one call before giving up on repeated 429s or network errors.
const ATTEMPTS: u32 = 5;
/// The longest `Retry-After` jeny waits for in one go.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// Slack refused: `channel_not_found`, `not_in_channel`, `invalid_auth`, ...
    #[error("slack answered {0}")]
    Api(String),
    #[error("slack is unreachable: {0}")]
    Unreachable(String),
    #[error("slack answered HTTP {0}")]
    Status(u16),
    #[error("slack kept rate limiting {0}")]
    RateLimited(String),
    /// A `response_url` on a host other than Slack's (`hooks.slack.com`) or the configured API
    /// host: jeny does not call it.
    #[error("a response_url not on Slack's host or the configured API host")]
    ForeignResponseUrl,
}

impl SlackError {
    /// Whether trying again later may work (Slack down, slow, or busy), as opposed to a refusal
    /// that will not change by itself (a channel that does not exist, a revoked token).
    pub fn is_transient(&self) -> bool {
        match self {
            SlackError::Api(code) => matches!(
                code.as_str(),
                "internal_error"
                    | "fatal_error"
                    | "service_unavailable"
                    | "request_timeout"
                    | "ratelimited"
            ),
            SlackError::Unreachable(_) | SlackError::RateLimited(_) => true,
            SlackError::Status(status) => *status >= 500,
            SlackError::ForeignResponseUrl => false,
        }
    }
}

/// A client for one token.
#[derive(Clone)]
pub struct SlackApi {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// A message: the text (for notifications and old clients) and its Block Kit blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub text: String,
    pub blocks: Vec<Value>,
}

impl SlackApi {
    pub fn new(http: reqwest::Client, api_url: &str, token: &str) -> SlackApi {
        SlackApi {
            http,
            base: api_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    /// Calls `method` with a JSON body (the write methods) or a form (the read methods, which
    /// Slack does not take as JSON).
    async fn call(&self, method: &str, body: Body<'_>) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = self.http.post(&url).bearer_auth(&self.token);
            let request = match &body {
                Body::Json(value) => request.json(value),
                Body::Form(fields) => request.form(fields),
            };
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) if attempt < ATTEMPTS && (error.is_connect() || error.is_timeout()) => {
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                    continue;
                }
                Err(error) => return Err(SlackError::Unreachable(error.without_url().to_string())),
            };
            let status = response.status();
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                let wait = retry_after(response.headers());
                tracing::info!(
                    method,
                    wait_secs = wait.as_secs(),
                    "slack rate limited a call; waiting"
                );
                if attempt >= ATTEMPTS {
                    return Err(SlackError::RateLimited(method.to_owned()));
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            if !status.is_success() {
                return Err(SlackError::Status(status.as_u16()));
            }
            let value: Value = response
                .json()
                .await
                .map_err(|error| SlackError::Unreachable(error.without_url().to_string()))?;
            if value.get("ok").and_then(Value::as_bool) == Some(true) {
                return Ok(value);
            }
            let code = value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("an error without a code");
            return Err(SlackError::Api(code.to_owned()));
        }
    }

    /// Posts a message; answers the channel's id and the message's `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        message: &Message,
        thread_ts: Option<&str>,
        metadata_key: Option<&str>,
    ) -> Result<(String, String), SlackError> {
        let mut body = json!({
            "channel": channel,
            "text": message.text,
            "blocks": message.blocks,
            "unfurl_links": false,
            "unfurl_media": false,
        });
        if let Some(thread_ts) = thread_ts {
            body["thread_ts"] = json!(thread_ts);
        }
        if let Some(key) = metadata_key {
            body["metadata"] = json!({"event_type": METADATA_EVENT, "event_payload": {"key": key}});
        }
        let answer = self.call("chat.postMessage", Body::Json(body)).await?;
        let channel_id = answer["channel"].as_str().unwrap_or(channel).to_owned();
        let ts = answer["ts"]
            .as_str()
            .ok_or_else(|| SlackError::Api("a message without ts".to_owned()))?
            .to_owned();
        Ok((channel_id, ts))
    }

    /// Replaces a message's content.
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        message: &Message,
    ) -> Result<(), SlackError> {
        let body =
            json!({"channel": channel, "ts": ts, "text": message.text, "blocks": message.blocks});
        self.call("chat.update", Body::Json(body)).await.map(drop)
    }

    /// A message only `user` sees.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        message: &Message,
    ) -> Result<(), SlackError> {
        let body = json!({"channel": channel, "user": user, "text": message.text, "blocks": message.blocks});
        self.call("chat.postEphemeral", Body::Json(body))
            .await
            .map(drop)
    }

    /// A user's email, when Slack has confirmed it; none for bots, deleted accounts and
    /// unconfirmed emails.
    pub async fn verified_email(&self, user: &str) -> Result<Option<String>, SlackError> {
        let answer = self
            .call("users.info", Body::Form(vec![("user", user.to_owned())]))
            .await?;
        let person = &answer["user"];
        let deleted = person["deleted"].as_bool().unwrap_or(false);
        let bot = person["is_bot"].as_bool().unwrap_or(false);
        // Slack marks an email it has not confirmed; an absent flag is read as confirmed, as
        // workspaces with SSO omit it.
        let confirmed = person["is_email_confirmed"].as_bool().unwrap_or(true);
        let email = person["profile"]["email"].as_str();
        Ok(match email {
            Some(email) if !deleted && !bot && confirmed => Some(email.to_ascii_lowercase()),
            _ => None,
        })
    }

    /// The `ts` of a message jeny posted with `key` in its metadata, among the channel's recent
    /// messages (or a thread's replies): how a post interrupted by a crash is found again.
    pub async fn find_posted(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        key: &str,
    ) -> Result<Option<String>, SlackError> {
        let (method, mut fields) = match thread_ts {
            Some(thread_ts) => ("conversations.replies", vec![("ts", thread_ts.to_owned())]),
            None => ("conversations.history", Vec::new()),
        };
        fields.push(("channel", channel.to_owned()));
        fields.push(("limit", "200".to_owned()));
        fields.push(("include_all_metadata", "true".to_owned()));
        let answer = self.call(method, Body::Form(fields)).await?;
        let found = answer["messages"].as_array().and_then(|messages| {
            messages.iter().find(|message| {
                message["metadata"]["event_type"] == METADATA_EVENT
                    && message["metadata"]["event_payload"]["key"] == key
            })
        });
        Ok(found.and_then(|message| message["ts"].as_str().map(str::to_owned)))
    }

    /// A Socket Mode WebSocket URL (with the app-level token).
    pub async fn open_connection(&self) -> Result<String, SlackError> {
        let answer = self
            .call("apps.connections.open", Body::Form(Vec::new()))
            .await?;
        answer["url"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SlackError::Api("no url".to_owned()))
    }

    /// Posts to an interaction's or a command's `response_url` (a message replacing the
    /// original, or a new one only the person sees).
    pub async fn respond(&self, response_url: &str, body: &Value) -> Result<(), SlackError> {
        if !is_slack_response_url(response_url, &self.base) {
            return Err(SlackError::ForeignResponseUrl);
        }
        let response = self
            .http
            .post(response_url)
            .json(body)
            .send()
            .await
            .map_err(|error| SlackError::Unreachable(error.without_url().to_string()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(SlackError::Status(response.status().as_u16()))
        }
    }
}

/// Slack's own host for `response_url`s.
const SLACK_RESPONSE_HOST: &str = "hooks.slack.com";

/// Whether `response_url` may be called: an `https` URL on Slack's own `hooks.slack.com`, or one
/// with the same scheme, host and port as the configured Web API (`api_url`: Slack's, or a
/// stand-in such as a test's). A payload names its `response_url`; without this check, whoever
/// can get a payload signed could make jeny post to any address it can reach.
pub fn is_slack_response_url(response_url: &str, api_url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(response_url) else {
        return false;
    };
    if !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    let on_slack = url.scheme() == "https"
        && url.host_str() == Some(SLACK_RESPONSE_HOST)
        && url.port().is_none();
    let on_api_host = reqwest::Url::parse(api_url).is_ok_and(|api| {
        api.scheme() == url.scheme()
            && api.host_str().is_some()
            && api.host_str() == url.host_str()
            && api.port_or_known_default() == url.port_or_known_default()
    });
    on_slack || on_api_host
}

/// The metadata event type on jeny's messages.
pub const METADATA_EVENT: &str = "jeny_post";

enum Body<'a> {
    Json(Value),
    Form(Vec<(&'a str, String)>),
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs)
        .min(MAX_RETRY_AFTER)
}

#[cfg(test)]
mod tests {
    use super::is_slack_response_url;

    #[test]
    fn response_urls_are_called_only_on_slack_or_the_api_host() {
        let slack_api = "https://slack.com/api";
        assert!(is_slack_response_url(
            "https://hooks.slack.com/actions/T1/123/abc",
            slack_api
        ));
        assert!(is_slack_response_url(
            "https://slack.com/api/whatever",
            slack_api
        ));
        for foreign in [
            "http://hooks.slack.com/actions/T1/123/abc",
            "https://hooks.slack.com:8443/actions/T1/123/abc",
            "https://hooks.slack.com.evil.example/actions",
            "https://evil.example/actions",
            "https://hooks.slack.com@evil.example/actions",
            "https://user:pass@hooks.slack.com/actions",
            "http://169.254.169.254/latest/meta-data/",
            "not a url",
            "",
        ] {
            assert!(!is_slack_response_url(foreign, slack_api), "{foreign}");
        }
        // A stand-in API (a test's fake Slack): its scheme, host and port, nothing else.
        let fake = "http://127.0.0.1:4000/api";
        assert!(is_slack_response_url(
            "http://127.0.0.1:4000/_response/1",
            fake
        ));
        assert!(!is_slack_response_url(
            "http://127.0.0.1:4001/_response/1",
            fake
        ));
        assert!(!is_slack_response_url(
            "http://localhost:4000/_response/1",
            fake
        ));
        assert!(!is_slack_response_url(
            "https://127.0.0.1:4000/_response/1",
            fake
        ));
    }
}
