//! Credentials -> `Principal`, for every request: a bearer API token, a bearer agent token, or
//! the browser's session cookie. A verified credential is cached for a few seconds so that a
//! busy client costs one hash and one map lookup per request, not a query; the price is that a
//! revoked credential keeps working for up to `CACHE_TTL` on a node that verified it just
//! before (revocation on a node forgets that node's cache at once). Last-use times are written
//! at most once a minute.
//!
//! A browser's writes are protected against cross-site request forgery here: a request that
//! authenticates with the session cookie and is not GET, HEAD or OPTIONS must come from jeny's
//! own origin (`Origin`, or `Sec-Fetch-Site: same-origin` when a browser sends no Origin).
//! The cookie is also `SameSite=Lax`, so other sites' subrequests do not carry it at all.

use crate::store::{Lookup, agents, find_token_owner, parse_role, people, sessions, touch_token};
use crate::{AuthService, token};
use futures_util::future::BoxFuture;
use http::request::Parts;
use jeny_core::{Credential, ErrorCode, Principal, Timestamp};
use jeny_http::{ApiError, Authenticator};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

const CACHE_TTL: Duration = Duration::from_secs(5);
const CACHE_MAX_ENTRIES: usize = 10_000;
const LAST_USED_RESOLUTION_MICROS: i64 = 60_000_000;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "jeny_session";

/// Recently verified credentials, by hash.
#[derive(Default)]
pub(crate) struct CredentialCache {
    entries: RwLock<HashMap<String, (Principal, Instant)>>,
}

impl CredentialCache {
    fn get(&self, hash: &str) -> Option<Principal> {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (principal, verified_at) = entries.get(hash)?;
        (verified_at.elapsed() < CACHE_TTL).then(|| principal.clone())
    }

    fn put(&self, hash: String, principal: &Principal) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= CACHE_MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, (principal.clone(), Instant::now()));
    }

    pub(crate) fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }
}

fn unauthenticated(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, detail)
}

/// The value of cookie `name` in the request, if it has one.
pub(crate) fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

impl AuthService {
    /// Forgets every cached credential, so the next request re-reads the store.
    pub fn forget_all(&self) {
        self.cache.clear();
    }

