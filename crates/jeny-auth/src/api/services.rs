//! What a team's other tools use jeny's sign-in through: forward authentication for reverse
//! proxies (`/auth/verify`) and token introspection (RFC 7662).

use super::AuthState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use jeny_http::{ApiError, AppJson, Auth};

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
    request_body(content = crate::model::IntrospectForm, content_type = "application/x-www-form-urlencoded", description = "token=jeny_..."),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "What the token is", body = serde_json::Value),
        (status = 401, description = "The caller has no valid API token", body = jeny_http::Problem),
        (status = 415, description = "The body is not a form", body = jeny_http::Problem),
        (status = 422, description = "No token in the form", body = jeny_http::Problem),
    )
)]
pub(super) async fn introspect(
    Auth(_caller): Auth,
    State(state): State<AuthState>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<AppJson<serde_json::Value>, ApiError> {
    if !super::is_form(&headers) {
        return Err(ApiError::new(
            jeny_core::ErrorCode::UnsupportedMediaType,
            "introspection takes a form body (application/x-www-form-urlencoded): token=...",
        ));
    }
    let token = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| ApiError::invalid("token", "the form has no token"))?;
    Ok(AppJson(crate::introspect(state.store(), &token).await?))
}

/// Forward authentication for a team's other tools behind a reverse proxy (nginx `auth_request`,
/// Traefik `ForwardAuth`): the proxy asks here with the original request's headers before
/// passing a request on. A signed-in browser (jeny's session cookie) or a valid API token gets
/// `204` with `X-Jeny-Email`, `X-Jeny-Role` and `X-Jeny-User` for the proxy to pass on; anyone
/// else gets `401`, or with `?login=redirect` a `302` to jeny's sign-in that returns to the
/// original URL (from `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-Uri`, or
/// `X-Original-URL`); a person whose role is below `?role=` gets `403`.
#[utoipa::path(
    get,
    path = "/auth/verify",
    tag = "auth",
    params(
        ("role" = Option<String>, Query, pattern = "^(viewer|deployer|admin)$", description = "The least role the tool requires (viewer by default)"),
        ("login" = Option<String>, Query, description = "`redirect`: answer an unauthenticated browser with a redirect to sign-in"),
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Allowed; the person in X-Jeny-Email, X-Jeny-Role, X-Jeny-User"),
        (status = 302, description = "Not signed in, with ?login=redirect: to sign-in"),
        (status = 401, description = "Not signed in", body = jeny_http::Problem),
        (status = 403, description = "A role below ?role=", body = jeny_http::Problem),
        (status = 422, description = "An unknown role in ?role=, an unknown parameter, or one given twice", body = jeny_http::Problem),
    )
)]
pub(super) async fn verify(
    State(state): State<AuthState>,
    query: jeny_http::QueryPairs,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    query.only(&["role", "login"])?;
    query.at_most_once(&["role", "login"])?;
    let needed = match query.first("role") {
        Some(role) => Some(role.parse::<jeny_core::Role>().map_err(|_| {
            ApiError::invalid(
                "role",
                format!("unknown role {role:?}: viewer, deployer or admin"),
            )
        })?),
        None => None,
    };
    let (parts, _) = request.into_parts();
    let principal = match state.principal_for(&parts).await {
        Ok(principal) if !principal.is_agent() => principal,
        Ok(_) => {
            return Err(ApiError::new(
                jeny_core::ErrorCode::Forbidden,
                "an agent token does not sign anyone in to other tools",
            ));
        }
        Err(error)
            if error.code == jeny_core::ErrorCode::Unauthenticated
                && query.first("login") == Some("redirect") =>
        {
            let original = original_url(&parts.headers);
            let mut login = format!("{}/auth/login", state.config().public_url);
            if let Some(original) = original {
                login.push_str("?next=");
                login.push_str(
                    &form_urlencoded::byte_serialize(original.as_bytes()).collect::<String>(),
                );
            }
            return Ok((StatusCode::FOUND, [(http::header::LOCATION, login)]).into_response());
        }
        Err(error) => return Err(error),
    };
    if let Some(needed) = needed {
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

/// The URL the proxy was asked for, from the headers proxies send with forward auth.
fn original_url(headers: &http::HeaderMap) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(url) = header("x-original-url") {
        return Some(url.to_owned());
    }
    let host = header("x-forwarded-host")?;
    let proto = header("x-forwarded-proto").unwrap_or("https");
    let uri = header("x-forwarded-uri").unwrap_or("/");
    Some(format!("{proto}://{host}{uri}"))
}
