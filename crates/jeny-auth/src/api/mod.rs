//! The auth part's routes: the caller's own identity, tokens and sessions (`me`), what admins
//! manage (`admin`), browser sign-in (`browser`), `jeny login`'s device flow (`device`), and
//! what other tools use (`services`: forward auth, introspection).

mod admin;
mod browser;
mod device;
mod me;
mod services;

use crate::{AuthService, ClientInfo};
use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use jeny_core::ErrorCode;
use jeny_http::ApiError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

pub type AuthState = Arc<AuthService>;

pub fn routes(state: AuthState) -> Router {
    Router::new()
        .route("/api/v1/me", get(me::get_me))
        .route(
            "/api/v1/me/tokens",
            get(me::list_tokens).post(me::create_token),
        )
        .route("/api/v1/me/tokens/{id}", delete(me::revoke_token))
        .route("/api/v1/me/sessions", get(me::list_sessions))
        .route("/api/v1/me/sessions/{id}", delete(me::revoke_session))
        .route("/api/v1/people", get(admin::list_people))
        .route(
            "/api/v1/people/{person}",
            get(admin::get_person).patch(admin::update_person),
        )
        .route("/api/v1/people/{person}/grants", put(admin::set_grants))
        .route(
            "/api/v1/allowlist",
            get(admin::list_allowlist).post(admin::add_allowlist_entry),
        )
        .route(
            "/api/v1/allowlist/{entry}",
            delete(admin::remove_allowlist_entry),
        )
        .route(
            "/api/v1/agent-tokens",
            get(admin::list_agent_tokens).post(admin::create_agent_token),
        )
        .route(
            "/api/v1/agent-tokens/{id}",
            delete(admin::revoke_agent_token),
        )
        .route("/api/v1/agent/me", get(admin::agent_me))
        .route("/api/v1/auth/introspect", post(services::introspect))
        .route("/auth/verify", get(services::verify))
        .route("/auth/providers", get(browser::providers))
        .route("/auth/login", get(browser::login))
        .route("/auth/callback", get(browser::callback))
        .route("/auth/link/{link}", get(browser::link))
        .route("/auth/logout", post(browser::logout))
        .route("/auth/device/code", post(device::device_code))
        .route("/auth/device/token", post(device::device_token))
        .route(
            "/auth/device",
            get(device::device_page).post(device::device_decide),
        )
        .with_state(state)
}

/// Whether a request's body is a form (`application/x-www-form-urlencoded`), as OAuth's
/// endpoints and introspection take.
pub(crate) fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
}

/// The client's address, for rate limits and session records: the peer of the connection, or,
/// when that peer is one of the `trusted_proxies`, the nearest address in `X-Forwarded-For`
/// that is not one of them (the ones further left could be anything the client sent).
pub(crate) fn client_address(
    state: &AuthService,
    headers: &http::HeaderMap,
    extensions: &http::Extensions,
) -> IpAddr {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    let trusted = &state.config.trusted_proxies;
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|address| address.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|address| !trusted.contains(address))
        .unwrap_or(peer)
}

pub(crate) fn client_info(
    state: &AuthService,
    headers: &http::HeaderMap,
    extensions: &http::Extensions,
) -> ClientInfo {
    ClientInfo {
        user_agent: headers
            .get(http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.chars().take(300).collect()),
        ip: Some(client_address(state, headers, extensions).to_string()),
    }
}

/// Takes a sign-in attempt from the client's address; when it has none left, the 429 answer
/// (with `Retry-After`) to send instead.
pub(crate) fn limited(
    state: &AuthService,
    headers: &http::HeaderMap,
    extensions: &http::Extensions,
) -> Option<Response> {
    let address = client_address(state, headers, extensions);
    state.limiter.attempt(address).err().map(|wait| {
        let mut response = ApiError::new(
            ErrorCode::TooManyRequests,
            format!("too many sign-in attempts from this address: try again in {wait} s"),
        )
        .into_response();
        if let Ok(value) = http::HeaderValue::from_str(&wait.to_string()) {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, value);
        }
        response
    })
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        me::get_me,
        me::list_tokens,
        me::create_token,
        me::revoke_token,
        me::list_sessions,
        me::revoke_session,
        admin::list_people,
        admin::get_person,
        admin::update_person,
        admin::set_grants,
        admin::list_allowlist,
        admin::add_allowlist_entry,
        admin::remove_allowlist_entry,
        admin::list_agent_tokens,
        admin::create_agent_token,
        admin::revoke_agent_token,
        admin::agent_me,
        services::introspect,
        services::verify,
        device::device_code,
        device::device_token,
    ),
    components(schemas(
        crate::Me,
        crate::ApiToken,
        crate::NewToken,
        crate::CreatedToken,
        crate::TokenScope,
        crate::Session,
        crate::PersonDetails,
        crate::PersonUpdate,
        crate::GrantsUpdate,
        crate::AllowlistEntry,
        crate::NewAllowlistEntry,
        crate::AgentToken,
        crate::NewAgentToken,
        crate::CreatedAgentToken,
        crate::AgentMe,
        crate::DeviceAuthorization,
        jeny_core::Grant,
        jeny_core::Credential,
    ))
)]
pub struct AuthApi;