    pub(crate) async fn principal_for(&self, parts: &Parts) -> Result<Principal, ApiError> {
        if let Some(header) = parts.headers.get(http::header::AUTHORIZATION) {
            let bearer = header
                .to_str()
                .ok()
                .and_then(|value| {
                    let (scheme, token) = value.split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                })
                .filter(|token| !token.is_empty())
                .ok_or_else(|| {
                    unauthenticated("the Authorization header must be `Bearer <token>`")
                })?;
            return match self.verify_bearer(bearer).await? {
                Some(principal) => Ok(principal),
                None => Err(unauthenticated(
                    "this API token is not valid: it is unknown, revoked or expired",
                )),
            };
        }
        if let Some(session) = cookie(&parts.headers, SESSION_COOKIE) {
            let principal = self.verify_session(session).await?.ok_or_else(|| {
                unauthenticated(
                    "your session has ended (signed out, expired or revoked): sign in again",
                )
            })?;
            if !is_safe_method(&parts.method) && !self.same_origin(parts) {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "a browser request that changes something must come from jeny's own pages: \
                     this one came from another site (or said nowhere where from)",
                ));
            }
            return Ok(principal);
        }
        Err(unauthenticated(
            "this needs signing in: send `Authorization: Bearer <token>` (`jeny login`, or \
             create a token with `jeny admin token`), or sign in at /auth/login",
        ))
    }

    async fn verify_bearer(&self, bearer: &str) -> Result<Option<Principal>, ApiError> {
        if !bearer.starts_with(token::PREFIX) && !bearer.starts_with(token::AGENT_PREFIX) {
            return Ok(None);
        }
        let hash = token::hash(bearer);
        if let Some(principal) = self.cache.get(&hash) {
            return Ok(Some(principal));
        }
        let now = Timestamp::now().as_micros();
        let principal = if bearer.starts_with(token::AGENT_PREFIX) {
            let Some((id, name, last_used_at)) =
                agents::find_valid(&self.store, Lookup::Hash(&hash)).await?
            else {
                return Ok(None);
            };
            if last_used_at.is_none_or(|last| now - last > LAST_USED_RESOLUTION_MICROS)
                && let Err(error) = agents::touch(&self.store, &id, now).await
            {
                tracing::debug!(error = %jeny_core::ErrorChain(&error), "cannot record when an agent token was last used");
            }
            agent_principal(id, name)
        } else {
            let Some(owner) = find_token_owner(&self.store, Lookup::Hash(&hash), now).await? else {
                return Ok(None);
            };
            if owner
                .last_used_at
                .is_none_or(|last| now - last > LAST_USED_RESOLUTION_MICROS)
                && let Err(error) = touch_token(&self.store, &owner.token_id, now).await
            {
                tracing::debug!(error = %jeny_core::ErrorChain(&error), "cannot record when a token was last used");
            }
            owner.principal
        };
        self.cache.put(hash, &principal);
        Ok(Some(principal))
    }

    async fn verify_session(&self, value: &str) -> Result<Option<Principal>, ApiError> {
        if !value.starts_with(token::SESSION_PREFIX) {
            return Ok(None);
        }
        let hash = token::hash(value);
        if let Some(principal) = self.cache.get(&hash) {
            return Ok(Some(principal));
        }
        let now = Timestamp::now().as_micros();
        let idle = micros(self.config.session_idle);
        let Some(owner) = sessions::find_live(&self.store, Lookup::Hash(&hash), now, idle).await?
        else {
            return Ok(None);
        };
        if now - owner.last_seen_at > LAST_USED_RESOLUTION_MICROS
            && let Err(error) = sessions::touch(&self.store, &owner.session_id, now).await
        {
            tracing::debug!(error = %jeny_core::ErrorChain(&error), "cannot record when a session was last used");
        }
        let principal = self.session_principal(owner).await?;
        self.cache.put(hash, &principal);
        Ok(Some(principal))
    }

    async fn session_principal(
        &self,
        owner: sessions::SessionOwner,
    ) -> Result<Principal, ApiError> {
        Ok(Principal {
            grants: people::grants_of(&self.store, &owner.person_id).await?,
            person_id: owner.person_id,
            email: owner.email,
            role: parse_role(&owner.role)?,
            token_id: Some(owner.session_id),
            credential: Credential::Session,
        })
    }

    /// What the credential `principal` authenticated with stands for now, read from the store
    /// (never from the cache): the person's current role and grants, limited as before by the
    /// token's scope; `None` once the credential is revoked or expired, or the session ended.
    /// What a long answer (a live stream) checks while it lasts.
    pub(crate) async fn recheck_principal(
        &self,
        principal: &Principal,
    ) -> Result<Option<Principal>, ApiError> {
        let Some(id) = principal.token_id.as_deref() else {
            return Ok(None);
        };
        let now = Timestamp::now().as_micros();
        let current = match principal.credential {
            Credential::ApiToken => find_token_owner(&self.store, Lookup::Id(id), now)
                .await?
                .map(|owner| owner.principal),
            Credential::Session => {
                let idle = micros(self.config.session_idle);
                match sessions::find_live(&self.store, Lookup::Id(id), now, idle).await? {
                    Some(owner) => Some(self.session_principal(owner).await?),
                    None => None,
                }
            }
            Credential::AgentToken => agents::find_valid(&self.store, Lookup::Id(id))
                .await?
                .map(|(id, name, _)| agent_principal(id, name)),
            // The chat bot asks again at every command; it holds nothing open.
            Credential::Chat => None,
        };
        Ok(current.filter(|current| current.person_id == principal.person_id))
    }

    /// Whether a browser request comes from jeny's own origin.
    pub(crate) fn same_origin(&self, parts: &Parts) -> bool {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
        };
        match header("origin") {
            Some(origin) => origin_allowed(origin, &self.config.public_url, header("host")),
            None => header("sec-fetch-site") == Some("same-origin"),
        }
    }
}

