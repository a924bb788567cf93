//! Sign-in in the browser: `/auth/login` sends the person to the identity provider,
//! `/auth/callback` brings them back signed in (or shows why not), `/auth/link/{token}` uses a
//! one-time console link, `/auth/logout` signs out. These answer with redirects and small
//! pages, not JSON.

use super::{AuthState, client_info, limited};
use crate::authenticator::{SESSION_COOKIE, cookie};
use crate::oidc::OidcError;
use crate::pages::{escape, page, refused};
use crate::store::flows;
use crate::{AuthError, token};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use jeny_core::Timestamp;

/// The cookie that ties a sign-in's return to the browser that started it (against login
/// CSRF: a state captured by an attacker is useless in another browser).
const LOGIN_COOKIE: &str = "jeny_login";
const LOGIN_TTL_SECS: u64 = 600;

fn redirect(location: &str, cookies: &[String]) -> Response {
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_owned())],
    )
        .into_response();
    for cookie in cookies {
        if let Ok(value) = http::HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

/// How people sign in here, for the web app's sign-in page (public: it is shown before sign-in).
pub(super) async fn providers(State(state): State<AuthState>) -> Response {
    let provider = state.config.oidc.as_ref().map(|oidc| {
        let issuer = oidc.issuer.trim_end_matches('/');
        if issuer == crate::config::GOOGLE_ISSUER.trim_end_matches('/') {
            "Google".to_owned()
        } else {
            url::Url::parse(issuer)
                .ok()
                .and_then(|url| url.host_str().map(str::to_owned))
                .unwrap_or_else(|| issuer.to_owned())
        }
    });
    axum::Json(serde_json::json!({
        "oidc": provider.is_some(),
        "name": provider,
    }))
    .into_response()
}

/// Starts signing in: to the identity provider, returning to `next` afterwards.
pub(super) async fn login(
    State(state): State<AuthState>,
    headers: HeaderMap,
    parts: http::Extensions,
    query: jeny_http::QueryPairs,
) -> Response {
    if let Some(response) = limited(&state, &headers, &parts) {
        return response;
    }
    let next = state.safe_next(query.first("next"));
    let Some(oidc) = &state.oidc else {
        return page(
            StatusCode::NOT_FOUND,
            "Sign-in is not set up",
            "<p>This jeny has no identity provider configured (see <code>oidc_client_id</code> \
             in the configuration). Sign in with the one-time link its console printed at start, \
             or make a new one with <code>jeny admin sign-in-link</code>.</p>",
        );
    };
    let started = match oidc.start().await {
        Ok(started) => started,
        Err(error) => {
            tracing::warn!(error = %jeny_core::ErrorChain(&error), "cannot start an OIDC sign-in");
            return refused(
                StatusCode::BAD_GATEWAY,
                "Sign-in is unavailable",
                &error.to_string(),
            );
        }
    };
    let login = flows::OidcLogin {
        nonce: started.nonce,
        pkce_verifier: started.pkce_verifier,
        next_url: next,
    };
    let expires_at = Timestamp::from_micros(
        Timestamp::now().as_micros()
            + i64::try_from(LOGIN_TTL_SECS * 1_000_000).unwrap_or(i64::MAX),
    );
    let stored = async {
        let mut tx = state.store().begin().await?;
        flows::insert_login(&mut tx, &token::hash(&started.state), &login, expires_at).await?;
        tx.commit().await
    }
    .await;
    if let Err(error) = stored {
        tracing::error!(error = %jeny_core::ErrorChain(&error), "cannot store an OIDC sign-in");
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable",
            "jeny cannot reach its database right now: try again in a moment",
        );
    }
    let cookie = state.cookie(LOGIN_COOKIE, &started.state, LOGIN_TTL_SECS, "/auth");
    redirect(&started.url, &[cookie])
}

