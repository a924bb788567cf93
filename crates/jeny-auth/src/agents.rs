//! Agent tokens: what `jeny agent` authenticates with. An agent is not a person: its
//! principal may call the agent routes (`/api/v1/agent/...`) and nothing else, so a stolen
//! agent token can report as that agent but never read projects, deploy or change anything.

use crate::model::{AgentMe, AgentToken, CreatedAgentToken, NewAgentToken};
use crate::store::agents;
use crate::{AuthError, AuthService, token};
use jeny_core::Principal;
use jeny_events::NewEvent;
use serde_json::json;

const MAX_NAME: usize = 100;

impl AuthService {
    pub async fn create_agent_token(
        &self,
        actor: &str,
        input: NewAgentToken,
    ) -> Result<CreatedAgentToken, AuthError> {
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(AuthError::invalid(
                "name",
                format!(
                    "an agent token needs a name of 1 to {MAX_NAME} characters, without control characters"
                ),
            ));
        }
        let secret = token::generate_with(token::AGENT_PREFIX);
        let mut tx = self.store.begin().await?;
        let id = agents::insert(&mut tx, &name, &token::hash(secret.expose()), actor).await?;
        jeny_events::append(
            &mut tx,
            NewEvent::new(
                "agent_token.created",
                actor,
                json!({"agent_token_id": id, "name": name}),
            ),
        )
        .await?;
        tx.commit().await?;
        let details = agents::get(&self.store, &id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("no agent token {id:?}")))?;
        Ok(CreatedAgentToken {
            token: secret.expose().clone(),
            details,
        })
    }

    pub async fn agent_tokens(&self) -> Result<Vec<AgentToken>, AuthError> {
        Ok(agents::list(&self.store).await?)
    }

    pub async fn revoke_agent_token(&self, actor: &str, id: &str) -> Result<AgentToken, AuthError> {
        let mut tx = self.store.begin().await?;
        crate::store::announce_credentials_change(&mut tx).await?;
        let revoked = agents::revoke(&mut tx, id)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("no agent token {id:?}")))?;
        jeny_events::append(
            &mut tx,
            NewEvent::new(
                "agent_token.revoked",
                actor,
                json!({"agent_token_id": id, "name": revoked.name}),
            ),
        )
        .await?;
        tx.commit().await?;
        self.forget_all();
        Ok(revoked)
    }
}

/// Who an agent is.
pub fn agent_me(principal: &Principal) -> AgentMe {
    AgentMe {
        agent_token_id: principal.token_id.clone().unwrap_or_default(),
        name: principal
            .email
            .strip_prefix("agent:")
            .unwrap_or(&principal.email)
            .to_owned(),
    }
}
