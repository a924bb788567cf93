//! The device authorization grant over HTTP (RFC 8628): `POST /auth/device/code` and
//! `POST /auth/device/token` for the client (`jeny login`), and the page at `/auth/device`
//! where a signed-in person approves or denies it. The client endpoints speak OAuth's wire
//! format: form bodies in, JSON out, errors as `{"error": ..., "error_description": ...}`.

use super::{AuthState, is_form, limited};
use crate::DEVICE_GRANT_TYPE;
use crate::pages::{escape, page, refused};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use jeny_http::DeliberateBody;
use serde_json::json;

fn form(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// An OAuth JSON answer (never rewritten as problem+json), not cached.
fn oauth_json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response();
    response.extensions_mut().insert(DeliberateBody);
    response
}

fn oauth_error(error: &str, description: &str) -> Response {
    oauth_json(
        StatusCode::BAD_REQUEST,
        json!({"error": error, "error_description": description}),
    )
}

/// Starts a device authorization (RFC 8628 section 3.1): a form with `client_id` (any name of
/// the client, such as `jeny-cli`) and optionally `client_name`, which names the API token the
/// person will get (`jeny login on laptop`). Public: the person's approval is what counts.
#[utoipa::path(
    post,
    path = "/auth/device/code",
    tag = "auth",
    request_body(content = crate::model::DeviceCodeForm, content_type = "application/x-www-form-urlencoded", description = "client_id=jeny-cli&client_name=jeny+login+on+laptop"),
    security(()),
    responses(
        (status = 200, description = "The device code, and the user code to show", body = crate::DeviceAuthorization),
        (status = 400, description = "No client_id, or not a form (an OAuth error object)"),
        (status = 429, description = "Too many attempts from this address", body = jeny_http::Problem),
    )
)]
pub(super) async fn device_code(
    State(state): State<AuthState>,
    headers: HeaderMap,
    parts: http::Extensions,
    body: Bytes,
) -> Response {
    if let Some(response) = limited(&state, &headers, &parts) {
        return response;
    }
    if !is_form(&headers) {
        return oauth_error(
            "invalid_request",
            "the body must be a form (application/x-www-form-urlencoded)",
        );
    }
    let form = form(&body);
    let Some(client_id) = field(&form, "client_id").filter(|id| !id.trim().is_empty()) else {
        return oauth_error("invalid_request", "client_id is missing");
    };
    let name = field(&form, "client_name").unwrap_or(client_id);
    match state.device_authorization(client_id, name).await {
        Ok(authorization) => oauth_json(StatusCode::OK, json!(authorization)),
        Err(error) => jeny_http::ApiError::from(error).into_response(),
    }
}

/// Polls for the token (RFC 8628 section 3.4): a form with `grant_type`
/// (`urn:ietf:params:oauth:grant-type:device_code`), `device_code` and `client_id`, the same
/// `client_id` that asked for the code (another one gets `invalid_grant`, and the token stays
/// for the right client). Answers `authorization_pending`, `slow_down`, `access_denied`,
/// `expired_token` or `invalid_grant` until the person approves; then the personal API token,
/// once.
#[utoipa::path(
    post,
    path = "/auth/device/token",
    tag = "auth",
    request_body(content = crate::model::DeviceTokenForm, content_type = "application/x-www-form-urlencoded", description = "grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=...&client_id=jeny-cli"),
    security(()),
    responses(
        (status = 200, description = "`access_token` (a personal API token) and `token_type`"),
        (status = 400, description = "Not yet, or never: an OAuth error object"),
    )
)]
pub(super) async fn device_token(
    State(state): State<AuthState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_form(&headers) {
        return oauth_error(
            "invalid_request",
            "the body must be a form (application/x-www-form-urlencoded)",
        );
    }
    let form = form(&body);
    if field(&form, "grant_type") != Some(DEVICE_GRANT_TYPE) {
        return oauth_error(
            "unsupported_grant_type",
            &format!("this endpoint serves grant_type={DEVICE_GRANT_TYPE}"),
        );
    }
    let Some(device_code) = field(&form, "device_code") else {
        return oauth_error("invalid_request", "device_code is missing");
    };
    let Some(client_id) = field(&form, "client_id").filter(|id| !id.trim().is_empty()) else {
        return oauth_error(
            "invalid_request",
            "client_id is missing: poll with the client_id that asked for the device code",
        );
    };
    match state.device_token(device_code, client_id).await {
        Ok(Ok((access_token, token_id))) => oauth_json(
            StatusCode::OK,
            json!({"access_token": access_token, "token_type": "Bearer", "token_id": token_id}),
        ),
        Ok(Err(poll)) => oauth_error(poll.code(), poll.description()),
        Err(error) => jeny_http::ApiError::from(error).into_response(),
    }
}

