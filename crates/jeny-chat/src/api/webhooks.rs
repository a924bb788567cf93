//! HTTP mode: Slack's requests to `/chat/slack/commands`, `/interactions` and `/events`. Each is
//! checked against the signing secret (`signature.rs`) before anything is read from it; a bad or
//! stale signature is refused with 401 and changes nothing. Each request is acted on once
//! (`replays.rs`): the same signed request sent again gets the 200 Slack expects and does
//! nothing. A command's answer is the response body; buttons and events are acknowledged at once
//! and handled after, since Slack waits only three seconds. A click whose `response_url` is not on
//! Slack's host or the configured API host is refused with 422.

use crate::signature::{self, SignatureError};
use crate::{Chat, replays};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use jeny_core::ErrorCode;
use jeny_http::ApiError;
use serde_json::{Value, json};

/// The settings, once the request proved it comes from Slack.
async fn verified(
    chat: &Chat,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<crate::Settings, ApiError> {
    let settings = chat.settings().await?;
    let secret = settings
        .signing_secret
        .clone()
        .filter(|_| settings.enabled)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                "chat is not set up for HTTP mode on this jeny (no signing secret, or chat is off)",
            )
        })?;
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let now = jeny_core::Timestamp::now().as_micros() / 1_000_000;
    signature::verify(
        secret.as_bytes(),
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        body,
        now,
    )
    .map_err(|error: SignatureError| {
        ApiError::new(ErrorCode::Unauthenticated, error.to_string())
    })?;
    Ok(settings)
}

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// A slash command (`/jeny ...`): the answer, shown only to who typed it.
pub(super) async fn commands(
    State(chat): State<Chat>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let settings = verified(&chat, &headers, &body).await?;
    let fields = form(&body);
    let payload = serde_json::to_value(&fields).unwrap_or_default();
    let key = replays::command_key(&payload).unwrap_or_else(|| replays::body_key("command", &body));
    if !chat.first_time(&key).await? {
        return Ok(http::StatusCode::OK.into_response());
    }
    let user = fields.get("user_id").map_or("", String::as_str);
    let text = fields.get("text").map_or("", String::as_str);
    let reply = chat.command(&settings, user, text).await;
    Ok(axum::Json(json!({
        "response_type": "ephemeral",
        "text": reply.message.text,
        "blocks": reply.message.blocks,
    }))
    .into_response())
}

/// A button click: acknowledged now, handled after.
pub(super) async fn interactions(
    State(chat): State<Chat>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let settings = verified(&chat, &headers, &body).await?;
    let payload: Value = form(&body)
        .get("payload")
        .and_then(|payload| serde_json::from_str(payload).ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MalformedRequest,
                "an interaction carries a JSON `payload` form field",
            )
        })?;
    if let Some(response_url) = payload["response_url"].as_str()
        && !crate::slack::is_slack_response_url(response_url, &settings.api_url)
    {
        return Err(ApiError::invalid(
            "response_url",
            "the interaction's response_url is not on Slack's host (hooks.slack.com) or the configured Slack API host",
        ));
    }
    let key = replays::interaction_key(&payload)
        .unwrap_or_else(|| replays::body_key("interaction", &body));
    if !chat.first_time(&key).await? {
        return Ok(http::StatusCode::OK.into_response());
    }
    tokio::spawn(async move { chat.interaction(&settings, &payload).await });
    Ok(http::StatusCode::OK.into_response())
}

/// The Events API: the URL check, and mentions of the bot.
pub(super) async fn events(
    State(chat): State<Chat>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let settings = verified(&chat, &headers, &body).await?;
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::new(ErrorCode::MalformedRequest, "an event is a JSON object"))?;
    if payload["type"] == "url_verification" {
        let challenge = payload["challenge"].as_str().unwrap_or("").to_owned();
        return Ok(axum::Json(json!({"challenge": challenge})).into_response());
    }
    tokio::spawn(async move { chat.event(&settings, &payload).await });
    Ok(http::StatusCode::OK.into_response())
}
