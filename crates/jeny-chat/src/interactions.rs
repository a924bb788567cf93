//! Buttons: a `block_actions` payload from a message jeny posted. Each click is checked against
//! the role of the person who clicked (not of who posted or who started the deploy).

use crate::commands::Confirmed;
use crate::identity::Who;
use crate::slack::Message;
use crate::{Chat, Settings};
use serde_json::{Value, json};

impl Chat {
    /// Handles a click; answers go to the clicking person (the deploy's own message is updated
    /// by the notifier as the deploy moves).
    pub(crate) async fn interaction(&self, settings: &Settings, payload: &Value) {
        if payload["type"] != "block_actions" {
            return;
        }
        let Some(action) = payload["actions"].get(0) else {
            return;
        };
        let action_id = action["action_id"].as_str().unwrap_or("");
        let value = action["value"].as_str().unwrap_or("");
        let user = payload["user"]["id"].as_str().unwrap_or("");
        let channel = payload["channel"]["id"]
            .as_str()
            .or_else(|| payload["container"]["channel_id"].as_str())
            .unwrap_or("");
        let response_url = payload["response_url"].as_str();
        let answer = Answer {
            chat: self,
            settings,
            response_url,
            channel,
            user,
        };
        match action_id {
            "dismiss" => answer.replace(json!({"delete_original": true})).await,
            "deploy_view" => {}
            "deploy_confirm" | "deploy_cancel" | "deploy_redeploy" => {
                let principal = match self.who(settings, user).await {
                    Who::Person(principal) => principal,
                    Who::Stranger(message) => {
                        return answer.tell(crate::blocks::text(&message)).await;
                    }
                };
                match action_id {
                    "deploy_confirm" => {
                        let Ok(confirmed) = serde_json::from_str::<Confirmed>(value) else {
                            return;
                        };
                        let reply = self
                            .start(&principal, confirmed)
                            .await
                            .unwrap_or_else(|reply| reply);
                        let body = json!({
                            "replace_original": true,
                            "text": reply.message.text,
                            "blocks": reply.message.blocks,
                        });
                        answer.replace(body).await;
                    }
                    "deploy_cancel" => {
                        // Success shows in the deploy's message itself; only a refusal is said.
                        if let Err(reply) = self.cancel(&principal, value).await {
                            answer.tell(reply.message).await;
                        }
                    }
                    _ => {
                        let reply = match self.deploy_by_id(value).await {
                            Ok(deploy)
                                if crate::commands::needs_confirmation(&deploy.environment) =>
                            {
                                // The same question as `/jeny redeploy`, with its buttons.
                                self.command(settings, user, &format!("redeploy {}", deploy.id))
                                    .await
                            }
                            Ok(deploy) => self
                                .start(&principal, Confirmed::Redeploy { id: deploy.id })
                                .await
                                .unwrap_or_else(|reply| reply),
                            Err(reply) => reply,
                        };
                        answer.tell(reply.message).await;
                    }
                }
            }
            other => tracing::debug!(action_id = other, "a chat action jeny does not know"),
        }
    }
}

/// Where the answer to a click goes.
struct Answer<'a> {
    chat: &'a Chat,
    settings: &'a Settings,
    response_url: Option<&'a str>,
    channel: &'a str,
    user: &'a str,
}

impl Answer<'_> {
    /// Replaces the message the button was on (through the interaction's `response_url`).
    async fn replace(&self, body: Value) {
        let (Some(url), Some(api)) = (self.response_url, self.settings.bot(self.chat.http()))
        else {
            return;
        };
        if let Err(error) = api.respond(url, &body).await {
            tracing::warn!(error = %jeny_core::ErrorChain(&error), "cannot answer a chat action");
        }
    }

    /// Tells only the person who clicked.
    async fn tell(&self, message: Message) {
        let Some(api) = self.settings.bot(self.chat.http()) else {
            return;
        };
        let result = match self.response_url {
            Some(url) => {
                let body = json!({
                    "response_type": "ephemeral",
                    "replace_original": false,
                    "text": message.text,
                    "blocks": message.blocks,
                });
                api.respond(url, &body).await
            }
            None => api.post_ephemeral(self.channel, self.user, &message).await,
        };
        if let Err(error) = result {
            tracing::warn!(error = %jeny_core::ErrorChain(&error), "cannot answer a chat action");
        }
    }
}
