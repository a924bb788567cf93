//! The Slack connection's settings and the project channels: read by everyone signed in (never
//! the tokens or the secret), changed by admins (settings) and deployers (a project's channels).
//! Each change is one transaction with its event.

use crate::model::valid_channel;
use crate::store::{self, SettingsRow};
use crate::{
    ChannelList, Chat, ChatError, ProjectChannels, SLACK_API_URL, SlackMode, SlackSettings,
    SlackSettingsInput,
};
use jeny_events::NewEvent;
use serde_json::json;
use std::collections::BTreeMap;

const BAD_CHANNEL: &str = "a channel is a name such as #deploys or an id such as C0123ABCD";

/// Which write-only fields a change sets or removes (`None`: keeps).
#[derive(Debug, Default, Clone)]
pub struct SecretChanges {
    pub bot_token: Option<Option<String>>,
    pub signing_secret: Option<Option<String>>,
    pub app_token: Option<Option<String>>,
}

impl Chat {
    pub async fn slack_settings(&self) -> Result<SlackSettings, ChatError> {
        let row = store::settings(self.store())
            .await?
            .unwrap_or_else(default_row);
        Ok(SlackSettings {
            enabled: row.enabled,
            mode: SlackMode::parse(&row.mode).unwrap_or(SlackMode::Socket),
            bot_token_set: row.bot_token.is_some(),
            signing_secret_set: row.signing_secret.is_some(),
            app_token_set: row.app_token.is_some(),
            default_channel: row.default_channel,
            api_url: row.api_url,
            connection: self.status(),
        })
    }

    /// The settings' writable fields as they are (secrets left out: null keeps them).
    pub async fn slack_settings_input(&self) -> Result<SlackSettingsInput, ChatError> {
        let settings = self.slack_settings().await?;
        Ok(SlackSettingsInput {
            enabled: settings.enabled,
            mode: Some(settings.mode),
            bot_token: None,
            signing_secret: None,
            app_token: None,
            default_channel: settings.default_channel,
            api_url: Some(settings.api_url),
        })
    }

