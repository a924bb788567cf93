//! Authentication: people, their roles, and API tokens, turned into the `Principal` every other
//! part sees. Tokens are random 256-bit strings shown once and stored only as SHA-256 hashes.
//! This is the base the sign-in issue (OIDC, sessions, device flow) builds on.

pub mod api;
mod authenticator;
mod error;
mod model;
mod service;
mod store;
mod token;

pub use authenticator::TokenAuthenticator;
pub use error::AuthError;
pub use model::{ApiToken, CreatedToken, Email, IssuedToken, Me, NewToken, Person, TokenScope};
pub use service::{create_token, introspect, list_tokens, me, revoke_token};

use jeny_core::{Role, Secret};
use jeny_events::NewEvent;
use jeny_store::Store;
use serde_json::json;

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
