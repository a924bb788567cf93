//! The caller's own identity and API tokens: `/api/v1/me` and `/api/v1/me/tokens`.

use crate::{ApiToken, CreatedToken, Me, NewToken, TokenAuthenticator};
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::StatusCode;
use jeny_http::{ApiError, AppJson, Auth};
use jeny_store::Store;
use std::sync::Arc;

#[derive(Clone)]
pub struct AuthState {
    pub store: Store,
    pub authenticator: Arc<TokenAuthenticator>,
}

pub fn routes(state: AuthState) -> Router {
    Router::new()
        .route("/api/v1/me", get(get_me))
        .route("/api/v1/me/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/me/tokens/{id}", delete(revoke_token))
        .route("/api/v1/auth/introspect", post(introspect))
        .route("/auth/verify", get(verify))
        .with_state(state)
}

/// Who you are: your email, the role in effect, and the token you used.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
    )
)]
async fn get_me(
    Auth(principal): Auth,
    State(state): State<AuthState>,
) -> Result<AppJson<Me>, ApiError> {
    Ok(AppJson(crate::me(&state.store, &principal).await?))
}

/// Your API tokens, newest first, revoked ones included. Never their secrets.
#[utoipa::path(
    get,
    path = "/api/v1/me/tokens",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your tokens", body = Vec<ApiToken>),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
    )
)]
async fn list_tokens(
    Auth(principal): Auth,
    State(state): State<AuthState>,
) -> Result<AppJson<Vec<ApiToken>>, ApiError> {
    Ok(AppJson(crate::list_tokens(&state.store, &principal).await?))
}

/// Creates a personal API token. Its secret is in this answer and nowhere else: it is stored
/// only as a hash. A token never has more power than its maker: `scope` can lower it, and a
/// token made with a limited token is limited the same way.
#[utoipa::path(
    post,
    path = "/api/v1/me/tokens",
    tag = "auth",
    request_body = NewToken,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The token, with its secret (shown once)", body = CreatedToken),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 422, description = "A bad name, a scope above your role, an expiry in the past", body = jeny_http::Problem),
    )
)]
async fn create_token(
    Auth(principal): Auth,
    State(state): State<AuthState>,
    AppJson(input): AppJson<NewToken>,
) -> Result<Response, ApiError> {
    let created = crate::create_token(&state.store, &principal, input).await?;
    Ok((StatusCode::CREATED, AppJson(created)).into_response())
}

/// Revokes one of your tokens: it stops working at once on this node, and within seconds on
/// the others.
#[utoipa::path(
    delete,
    path = "/api/v1/me/tokens/{id}",
    tag = "auth",
    params(("id" = String, Path, description = "The token's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The revoked token", body = ApiToken),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 404, description = "You have no such token", body = jeny_http::Problem),
    )
)]
async fn revoke_token(
    Auth(principal): Auth,
    State(state): State<AuthState>,
    Path(id): Path<String>,
) -> Result<AppJson<ApiToken>, ApiError> {
    Ok(AppJson(
        crate::revoke_token(&state.store, &state.authenticator, &principal, &id).await?,
    ))
}

/// Token introspection (RFC 7662), for services that receive jeny tokens and want to know
/// whether one is valid and whose it is. The body is a form, `token=jeny_...` (a
/// `token_type_hint` is accepted and ignored); the caller authenticates with its own token. The
/// answer is `{"active": false}` for an unknown, revoked or expired token, or `active`, `scope`
/// (`read`, `deploy` or `admin`: the role the token acts with), `username` (the email), `sub`,
/// `token_type`, `iat`, `exp` (when it expires), `jti` and `iss`.
#[utoipa::path(
    post,
    path = "/api/v1/auth/introspect",
    tag = "auth",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "token=jeny_..."),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What the token is", body = serde_json::Value),
        (status = 401, description = "The caller has no valid API token", body = jeny_http::Problem),
        (status = 415, description = "The body is not a form", body = jeny_http::Problem),
        (status = 422, description = "No token in the form", body = jeny_http::Problem),
    )
)]
async fn introspect(
    Auth(_caller): Auth,
    State(state): State<AuthState>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<AppJson<serde_json::Value>, ApiError> {
    let form = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(ApiError::new(
            jeny_core::ErrorCode::UnsupportedMediaType,
            "introspection takes a form body (application/x-www-form-urlencoded): token=...",
        ));
    }
    let token = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| ApiError::invalid("token", "the form has no token"))?;
    Ok(AppJson(crate::introspect(&state.store, &token).await?))
}

/// Forward authentication for a team's other tools behind a reverse proxy (nginx `auth_request`,
/// Traefik `ForwardAuth`): the proxy asks here with the original request's headers before
/// passing a request on. A valid API token in `Authorization` gets `204` with `X-Jeny-Email`,
/// `X-Jeny-Role` and `X-Jeny-User` for the proxy to pass on; none or a bad one gets `401`; a token
/// whose role is below `?role=` (viewer, deployer, admin) gets `403`. (Browser sign-in through
/// the same route comes with sessions.)
#[utoipa::path(
    get,
    path = "/auth/verify",
    tag = "auth",
    params(("role" = Option<String>, Query, description = "The least role the tool requires (viewer by default)")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Allowed; the person in X-Jeny-Email, X-Jeny-Role, X-Jeny-User"),
        (status = 401, description = "No valid API token", body = jeny_http::Problem),
        (status = 403, description = "A role below ?role=", body = jeny_http::Problem),
        (status = 422, description = "An unknown role in ?role=", body = jeny_http::Problem),
    )
)]
async fn verify(Auth(principal): Auth, query: jeny_http::QueryPairs) -> Result<Response, ApiError> {
    query.only(&["role"])?;
    if let Some(role) = query.first("role") {
        let needed = role.parse::<jeny_core::Role>().map_err(|_| {
            ApiError::invalid(
                "role",
                format!("unknown role {role:?}: viewer, deployer or admin"),
            )
        })?;
        principal.require(needed)?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [
            ("x-jeny-email", principal.email.clone()),
            ("x-jeny-role", principal.role.as_str().to_owned()),
            ("x-jeny-user", principal.person_id.clone()),
        ],
    )
        .into_response())
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(get_me, list_tokens, create_token, revoke_token, introspect, verify),
    components(schemas(
        crate::Me,
        crate::ApiToken,
        crate::NewToken,
        crate::CreatedToken,
        crate::TokenScope
    ))
)]
pub struct AuthApi;
