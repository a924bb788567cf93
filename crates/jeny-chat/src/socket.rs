//! Socket Mode: jeny opens a WebSocket to Slack (`apps.connections.open` with the app-level
//! token), so a jeny behind a firewall needs no public URL. Every envelope is acknowledged with
//! its `envelope_id` (a slash command's answer rides in the acknowledgement); a `disconnect`
//! message, a dropped socket or an error leads to a new connection, with backoff when Slack
//! cannot be reached. Every node connects (Slack hands each envelope to one connection).

use crate::{Chat, SlackMode, replays};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_util::sync::CancellationToken;

const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the settings are read again (a change reconnects with the new ones).
const SETTINGS_CHECK: Duration = Duration::from_secs(5);

pub(crate) async fn run(chat: Chat, shutdown: CancellationToken) {
    let mut backoff = Duration::from_secs(1);
    while !shutdown.is_cancelled() {
        let settings = match chat.settings().await {
            Ok(settings) => settings,
            Err(error) => {
                tracing::warn!(error = %jeny_core::ErrorChain(&error), "cannot read the chat settings");
                pause(&shutdown, SETTINGS_CHECK).await;
                continue;
            }
        };
        let app_token = settings.app_token.clone().filter(|_| {
            settings.enabled
                && settings.mode == Some(SlackMode::Socket)
                && settings.bot_token.is_some()
        });
        let Some(app_token) = app_token else {
            chat.set_status("off", None);
            pause(&shutdown, SETTINGS_CHECK).await;
            continue;
        };
        chat.set_status("connecting", None);
        match connect_once(&chat, &app_token, settings.version, &shutdown).await {
            Ok(Ended::Reconnect) => backoff = Duration::from_secs(1),
            Ok(Ended::Shutdown) => break,
            Err(error) => {
                tracing::warn!(%error, retry_in_secs = backoff.as_secs(), "slack socket mode connection failed");
                chat.set_status("retrying", Some(error));
                pause(&shutdown, jitter(backoff)).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    chat.set_status("off", None);
}

enum Ended {
    /// Slack asked for it (`disconnect`), or the settings changed: connect again at once.
    Reconnect,
    Shutdown,
}

async fn pause(shutdown: &CancellationToken, duration: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = shutdown.cancelled() => {}
    }
}

/// Up to a quarter more, so that nodes restarted together do not reconnect in step.
fn jitter(duration: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |now| now.subsec_nanos());
    duration + duration.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

async fn connect_once(
    chat: &Chat,
    app_token: &str,
    version: i64,
    shutdown: &CancellationToken,
) -> Result<Ended, String> {
    let settings = chat.settings().await.map_err(|error| error.to_string())?;
    let api = crate::slack::SlackApi::new(chat.http().clone(), &settings.api_url, app_token);
    let url = api
        .open_connection()
        .await
        .map_err(|error| error.to_string())?;
    let connector = tokio_tungstenite::Connector::Rustls(Arc::new(tls_config()));
    let (socket, _) = tokio::time::timeout(
        Duration::from_secs(15),
        tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            None,
            false,
            Some(connector),
        ),
    )
    .await
    .map_err(|_| "the socket did not open within 15 s".to_owned())?
    .map_err(|error| format!("cannot open the socket: {error}"))?;
    let (mut sink, mut frames) = socket.split();
    let (replies, mut outgoing) = mpsc::channel::<Value>(64);
    let mut settings_check = tokio::time::interval(SETTINGS_CHECK);
    settings_check.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = sink.send(Frame::Close(None)).await;
                return Ok(Ended::Shutdown);
            }
            Some(reply) = outgoing.recv() => {
                sink.send(Frame::text(reply.to_string())).await.map_err(|error| format!("cannot write to the socket: {error}"))?;
            }
            _ = settings_check.tick() => {
                let current = chat.settings().await.map(|settings| settings.version).unwrap_or(version);
                if current != version {
                    let _ = sink.send(Frame::Close(None)).await;
                    return Ok(Ended::Reconnect);
                }
            }
            frame = frames.next() => {
                let text = match frame {
                    Some(Ok(Frame::Text(text))) => text,
                    Some(Ok(Frame::Ping(data))) => {
                        sink.send(Frame::Pong(data)).await.map_err(|error| format!("cannot write to the socket: {error}"))?;
                        continue;
                    }
                    Some(Ok(Frame::Close(_))) | None => return Err("slack closed the socket".to_owned()),
                    Some(Ok(_)) => continue,
                    Some(Err(error)) => return Err(format!("the socket failed: {error}")),
                };
                let Ok(envelope) = serde_json::from_str::<Value>(&text) else {
                    tracing::warn!("slack sent a frame that is not JSON");
                    continue;
                };
                match envelope["type"].as_str() {
                    Some("hello") => chat.set_status("connected", None),
                    Some("disconnect") => {
                        tracing::info!(reason = envelope["reason"].as_str().unwrap_or(""), "slack asked to reconnect");
                        let _ = sink.send(Frame::Close(None)).await;
                        return Ok(Ended::Reconnect);
                    }
                    _ => {
                        if let Some(envelope_id) = envelope["envelope_id"].as_str().map(str::to_owned) {
                            tokio::spawn(handle(chat.clone(), envelope, envelope_id, replies.clone()));
                        }
                    }
                }
            }
        }
    }
}

