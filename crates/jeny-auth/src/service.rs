//! The caller's own API tokens: create (the secret shown once), list, revoke; `me` and the
//! caller's sessions; and token introspection.

use crate::authenticator::micros;
use crate::model::{ApiToken, CreatedToken, Me, NewToken, Session};
use crate::{AuthError, store, token};
use jeny_core::{Credential, Principal, Timestamp};
use jeny_events::NewEvent;
use jeny_store::Store;
use serde_json::json;

const MAX_NAME: usize = 100;

impl crate::AuthService {
    pub async fn me(&self, principal: &Principal) -> Result<Me, AuthError> {
        let (token, session_id) = match principal.credential {
            Credential::Session => (None, principal.token_id.clone()),
            _ => match &principal.token_id {
                Some(id) => (
                    store::tokens_of(&self.store, &principal.person_id)
                        .await?
                        .into_iter()
                        .find(|token| &token.id == id),
                    None,
                ),
                None => (None, None),
            },
        };
        Ok(Me {
            person_id: principal.person_id.clone(),
            email: principal.email.clone(),
            role: principal.role,
            grants: principal.grants.clone(),
            authenticated_by: principal.credential,
            token,
            session_id,
        })
    }

    /// The caller's live sessions, newest first, the current one marked.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<Session>, AuthError> {
        let idle = micros(self.config.session_idle);
        let mut sessions = store::sessions::live_of(
            &self.store,
            &principal.person_id,
            Timestamp::now().as_micros(),
            idle,
        )
        .await?;
        for session in &mut sessions {
            session.current = principal.credential == Credential::Session
                && principal.token_id.as_deref() == Some(session.id.as_str());
        }
        Ok(sessions)
    }

    /// Ends one of the caller's sessions.
    pub async fn revoke_session(
        &self,
        principal: &Principal,
        session_id: &str,
    ) -> Result<Session, AuthError> {
        let idle = micros(self.config.session_idle);
        let mut tx = self.store.begin().await?;
        crate::store::announce_credentials_change(&mut tx).await?;
        let session = store::sessions::revoke(&mut tx, &principal.person_id, session_id, idle)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("you have no session {session_id:?}")))?;
        jeny_events::append(
            &mut tx,
            NewEvent::new(
                "session.revoked",
                principal.actor(),
                json!({"session_id": session_id, "email": principal.email}),
            ),
        )
        .await?;
        tx.commit().await?;
        self.forget_all();
        Ok(session)
    }
}

pub async fn list_tokens(store: &Store, principal: &Principal) -> Result<Vec<ApiToken>, AuthError> {
    Ok(store::tokens_of(store, &principal.person_id).await?)
}

/// Creates a token for the caller, no more powerful than the caller is now.
pub async fn create_token(
    store: &Store,
    principal: &Principal,
    input: NewToken,
) -> Result<CreatedToken, AuthError> {
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(AuthError::invalid(
            "name",
            format!(
                "a token needs a name of 1 to {MAX_NAME} characters, without control characters"
            ),
        ));
    }
    if let Some(scope) = input.scope
        && scope.role() > principal.role
    {
        return Err(AuthError::invalid(
            "scope",
            format!(
                "a {} token cannot be made by a {}: a token never has more power than its maker",
                scope.as_str(),
                principal.role
            ),
        ));
    }
    if input.expires_at.is_some_and(|at| at <= Timestamp::now()) {
        return Err(AuthError::invalid(
            "expires_at",
            "expires_at is in the past",
        ));
    }
    // A token made with a limited token is limited the same way (else a read token could make
    // itself an unlimited one).
    let current_scope = match &principal.token_id {
        Some(id) => store::tokens_of(store, &principal.person_id)
            .await?
            .into_iter()
            .find(|token| &token.id == id)
            .and_then(|token| token.scope),
        None => None,
    };
    let scope = input.scope.or(current_scope);
    let secret = token::generate();
    let mut tx = store.begin().await?;
    let id = store::insert_limited_token(
        &mut tx,
        &principal.person_id,
        &name,
        &token::hash(secret.expose()),
        scope,
        input.expires_at,
    )
    .await?;
    let payload = json!({
        "token_id": id, "name": name, "email": principal.email,
        "scope": scope.map(|s| s.as_str()), "expires_at": input.expires_at,
    });
    jeny_events::append(
        &mut tx,
        NewEvent::new("token.created", principal.actor(), payload),
    )
    .await?;
    tx.commit().await?;
    let details = store::tokens_of(store, &principal.person_id)
        .await?
        .into_iter()
        .find(|token| token.id == id)
        .ok_or_else(|| AuthError::TokenNotFound(id.clone()))?;
    Ok(CreatedToken {
        token: secret.expose().clone(),
        details,
    })
}

/// Revokes one of the caller's tokens. The caller's node forgets its cached tokens at once;
/// other nodes within their cache's few seconds.
pub async fn revoke_token(
    store: &Store,
    authenticator: &crate::AuthService,
    principal: &Principal,
    token_id: &str,
) -> Result<ApiToken, AuthError> {
    let mut tx = store.begin().await?;
    crate::store::announce_credentials_change(&mut tx).await?;
    let revoked = store::revoke_token(&mut tx, &principal.person_id, token_id)
        .await?
        .ok_or_else(|| AuthError::TokenNotFound(token_id.to_owned()))?;
    let payload = json!({"token_id": token_id, "name": revoked.name, "email": principal.email});
    jeny_events::append(
        &mut tx,
        NewEvent::new("token.revoked", principal.actor(), payload),
    )
    .await?;
    tx.commit().await?;
    authenticator.forget_all();
    Ok(revoked)
}

/// What RFC 7662 token introspection answers about a token: `{"active": false}` for one that is
/// unknown, revoked or expired (and nothing else, so an inactive token leaks nothing); for an
/// active one, its owner, the role it acts with as `scope`, and its times in Unix seconds.
pub async fn introspect(store: &Store, presented: &str) -> Result<serde_json::Value, AuthError> {
    let inactive = json!({"active": false});
    if !presented.starts_with(token::PREFIX) {
        return Ok(inactive);
    }
    let Some((token, person_id, email, role)) =
        store::token_by_hash(store, &token::hash(presented)).await?
    else {
        return Ok(inactive);
    };
    let now = Timestamp::now();
    if token.revoked_at.is_some() || token.expires_at.is_some_and(|at| at <= now) {
        return Ok(inactive);
    }
    let role = match token.scope {
        Some(scope) => role.min(scope.role()),
        None => role,
    };
    let scope = match role {
        jeny_core::Role::Viewer => "read",
        jeny_core::Role::Deployer => "deploy",
        jeny_core::Role::Admin => "admin",
    };
    let seconds = |at: Timestamp| at.as_micros() / 1_000_000;
    let mut answer = json!({
        "active": true,
        "scope": scope,
        "username": email,
        "sub": person_id,
        "token_type": "Bearer",
        "iat": seconds(token.created_at),
        "jti": token.id,
        "iss": "jeny",
    });
    if let Some(expires_at) = token.expires_at {
        answer["exp"] = json!(seconds(expires_at));
    }
    Ok(answer)
}
