//! The chat routes: `/api/v1/chat/slack` (the connection's settings: everyone signed in reads,
//! admins change), `/api/v1/chat/channels` (where each project's deploy messages go; a deployer
//! of the project sets them), and Slack's own signed requests under `/chat/slack/` (HTTP mode).

mod webhooks;

use crate::{ChannelList, Chat, ProjectChannels, SecretChanges, SlackSettings, SlackSettingsInput};
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use jeny_http::{ApiError, AppJson, AsAdmin, AsDeployer, Auth, MergePatch};
use serde_json::Value;

pub fn routes(chat: Chat) -> Router {
    Router::new()
        .route(
            "/api/v1/chat/slack",
            get(get_settings).patch(patch_settings),
        )
        .route("/api/v1/chat/channels", get(list_channels))
        .route(
            "/api/v1/chat/channels/{project}",
            get(get_project_channels).put(put_project_channels),
        )
        .route("/chat/slack/commands", post(webhooks::commands))
        .route("/chat/slack/interactions", post(webhooks::interactions))
        .route("/chat/slack/events", post(webhooks::events))
        .with_state(chat)
}

/// The Slack connection: mode, default channel, whether each token is set (never the tokens),
/// and this node's connection state.
#[utoipa::path(
    get,
    path = "/api/v1/chat/slack",
    tag = "chat",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings", body = SlackSettings),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
    )
)]
async fn get_settings(
    _auth: Auth,
    State(chat): State<Chat>,
) -> Result<AppJson<SlackSettings>, ApiError> {
    Ok(AppJson(chat.slack_settings().await?))
}

/// Changes the Slack connection with a JSON merge patch. `bot_token`, `signing_secret` and
/// `app_token` are write-only: a string sets one, `null` removes it, leaving it out keeps it.
/// Enabling checks that what the mode needs is set. A change reconnects within seconds.
#[utoipa::path(
    patch,
    path = "/api/v1/chat/slack",
    tag = "chat",
    request_body(content = SlackSettingsInput, content_type = "application/merge-patch+json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings", body = SlackSettings),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
        (status = 422, description = "Invalid fields, or what the mode needs is missing", body = jeny_http::Problem),
    )
)]
async fn patch_settings(
    AsAdmin(admin): AsAdmin,
    State(chat): State<Chat>,
    patch: MergePatch,
) -> Result<AppJson<SlackSettings>, ApiError> {
    let secret = |field: &str| match patch.0.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(value)) => Ok(Some(Some(value.clone()))),
        Some(_) => Err(ApiError::invalid(
            field,
            format!("{field} must be a string or null"),
        )),
    };
    let changes = SecretChanges {
        bot_token: secret("bot_token")?,
        signing_secret: secret("signing_secret")?,
        app_token: secret("app_token")?,
    };
    let current = chat.slack_settings_input().await?;
    let input = patch.apply(&current)?;
    Ok(AppJson(
        chat.update_slack_settings(admin.actor(), input, changes)
            .await?,
    ))
}

/// Every project's deploy channels.
#[utoipa::path(
    get,
    path = "/api/v1/chat/channels",
    tag = "chat",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Channels by project", body = ChannelList),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
    )
)]
async fn list_channels(
    _auth: Auth,
    State(chat): State<Chat>,
) -> Result<AppJson<ChannelList>, ApiError> {
    Ok(AppJson(chat.channels().await?))
}

/// Where a project's deploy messages go.
#[utoipa::path(
    get,
    path = "/api/v1/chat/channels/{project}",
    tag = "chat",
    params(("project" = String, Path, description = "The project's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The project's channels", body = ProjectChannels),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 404, description = "No such project", body = jeny_http::Problem),
    )
)]
async fn get_project_channels(
    _auth: Auth,
    State(chat): State<Chat>,
    Path(project): Path<String>,
) -> Result<AppJson<ProjectChannels>, ApiError> {
    Ok(AppJson(chat.project_channels(&project).await?))
}

/// Sets where a project's deploy messages go: its `channel`, and channels of particular
/// `environments` (`{"production": "#prod-deploys"}`). Deploys of a project without a channel go
/// to the default channel, if one is set.
#[utoipa::path(
    put,
    path = "/api/v1/chat/channels/{project}",
    tag = "chat",
    params(("project" = String, Path, description = "The project's name")),
    request_body = ProjectChannels,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The project's channels", body = ProjectChannels),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the deployer role on the project", body = jeny_http::Problem),
        (status = 404, description = "No such project", body = jeny_http::Problem),
        (status = 422, description = "A bad channel or an unknown environment", body = jeny_http::Problem),
    )
)]
async fn put_project_channels(
    AsDeployer(deployer): AsDeployer,
    State(chat): State<Chat>,
    Path(project): Path<String>,
    AppJson(channels): AppJson<ProjectChannels>,
) -> Result<AppJson<ProjectChannels>, ApiError> {
    Ok(AppJson(
        chat.set_project_channels(deployer.actor(), &project, channels)
            .await?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        get_settings,
        patch_settings,
        list_channels,
        get_project_channels,
        put_project_channels
    ),
    components(schemas(
        SlackSettings,
        SlackSettingsInput,
        crate::SlackMode,
        crate::ConnectionStatus,
        ProjectChannels,
        ChannelList,
    ))
)]
pub struct ChatApi;