/// Whether a browser's `Origin` is jeny's: the scheme, host and port of `public_url`, or the
/// same scheme with the request's own `Host` (jeny reached by another name, such as 127.0.0.1
/// for localhost). An origin with another scheme is another site: `https://host` on a plain
/// http jeny, or `http://host` on an https one (where it would be a downgraded, readable page).
pub(crate) fn origin_allowed(origin: &str, public_url: &str, host: Option<&str>) -> bool {
    let Ok(origin) = url::Url::parse(origin) else {
        return false;
    };
    let Ok(public) = url::Url::parse(public_url) else {
        return false;
    };
    if !matches!(origin.scheme(), "http" | "https") || !origin.origin().is_tuple() {
        return false;
    }
    if origin.origin() == public.origin() {
        return true;
    }
    host.filter(|host| {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    })
    .and_then(|host| url::Url::parse(&format!("{}://{host}", public.scheme())).ok())
    .is_some_and(|requested| requested.origin() == origin.origin())
}

fn agent_principal(id: String, name: String) -> Principal {
    Principal {
        person_id: format!("agent:{id}"),
        email: format!("agent:{name}"),
        role: jeny_core::Role::Viewer,
        grants: Vec::new(),
        token_id: Some(id),
        credential: Credential::AgentToken,
    }
}

pub(crate) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn is_safe_method(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    )
}

impl Authenticator for AuthService {
    fn authenticate<'a>(&'a self, parts: &'a Parts) -> BoxFuture<'a, Result<Principal, ApiError>> {
        Box::pin(self.principal_for(parts))
    }

    fn recheck<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> BoxFuture<'a, Result<Option<Principal>, ApiError>> {
        Box::pin(self.recheck_principal(principal))
    }

    fn credential_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.store.subscribe(jeny_store::Channel::Credentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_jenys_only_with_the_same_scheme_host_and_port() {
        let http = "http://127.0.0.1:8080";
        let https = "https://jeny.example.com";
        for (origin, public, host) in [
            ("http://127.0.0.1:8080", http, None),
            ("http://127.0.0.1:8080/", http, Some("127.0.0.1:8080")),
            ("http://localhost:8080", http, Some("localhost:8080")),
            ("https://jeny.example.com", https, None),
            ("https://jeny.example.com:443", https, None),
            ("https://JENY.example.com", https, Some("other.example")),
            ("https://jeny.internal", https, Some("jeny.internal")),
        ] {
            assert!(
                origin_allowed(origin, public, host),
                "{origin} on {public} (Host {host:?})"
            );
        }
        for (origin, public, host) in [
            // another scheme on the same host and port
            ("https://127.0.0.1:8080", http, Some("127.0.0.1:8080")),
            ("http://jeny.example.com", https, Some("jeny.example.com")),
            (
                "http://jeny.example.com:443",
                https,
                Some("jeny.example.com:443"),
            ),
            // another port or host
            ("http://127.0.0.1:8081", http, Some("127.0.0.1:8080")),
            (
                "https://jeny.example.com:8443",
                https,
                Some("jeny.example.com"),
            ),
            ("https://evil.example", https, Some("jeny.example.com")),
            ("https://jeny.example.com.evil.example", https, None),
            // not an origin of a page
            ("null", http, Some("127.0.0.1:8080")),
            ("file://", http, Some("127.0.0.1:8080")),
            ("", http, Some("127.0.0.1:8080")),
            ("127.0.0.1:8080", http, Some("127.0.0.1:8080")),
        ] {
            assert!(
                !origin_allowed(origin, public, host),
                "{origin} on {public} (Host {host:?}) must be refused"
            );
        }
    }

    #[test]
    fn cookies_are_found_by_name() {
        let request = http::Request::builder()
            .header("cookie", "a=1; jeny_session=jenys_abc; b=2")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        assert_eq!(cookie(&parts.headers, SESSION_COOKIE), Some("jenys_abc"));
        assert_eq!(cookie(&parts.headers, "c"), None);
    }
}
