//! Chat: the Slack bot. People drive deploys from the team's chat (`/jeny deploy shop
//! production`, or the same words to the bot in a channel) acting as themselves: a Slack user is
//! the jeny person with the same verified email, with that person's roles. Deploys started from
//! anywhere get one message each in their project's channel, updated in place as they move, with
//! buttons that work. Later parts (metrics, alerts, flags) add their commands and notifications
//! here, the one place where chat lives.
//!
//! Slack reaches jeny over Socket Mode (`socket.rs`: jeny connects out, no public URL) or over
//! signed HTTP requests (`api/webhooks.rs`); both hand the same payloads to `commands.rs` and
//! `interactions.rs`, and each request is acted on once (`replays.rs`). Notifications are a
//! consumer of the event log (`notifier.rs`): it keeps a cursor and remembers which Slack message
//! belongs to which deploy, so a restart neither loses nor repeats a message, and Slack being
//! slow or down never touches a deploy.

pub mod api;
mod blocks;
mod commands;
mod error;
mod identity;
mod interactions;
mod model;
mod notifier;
mod replays;
mod settings;
pub mod signature;
pub mod slack;
mod socket;
mod store;

pub use error::ChatError;
pub use model::{
    ChannelList, ConnectionStatus, ProjectChannels, SLACK_API_URL, SlackMode, SlackSettings,
    SlackSettingsInput,
};
pub use settings::SecretChanges;

use jeny_core::{SecretBox, Timestamp};
use jeny_store::Store;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The chat part of one server.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    secrets: SecretBox,
    auth: Arc<jeny_auth::AuthService>,
    links: jeny_deploys::Links,
    /// Who holds the notifier's lease: the node's name and this process.
    holder: String,
    http: reqwest::Client,
    people: identity::People,
    status: Mutex<ConnectionStatus>,
}

/// The Slack settings in effect, secrets opened.
#[derive(Clone, Default)]
pub(crate) struct Settings {
    pub enabled: bool,
    pub mode: Option<SlackMode>,
    pub bot_token: Option<String>,
    pub signing_secret: Option<String>,
    pub app_token: Option<String>,
    pub default_channel: Option<String>,
    pub api_url: String,
    pub version: i64,
}

impl Settings {
    /// The Web API client with the bot token, when chat is on and has one.
    pub(crate) fn bot(&self, http: &reqwest::Client) -> Option<slack::SlackApi> {
        let token = self.bot_token.as_deref().filter(|_| self.enabled)?;
        Some(slack::SlackApi::new(http.clone(), &self.api_url, token))
    }
}

impl Chat {
    pub fn new(
        store: Store,
        secrets: SecretBox,
        auth: Arc<jeny_auth::AuthService>,
        links: jeny_deploys::Links,
        node: &str,
    ) -> Chat {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Chat {
            inner: Arc::new(Inner {
                store,
                secrets,
                auth,
                links,
                holder: format!("{node}/{}", jeny_core::new_id()),
                http,
                people: identity::People::default(),
                status: Mutex::new(ConnectionStatus {
                    state: "off".to_owned(),
                    since: Some(Timestamp::now()),
                    error: None,
                }),
            }),
        }
    }

    /// Runs the bot's background work until `shutdown`: the notifier (one node of a cluster at a
    /// time) and, in Socket Mode, the connection to Slack (every node).
    pub async fn run(self, shutdown: CancellationToken) {
        let notifier = tokio::spawn(notifier::run(self.clone(), shutdown.clone()));
        let socket = tokio::spawn(socket::run(self.clone(), shutdown.clone()));
        let _ = tokio::join!(notifier, socket);
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn links(&self) -> &jeny_deploys::Links {
        &self.inner.links
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The settings now in the store, with secrets opened.
    pub(crate) async fn settings(&self) -> Result<Settings, ChatError> {
        let Some(row) = store::settings(&self.inner.store).await? else {
            return Ok(Settings {
                api_url: SLACK_API_URL.to_owned(),
                ..Settings::default()
            });
        };
        let open = |sealed: &Option<Vec<u8>>, field: &str| -> Option<String> {
            let sealed = sealed.as_ref()?;
            match self
                .inner
                .secrets
                .open(sealed, &format!("chat_settings:{field}"))
            {
                Ok(secret) => String::from_utf8(secret.expose().clone()).ok(),
                Err(error) => {
                    tracing::error!(field, error = %jeny_core::ErrorChain(&error), "cannot open a chat secret (was the server key changed?)");
                    None
                }
            }
        };
        Ok(Settings {
            enabled: row.enabled,
            mode: SlackMode::parse(&row.mode),
            bot_token: open(&row.bot_token, "bot_token"),
            signing_secret: open(&row.signing_secret, "signing_secret"),
            app_token: open(&row.app_token, "app_token"),
            default_channel: row.default_channel.clone(),
            api_url: row.api_url.clone(),
            version: row.version,
        })
    }

    pub(crate) fn set_status(&self, state: &str, error: Option<String>) {
        let mut status = self
            .inner
            .status
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if status.state != state || status.error != error {
            *status = ConnectionStatus {
                state: state.to_owned(),
                since: Some(Timestamp::now()),
                error,
            };
        }
    }

    pub(crate) fn status(&self) -> ConnectionStatus {
        self.inner
            .status
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }
}