/// Where the identity provider sends the person back, with a code (or an error).
pub(super) async fn callback(
    State(state): State<AuthState>,
    headers: HeaderMap,
    parts: http::Extensions,
    query: jeny_http::QueryPairs,
) -> Response {
    if let Some(response) = limited(&state, &headers, &parts) {
        return response;
    }
    let Some(oidc) = &state.oidc else {
        return refused(
            StatusCode::NOT_FOUND,
            "Sign-in is not set up",
            "this jeny has no identity provider configured",
        );
    };
    let title = "You are not signed in";
    if let Some(error) = query.first("error") {
        let description = query.first("error_description").unwrap_or_default();
        return refused(
            StatusCode::FORBIDDEN,
            title,
            &format!("the identity provider answered {error} {description}"),
        );
    }
    let (Some(code), Some(returned_state)) = (query.first("code"), query.first("state")) else {
        return refused(
            StatusCode::BAD_REQUEST,
            title,
            "the identity provider's answer has no code or state",
        );
    };
    if cookie(&headers, LOGIN_COOKIE) != Some(returned_state) {
        state
            .record_refusal(
                "",
                "the sign-in's state does not match the one this browser started",
            )
            .await;
        return refused(
            StatusCode::FORBIDDEN,
            title,
            "this sign-in was not started in this browser, or its state was changed on the way: start again",
        );
    }
    let login = async {
        let mut tx = state.store().begin().await?;
        let login = flows::take_login(&mut tx, &token::hash(returned_state)).await?;
        tx.commit().await?;
        Ok::<_, jeny_store::StoreError>(login)
    }
    .await;
    let login = match login {
        Ok(Some(login)) => login,
        Ok(None) => {
            return refused(
                StatusCode::FORBIDDEN,
                title,
                "this sign-in is unknown, already used or expired: start again",
            );
        }
        Err(error) => {
            tracing::error!(error = %jeny_core::ErrorChain(&error), "cannot read an OIDC sign-in");
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                title,
                "jeny cannot reach its database right now: try again in a moment",
            );
        }
    };
    let identity = match oidc.finish(code, &login.nonce, &login.pkce_verifier).await {
        Ok(identity) => identity,
        Err(error @ OidcError::Rejected(_)) => {
            tracing::warn!(error = %jeny_core::ErrorChain(&error), "an OIDC sign-in did not verify");
            state.record_refusal("", &error.to_string()).await;
            return refused(StatusCode::FORBIDDEN, title, &error.to_string());
        }
        Err(error @ OidcError::Unavailable(_)) => {
            tracing::warn!(error = %jeny_core::ErrorChain(&error), "an OIDC sign-in could not complete");
            return refused(StatusCode::BAD_GATEWAY, title, &error.to_string());
        }
    };
    let clear_login = state.expired_cookie(LOGIN_COOKIE, "/auth");
    match state
        .sign_in_identity(&identity, &client_info(&state, &headers, &parts))
        .await
    {
        // checked again: a sign-in started before an upgrade may hold what is no longer allowed
        Ok((_, session)) => redirect(
            &state.safe_next(Some(&login.next_url)),
            &[state.session_cookie(session.expose()), clear_login],
        ),
        Err(AuthError::SignInRefused(reason)) => {
            let mut response =
                refused(StatusCode::FORBIDDEN, "You cannot sign in to jeny", &reason);
            if let Ok(value) = http::HeaderValue::from_str(&clear_login) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Err(error) => {
            tracing::error!(error = %jeny_core::ErrorChain(&error), "cannot complete a sign-in");
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                title,
                "jeny cannot complete the sign-in right now: try again in a moment",
            )
        }
    }
}

/// Uses a one-time sign-in link from the server's console.
pub(super) async fn link(
    State(state): State<AuthState>,
    headers: HeaderMap,
    parts: http::Extensions,
    Path(link): Path<String>,
) -> Response {
    if let Some(response) = limited(&state, &headers, &parts) {
        return response;
    }
    match state
        .sign_in_with_link(&link, &client_info(&state, &headers, &parts))
        .await
    {
        Ok((_, session)) => redirect("/", &[state.session_cookie(session.expose())]),
        Err(AuthError::SignInRefused(reason)) => refused(
            StatusCode::FORBIDDEN,
            "This link does not sign you in",
            &reason,
        ),
        Err(error) => {
            tracing::error!(error = %jeny_core::ErrorChain(&error), "cannot sign in with a console link");
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "This link does not sign you in",
                "jeny cannot complete the sign-in right now: try again in a moment",
            )
        }
    }
}

/// Signs out: ends this browser's session and removes its cookie. Only from jeny's own pages
/// (a cross-site form cannot sign anyone out).
pub(super) async fn logout(
    State(state): State<AuthState>,
    request: axum::extract::Request,
) -> Response {
    let (parts, _) = request.into_parts();
    if !state.same_origin(&parts) {
        return refused(
            StatusCode::FORBIDDEN,
            "Not signed out",
            "signing out must be asked for from jeny's own pages",
        );
    }
    if let Some(session) = cookie(&parts.headers, SESSION_COOKIE)
        && let Err(error) = state.sign_out(session).await
    {
        tracing::error!(error = %jeny_core::ErrorChain(&error), "cannot end a session");
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not signed out",
            "jeny cannot reach its database right now: try again in a moment",
        );
    }
    let mut response = page(
        StatusCode::OK,
        "You are signed out",
        &format!(
            "<p>This browser is no longer signed in to jeny at {}.</p><p><a href=\"/auth/login\">Sign in again</a></p>",
            escape(&state.config().public_url)
        ),
    );
    if let Ok(value) = http::HeaderValue::from_str(&state.expired_cookie(SESSION_COOKIE, "/")) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