fn approval_form(user_code: &str, client_name: Option<&str>, email: &str) -> String {
    let what = match client_name {
        Some(name) => format!(
            "<p><strong>{}</strong> asks to act as you.</p>",
            escape(name)
        ),
        None => String::new(),
    };
    format!(
        "{what}<p>Approve only if you started <code>jeny login</code> yourself and it shows this \
         code. It will get an API token with your access, as {email}.</p>\
         <form method=\"post\" action=\"/auth/device\">\
         <p><input name=\"user_code\" value=\"{code}\" autocomplete=\"off\" class=\"code\" \
         aria-label=\"code\" required></p>\
         <button name=\"action\" value=\"approve\">Approve</button>\
         <button name=\"action\" value=\"deny\">Deny</button></form>",
        email = escape(email),
        code = escape(user_code),
    )
}

/// The page where a signed-in person approves a device: sends everyone else to sign in first.
pub(super) async fn device_page(
    State(state): State<AuthState>,
    request: axum::extract::Request,
) -> Response {
    let (parts, _) = request.into_parts();
    let user_code = jeny_http::QueryPairs::from_uri(&parts.uri)
        .first("user_code")
        .map(str::to_owned)
        .unwrap_or_default();
    let principal = match state.principal_for(&parts).await {
        Ok(principal) if !principal.is_agent() => principal,
        _ => {
            if !state.has_oidc() {
                return page(
                    StatusCode::UNAUTHORIZED,
                    "Sign in first",
                    "<p>Sign in to jeny in this browser first (with the one-time link from its \
                     console, or <code>jeny admin sign-in-link</code>), then open this page again.</p>",
                );
            }
            let here = format!(
                "/auth/device?user_code={}",
                form_urlencoded::byte_serialize(user_code.as_bytes()).collect::<String>()
            );
            let login = format!(
                "/auth/login?next={}",
                form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
            );
            return (StatusCode::SEE_OTHER, [(header::LOCATION, login)]).into_response();
        }
    };
    let pending = match state.pending_device(&user_code).await {
        Ok(pending) => pending,
        Err(error) => return jeny_http::ApiError::from(error).into_response(),
    };
    let client_name = pending.as_ref().map(|pending| pending.client_name.as_str());
    let shown_code = pending
        .as_ref()
        .map_or(user_code.as_str(), |pending| pending.user_code.as_str());
    page(
        StatusCode::OK,
        "Sign in a device",
        &approval_form(shown_code, client_name, &principal.email),
    )
}

/// The approval (or denial), posted from the page above by the signed-in person.
pub(super) async fn device_decide(
    State(state): State<AuthState>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(response) = limited(&state, &parts.headers, &parts.extensions) {
        return response;
    }
    let principal = match state.principal_for(&parts).await {
        Ok(principal) if !principal.is_agent() => principal,
        Ok(_) => {
            return refused(
                StatusCode::FORBIDDEN,
                "Not approved",
                "an agent cannot approve devices",
            );
        }
        Err(error) => {
            return refused(
                StatusCode::from_u16(error.status().as_u16()).unwrap_or(StatusCode::UNAUTHORIZED),
                "Not approved",
                &error.detail,
            );
        }
    };
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
        return refused(
            StatusCode::BAD_REQUEST,
            "Not approved",
            "the form could not be read",
        );
    };
    let form = form(&body);
    let user_code = field(&form, "user_code").unwrap_or_default();
    let approve = match field(&form, "action") {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return refused(
                StatusCode::BAD_REQUEST,
                "Not approved",
                "choose approve or deny",
            );
        }
    };
    match state.decide_device(&principal, user_code, approve).await {
        Ok(client_name) if approve => page(
            StatusCode::OK,
            "Device approved",
            &format!(
                "<p><strong>{}</strong> is now signed in as {}. You can close this page and return to your terminal.</p>",
                escape(&client_name),
                escape(&principal.email)
            ),
        ),
        Ok(client_name) => page(
            StatusCode::OK,
            "Device denied",
            &format!(
                "<p><strong>{}</strong> was refused.</p>",
                escape(&client_name)
            ),
        ),
        Err(crate::AuthError::NotFound(reason)) => {
            refused(StatusCode::NOT_FOUND, "Not approved", &reason)
        }
        Err(error) => jeny_http::ApiError::from(error).into_response(),
    }
}
