//! The caller's own identity, API tokens and sessions: `/api/v1/me...`.

use super::AuthState;
use crate::{ApiToken, CreatedToken, Me, NewToken, Session};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use jeny_http::{ApiError, AppJson, Auth};

/// Who you are: your email, the role in effect, and the token you used.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
    )
)]
pub(super) async fn get_me(
    Auth(principal): Auth,
    State(state): State<AuthState>,
) -> Result<AppJson<Me>, ApiError> {
    Ok(AppJson(state.me(&principal).await?))
}

/// Your API tokens, newest first, revoked ones included. Never their secrets.
#[utoipa::path(
    get,
    path = "/api/v1/me/tokens",
    tag = "auth",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "Your tokens", body = Vec<ApiToken>),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
    )
)]
pub(super) async fn list_tokens(
    Auth(principal): Auth,
    State(state): State<AuthState>,
) -> Result<AppJson<Vec<ApiToken>>, ApiError> {
    Ok(AppJson(
        crate::list_tokens(state.store(), &principal).await?,
    ))
}

/// Creates a personal API token. Its secret is in this answer and nowhere else: it is stored
/// only as a hash. A token never has more power than its maker: `scope` can lower it, and a
/// token made with a limited token is limited the same way.
#[utoipa::path(
    post,
    path = "/api/v1/me/tokens",
    tag = "auth",
    request_body = NewToken,
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The token, with its secret (shown once)", body = CreatedToken),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 422, description = "A bad name, a scope above your role, an expiry in the past", body = jeny_http::Problem),
    )
)]
pub(super) async fn create_token(
    Auth(principal): Auth,
    State(state): State<AuthState>,
    AppJson(input): AppJson<NewToken>,
) -> Result<Response, ApiError> {
    let created = crate::create_token(state.store(), &principal, input).await?;
    Ok((StatusCode::CREATED, AppJson(created)).into_response())
}

/// Revokes one of your tokens: it stops working at once on this node, and within seconds on
/// the others.
#[utoipa::path(
    delete,
    path = "/api/v1/me/tokens/{id}",
    tag = "auth",
    params(("id" = String, Path, description = "The token's id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The revoked token", body = ApiToken),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 404, description = "You have no such token", body = jeny_http::Problem),
    )
)]
pub(super) async fn revoke_token(
    Auth(principal): Auth,
    State(state): State<AuthState>,
    Path(id): Path<String>,
) -> Result<AppJson<ApiToken>, ApiError> {
    Ok(AppJson(
        crate::revoke_token(state.store(), &state, &principal, &id).await?,
    ))
}

/// Your browser sessions that have not ended, newest first; `current` marks the one this
/// request came with.
#[utoipa::path(
    get,
    path = "/api/v1/me/sessions",
    tag = "auth",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "Your sessions", body = Vec<Session>),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
    )
)]
pub(super) async fn list_sessions(
    Auth(principal): Auth,
    State(state): State<AuthState>,
) -> Result<AppJson<Vec<Session>>, ApiError> {
    Ok(AppJson(state.sessions(&principal).await?))
}

/// Ends one of your sessions (signs that browser out).
#[utoipa::path(
    delete,
    path = "/api/v1/me/sessions/{id}",
    tag = "auth",
    params(("id" = String, Path, description = "The session's id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The ended session", body = Session),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 404, description = "You have no such session", body = jeny_http::Problem),
    )
)]
pub(super) async fn revoke_session(
    Auth(principal): Auth,
    State(state): State<AuthState>,
    Path(id): Path<String>,
) -> Result<AppJson<Session>, ApiError> {
    Ok(AppJson(state.revoke_session(&principal, &id).await?))
}