/// Acknowledges an envelope and does what it asks: a command's answer goes in the
/// acknowledgement; buttons and mentions are acknowledged first, then handled.
async fn handle(chat: Chat, envelope: Value, envelope_id: String, replies: mpsc::Sender<Value>) {
    let payload = &envelope["payload"];
    let Ok(settings) = chat.settings().await else {
        let _ = replies.send(json!({"envelope_id": envelope_id})).await;
        return;
    };
    match envelope["type"].as_str() {
        Some("slash_commands") => {
            if !chat
                .first_time_in_socket_mode(replays::command_key(payload))
                .await
            {
                let _ = replies.send(json!({"envelope_id": envelope_id})).await;
                return;
            }
            let user = payload["user_id"].as_str().unwrap_or("");
            let text = payload["text"].as_str().unwrap_or("");
            let reply = chat.command(&settings, user, text).await;
            let ack = json!({
                "envelope_id": envelope_id,
                "payload": {"response_type": "ephemeral", "text": reply.message.text, "blocks": reply.message.blocks},
            });
            let _ = replies.send(ack).await;
        }
        Some("interactive") => {
            let _ = replies.send(json!({"envelope_id": envelope_id})).await;
            if chat
                .first_time_in_socket_mode(replays::interaction_key(payload))
                .await
            {
                chat.interaction(&settings, payload).await;
            }
        }
        Some("events_api") => {
            let _ = replies.send(json!({"envelope_id": envelope_id})).await;
            chat.event(&settings, payload).await;
        }
        _ => {
            let _ = replies.send(json!({"envelope_id": envelope_id})).await;
        }
    }
}

impl Chat {
    /// Whether to act on a Socket Mode envelope (`replays.rs`): Slack hands an envelope it saw no
    /// acknowledgement for to a connection again. One without a key is acted on; one that cannot
    /// be recorded (the database is down) is not.
    async fn first_time_in_socket_mode(&self, key: Option<Vec<String>>) -> bool {
        let Some(key) = key else { return true };
        match self.first_time(&key).await {
            Ok(first) => first,
            Err(error) => {
                tracing::warn!(error = %jeny_core::ErrorChain(&error), "cannot record a slack request; not acting on it");
                false
            }
        }
    }
}

fn tls_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

impl Chat {
    /// An Events API callback: a mention of the bot is a command, answered in its thread.
    pub(crate) async fn event(&self, settings: &crate::Settings, payload: &Value) {
        if payload["type"] != "event_callback" {
            return;
        }
        let event = &payload["event"];
        if event["type"] != "app_mention" {
            return;
        }
        // Slack retries a delivery it thinks was missed; a mention may start a deploy.
        if let Some(key) = replays::event_key(payload) {
            match self.first_time(&key).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(error = %jeny_core::ErrorChain(&error), "cannot record a slack event; not acting on it");
                    return;
                }
            }
        }
        let user = event["user"].as_str().unwrap_or("");
        let channel = event["channel"].as_str().unwrap_or("");
        let ts = event["thread_ts"].as_str().or_else(|| event["ts"].as_str());
        let text = strip_mentions(event["text"].as_str().unwrap_or(""));
        let reply = self.command(settings, user, &text).await;
        let Some(api) = settings.bot(self.http()) else {
            return;
        };
        if let Err(error) = api.post_message(channel, &reply.message, ts, None).await {
            tracing::warn!(error = %jeny_core::ErrorChain(&error), "cannot answer a mention");
        }
    }
}

/// The text of a mention without the `<@U123>` mentions in it.
fn strip_mentions(text: &str) -> String {
    let mut words = Vec::new();
    for word in text.split_whitespace() {
        if !(word.starts_with("<@") && word.ends_with('>')) {
            words.push(word);
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn mentions_are_stripped_from_a_command() {
        assert_eq!(
            super::strip_mentions("<@U0BOT> deploy shop  staging"),
            "deploy shop staging"
        );
        assert_eq!(
            super::strip_mentions("hey <@U0BOT|jeny> status shop"),
            "hey status shop"
        );
    }
}
