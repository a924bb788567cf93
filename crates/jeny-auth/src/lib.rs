//! Authentication and access: who may sign in (OpenID Connect, Google by default, checked
//! against an allowlist), the credentials jeny issues (browser sessions, personal API tokens,
//! agent tokens, tokens obtained by `jeny login` through the device flow, one-time console
//! links), and the `Principal` every other part sees: the person, their global role and their
//! roles on projects and environments. Every secret is random, shown once, and stored only as
//! its SHA-256 hash. Forward authentication (`/auth/verify`) and token introspection let a
//! team's other tools rely on the same sign-in.

mod agents;
pub mod api;
mod authenticator;
mod config;
mod device;
mod error;
mod model;
mod next;
mod oidc;
mod pages;
mod people;
mod ratelimit;
mod service;
mod signin;
mod store;
mod token;

pub use agents::agent_me;
pub use authenticator::SESSION_COOKIE;
pub use config::{AuthConfig, DEFAULT_ADMIN_EMAIL, GOOGLE_ISSUER, OidcConfig};
pub use error::AuthError;
pub use model::{
    AgentMe, AgentToken, AllowlistEntry, ApiToken, CreatedAgentToken, CreatedToken,
    DEVICE_GRANT_TYPE, DeviceAuthorization, DevicePollError, Email, GrantsUpdate, IssuedToken, Me,
    NewAgentToken, NewAllowlistEntry, NewToken, Person, PersonDetails, PersonUpdate, Session,
    TokenScope,
};
pub use service::{create_token, introspect, list_tokens, revoke_token};
pub use signin::{ClientInfo, LINK_TTL, parse_entry as parse_allowlist_entry};

use jeny_core::{Role, Secret};
use jeny_events::NewEvent;
use jeny_store::Store;
use serde_json::json;

/// The auth part of one server: its configuration, the store, and what it keeps in memory
/// (recently verified credentials, sign-in attempts per address, the provider's metadata).
pub struct AuthService {
    pub(crate) store: Store,
    pub(crate) config: AuthConfig,
    pub(crate) cache: authenticator::CredentialCache,
    pub(crate) limiter: ratelimit::RateLimiter,
    pub(crate) oidc: Option<oidc::Oidc>,
}

impl AuthService {
    pub fn new(store: Store, config: AuthConfig) -> AuthService {
        let oidc = config.oidc.clone().map(|oidc_config| {
            let redirect_url = config
                .redirect_url()
                .expect("a redirect URL exists when OIDC is configured");
            oidc::Oidc::new(oidc_config, redirect_url)
        });
        AuthService {
            limiter: ratelimit::RateLimiter::new(config.signin_attempts_per_minute),
            cache: authenticator::CredentialCache::default(),
            store,
            config,
            oidc,
        }
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether people can sign in with an identity provider here.
    pub fn has_oidc(&self) -> bool {
        self.oidc.is_some()
    }
}

/// Creates `email` with `role` if needed (an existing person gets `role`), and a new API token
/// for them. What `jeny admin token` runs. The token is in the result and nowhere else.
pub async fn issue_token(
    store: &Store,
    email: &Email,
    role: Role,
    token_name: &str,
    actor: &str,
) -> Result<IssuedToken, AuthError> {
    let secret = token::generate();
    let mut tx = store.begin().await?;
    crate::store::announce_credentials_change(&mut tx).await?;
    // the last admin stays one, here as through the API
    if role != Role::Admin
        && store::people::role_of(&mut tx, email).await? == Some(Role::Admin)
        && store::people::count_admins(&mut tx).await? <= 1
    {
        return Err(AuthError::Conflict(format!(
            "{} is the last admin: make someone else admin first",
            email.as_str()
        )));
    }
    let (person, created) = store::upsert_person(&mut tx, email, role).await?;
    if created {
        let payload = json!({"email": person.email, "role": person.role});
        jeny_events::append(&mut tx, NewEvent::new("person.created", actor, payload)).await?;
    }
    let token_id = store::insert_token(
        &mut tx,
        &person.id,
        token_name,
        &token::hash(secret.expose()),
    )
    .await?;
    let payload = json!({"token_id": token_id, "name": token_name, "email": person.email});
    jeny_events::append(&mut tx, NewEvent::new("token.created", actor, payload)).await?;
    tx.commit().await?;
    Ok(IssuedToken {
        token_id,
        person,
        token: Secret::new(secret.expose().clone()),
    })
}
