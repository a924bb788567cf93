//! What admins manage: people (global role, roles on projects and environments), the
//! allowlist, and agent tokens. Also the agents' own route.

use super::AuthState;
use crate::{
    AgentMe, AgentToken, AllowlistEntry, CreatedAgentToken, GrantsUpdate, NewAgentToken,
    NewAllowlistEntry, PersonDetails, PersonUpdate,
};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use jeny_http::{ApiError, AppJson, AsAdmin, AsAgent};

/// Everyone who has signed in or been given a token, by email.
#[utoipa::path(
    get,
    path = "/api/v1/people",
    tag = "people",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "People", body = Vec<PersonDetails>),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
    )
)]
pub(super) async fn list_people(
    AsAdmin(_admin): AsAdmin,
    State(state): State<AuthState>,
) -> Result<AppJson<Vec<PersonDetails>>, ApiError> {
    Ok(AppJson(state.people().await?))
}

/// One person, by id or email.
#[utoipa::path(
    get,
    path = "/api/v1/people/{person}",
    tag = "people",
    params(("person" = String, Path, description = "The person's id or email")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The person", body = PersonDetails),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
        (status = 404, description = "No such person", body = jeny_http::Problem),
    )
)]
pub(super) async fn get_person(
    AsAdmin(_admin): AsAdmin,
    State(state): State<AuthState>,
    Path(person): Path<String>,
) -> Result<AppJson<PersonDetails>, ApiError> {
    Ok(AppJson(state.person(&person).await?))
}

/// Sets a person's global role. The last admin cannot stop being one.
#[utoipa::path(
    patch,
    path = "/api/v1/people/{person}",
    tag = "people",
    params(("person" = String, Path, description = "The person's id or email")),
    request_body = PersonUpdate,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The person", body = PersonDetails),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
        (status = 404, description = "No such person", body = jeny_http::Problem),
        (status = 409, description = "The last admin", body = jeny_http::Problem),
    )
)]
pub(super) async fn update_person(
    AsAdmin(admin): AsAdmin,
    State(state): State<AuthState>,
    Path(person): Path<String>,
    AppJson(update): AppJson<PersonUpdate>,
) -> Result<AppJson<PersonDetails>, ApiError> {
    Ok(AppJson(
        state.update_person(admin.actor(), &person, update).await?,
    ))
}

/// Replaces a person's roles on projects and environments: each grant names a project, and
/// optionally one of its environments, and the role the person has there instead of their
/// global role (an environment's grant wins over its project's). A deployer on staging but a
/// viewer on production is `{"grants": [{"project": "shop", "environment": "staging",
/// "role": "deployer"}]}` for a global viewer. A global admin is admin everywhere.
#[utoipa::path(
    put,
    path = "/api/v1/people/{person}/grants",
    tag = "people",
    params(("person" = String, Path, description = "The person's id or email")),
    request_body = GrantsUpdate,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The person", body = PersonDetails),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
        (status = 404, description = "No such person", body = jeny_http::Problem),
        (status = 422, description = "An unknown project or environment, or a place named twice", body = jeny_http::Problem),
    )
)]
pub(super) async fn set_grants(
    AsAdmin(admin): AsAdmin,
    State(state): State<AuthState>,
    Path(person): Path<String>,
    AppJson(update): AppJson<GrantsUpdate>,
) -> Result<AppJson<PersonDetails>, ApiError> {
    Ok(AppJson(
        state
            .set_grants(admin.actor(), &person, update.grants)
            .await?,
    ))
}

/// Who may sign in: the configuration file's entries (`source: config`) and those added here.
#[utoipa::path(
    get,
    path = "/api/v1/allowlist",
    tag = "people",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The allowlist", body = Vec<AllowlistEntry>),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
    )
)]
pub(super) async fn list_allowlist(
    AsAdmin(_admin): AsAdmin,
    State(state): State<AuthState>,
) -> Result<AppJson<Vec<AllowlistEntry>>, ApiError> {
    Ok(AppJson(state.allowlist().await?))
}