    /// Saves new settings: `input` is the whole writable state; secrets change as `changes`
    /// says.
    pub async fn update_slack_settings(
        &self,
        actor: &str,
        input: SlackSettingsInput,
        changes: SecretChanges,
    ) -> Result<SlackSettings, ChatError> {
        let current = store::settings(self.store())
            .await?
            .unwrap_or_else(default_row);
        let seal = |value: &str, field: &str| {
            self.inner
                .secrets
                .seal(value.as_bytes(), &format!("chat_settings:{field}"))
        };
        let mut next = SettingsRow {
            enabled: input.enabled,
            mode: input.mode.unwrap_or(SlackMode::Socket).as_str().to_owned(),
            bot_token: current.bot_token.clone(),
            signing_secret: current.signing_secret.clone(),
            app_token: current.app_token.clone(),
            default_channel: input
                .default_channel
                .clone()
                .filter(|channel| !channel.is_empty()),
            api_url: input
                .api_url
                .clone()
                .unwrap_or_else(|| SLACK_API_URL.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            version: current.version + 1,
        };
        let mut changed_secrets = Vec::new();
        for (field, change, prefix, slot) in [
            (
                "bot_token",
                &changes.bot_token,
                Some("xoxb-"),
                &mut next.bot_token,
            ),
            (
                "signing_secret",
                &changes.signing_secret,
                None,
                &mut next.signing_secret,
            ),
            (
                "app_token",
                &changes.app_token,
                Some("xapp-"),
                &mut next.app_token,
            ),
        ] {
            match change {
                None => {}
                Some(None) => {
                    *slot = None;
                    changed_secrets.push(field);
                }
                Some(Some(value)) => {
                    let value = value.trim();
                    if value.is_empty() || value.chars().any(char::is_whitespace) {
                        return Err(ChatError::invalid(
                            field,
                            format!("{field} must be a token without spaces"),
                        ));
                    }
                    if let Some(prefix) = prefix
                        && !value.starts_with(prefix)
                    {
                        return Err(ChatError::invalid(
                            field,
                            format!("{field} starts with {prefix} (from the Slack app's settings)"),
                        ));
                    }
                    *slot = Some(seal(value, field));
                    changed_secrets.push(field);
                }
            }
        }
        if let Some(channel) = &next.default_channel
            && !valid_channel(channel)
        {
            return Err(ChatError::invalid("default_channel", BAD_CHANNEL));
        }
        if !(next.api_url.starts_with("https://") || next.api_url.starts_with("http://")) {
            return Err(ChatError::invalid(
                "api_url",
                "api_url must be an http(s) URL, such as https://slack.com/api",
            ));
        }
        if next.enabled {
            let mode = SlackMode::parse(&next.mode).unwrap_or(SlackMode::Socket);
            if next.bot_token.is_none() {
                return Err(ChatError::invalid(
                    "bot_token",
                    "chat needs the bot token (xoxb-...) to be enabled",
                ));
            }
            if mode == SlackMode::Socket && next.app_token.is_none() {
                return Err(ChatError::invalid(
                    "app_token",
                    "Socket Mode needs the app-level token (xapp-...)",
                ));
            }
            if mode == SlackMode::Http && next.signing_secret.is_none() {
                return Err(ChatError::invalid(
                    "signing_secret",
                    "HTTP mode needs the app's signing secret",
                ));
            }
        }
        let mut tx = self.store().begin().await?;
        store::save_settings(&mut tx, &next).await?;
        jeny_events::append(
            &mut tx,
            NewEvent::new(
                "chat.settings_changed",
                actor,
                json!({
                    "enabled": next.enabled,
                    "mode": next.mode,
                    "default_channel": next.default_channel,
                    "api_url": next.api_url,
                    "secrets_changed": changed_secrets,
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.slack_settings().await
    }

    pub async fn channels(&self) -> Result<ChannelList, ChatError> {
        let mut projects: BTreeMap<String, ProjectChannels> = BTreeMap::new();
        for (project, environment, channel) in store::channels(self.store()).await? {
            let entry = projects.entry(project).or_insert(ProjectChannels {
                channel: None,
                environments: BTreeMap::new(),
            });
            if environment.is_empty() {
                entry.channel = Some(channel);
            } else {
                entry.environments.insert(environment, channel);
            }
        }
        Ok(ChannelList { projects })
    }

    pub async fn project_channels(&self, project: &str) -> Result<ProjectChannels, ChatError> {
        jeny_projects::get_project(self.store(), project)
            .await
            .map_err(|_| ChatError::NotFound(format!("there is no project {project:?}")))?;
        Ok(self
            .channels()
            .await?
            .projects
            .remove(project)
            .unwrap_or(ProjectChannels {
                channel: None,
                environments: BTreeMap::new(),
            }))
    }

    /// Replaces a project's channels (an empty value removes them).
    pub async fn set_project_channels(
        &self,
        actor: &str,
        project: &str,
        channels: ProjectChannels,
    ) -> Result<ProjectChannels, ChatError> {
        jeny_projects::get_project(self.store(), project)
            .await
            .map_err(|_| ChatError::NotFound(format!("there is no project {project:?}")))?;
        let mut rows = Vec::new();
        if let Some(channel) = &channels.channel {
            if !valid_channel(channel) {
                return Err(ChatError::invalid("channel", BAD_CHANNEL));
            }
            rows.push((String::new(), channel.clone()));
        }
        for (environment, channel) in &channels.environments {
            jeny_projects::get_environment(self.store(), project, environment)
                .await
                .map_err(|_| {
                    ChatError::invalid(
                        format!("environments.{environment}"),
                        format!("{project} has no environment {environment:?}"),
                    )
                })?;
            if !valid_channel(channel) {
                return Err(ChatError::invalid(
                    format!("environments.{environment}"),
                    BAD_CHANNEL,
                ));
            }
            rows.push((environment.clone(), channel.clone()));
        }
        let mut tx = self.store().begin().await?;
        store::replace_channels(&mut tx, project, &rows).await?;
        jeny_events::append(
            &mut tx,
            NewEvent::new(
                "chat.channels_set",
                actor,
                json!({"channel": channels.channel, "environments": channels.environments}),
            )
            .in_project(project),
        )
        .await?;
        tx.commit().await?;
        self.project_channels(project).await
    }
}

fn default_row() -> SettingsRow {
    SettingsRow {
        enabled: false,
        mode: SlackMode::Socket.as_str().to_owned(),
        api_url: SLACK_API_URL.to_owned(),
        ..SettingsRow::default()
    }
}