/// Lets an email (`alice@example.com`) or a whole domain (`@example.com`) sign in.
#[utoipa::path(
    post,
    path = "/api/v1/allowlist",
    tag = "people",
    request_body = NewAllowlistEntry,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The entry", body = AllowlistEntry),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
        (status = 409, description = "Already on the allowlist", body = jeny_http::Problem),
        (status = 422, description = "Neither an email nor @domain", body = jeny_http::Problem),
    )
)]
pub(super) async fn add_allowlist_entry(
    AsAdmin(admin): AsAdmin,
    State(state): State<AuthState>,
    AppJson(input): AppJson<NewAllowlistEntry>,
) -> Result<Response, ApiError> {
    let entry = state.allow(admin.actor(), &input.entry).await?;
    Ok((StatusCode::CREATED, AppJson(entry)).into_response())
}

/// Removes an entry added here. Everyone no other entry lets in is signed out at once: their
/// sessions end and their API tokens are revoked. The answer lists their emails.
#[utoipa::path(
    delete,
    path = "/api/v1/allowlist/{entry}",
    tag = "people",
    params(("entry" = String, Path, max_length = 253, pattern = "^[^@\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*@[^@.\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]([^@\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^@.\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000])?$", description = "The email or @domain")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "`{\"signed_out\": [emails]}`", body = serde_json::Value),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
        (status = 404, description = "Not on the allowlist", body = jeny_http::Problem),
        (status = 409, description = "The entry is in the configuration file", body = jeny_http::Problem),
    )
)]
pub(super) async fn remove_allowlist_entry(
    AsAdmin(admin): AsAdmin,
    State(state): State<AuthState>,
    Path(entry): Path<String>,
) -> Result<AppJson<serde_json::Value>, ApiError> {
    let signed_out = state.disallow(admin.actor(), &entry).await?;
    Ok(AppJson(serde_json::json!({"signed_out": signed_out})))
}

/// Agent tokens, newest first (never their secrets).
#[utoipa::path(
    get,
    path = "/api/v1/agent-tokens",
    tag = "people",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "Agent tokens", body = Vec<AgentToken>),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
    )
)]
pub(super) async fn list_agent_tokens(
    AsAdmin(_admin): AsAdmin,
    State(state): State<AuthState>,
) -> Result<AppJson<Vec<AgentToken>>, ApiError> {
    Ok(AppJson(state.agent_tokens().await?))
}

/// Creates an agent token for `jeny agent`: it may call the agent routes and nothing else. Its
/// secret is in this answer only.
#[utoipa::path(
    post,
    path = "/api/v1/agent-tokens",
    tag = "people",
    request_body = NewAgentToken,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The token, with its secret (shown once)", body = CreatedAgentToken),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
        (status = 422, description = "A bad name", body = jeny_http::Problem),
    )
)]
pub(super) async fn create_agent_token(
    AsAdmin(admin): AsAdmin,
    State(state): State<AuthState>,
    AppJson(input): AppJson<NewAgentToken>,
) -> Result<Response, ApiError> {
    let created = state.create_agent_token(admin.actor(), input).await?;
    Ok((StatusCode::CREATED, AppJson(created)).into_response())
}

/// Revokes an agent token: it stops working at once on this node, within seconds on others.
#[utoipa::path(
    delete,
    path = "/api/v1/agent-tokens/{id}",
    tag = "people",
    params(("id" = String, Path, description = "The agent token's id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The revoked token", body = AgentToken),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "Needs the admin role", body = jeny_http::Problem),
        (status = 404, description = "No such agent token", body = jeny_http::Problem),
    )
)]
pub(super) async fn revoke_agent_token(
    AsAdmin(admin): AsAdmin,
    State(state): State<AuthState>,
    Path(id): Path<String>,
) -> Result<AppJson<AgentToken>, ApiError> {
    Ok(AppJson(state.revoke_agent_token(admin.actor(), &id).await?))
}

/// Who the calling agent is: how `jeny agent` checks its token.
#[utoipa::path(
    get,
    path = "/api/v1/agent/me",
    tag = "agents",
    security(("agent" = [])),
    responses(
        (status = 200, description = "The agent", body = AgentMe),
        (status = 401, description = "No valid agent token", body = jeny_http::Problem),
        (status = 403, description = "Not an agent token", body = jeny_http::Problem),
    )
)]
pub(super) async fn agent_me(AsAgent(agent): AsAgent) -> AppJson<AgentMe> {
    AppJson(crate::agent_me(&agent))
}
