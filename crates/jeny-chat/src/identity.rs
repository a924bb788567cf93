//! Who is who: a Slack user is the jeny person with the same email, as Slack confirmed it
//! (`users.info`), acting with that person's own roles and grants. Emails are remembered for a
//! few minutes; roles are read on every command, so a demotion applies at once.

use crate::{Chat, Settings};
use jeny_core::Principal;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a Slack user's email is remembered.
const EMAIL_TTL: Duration = Duration::from_secs(600);

#[derive(Default)]
pub(crate) struct People {
    emails: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

/// The person behind a Slack user, or what to tell someone jeny does not know.
pub(crate) enum Who {
    Person(Principal),
    Stranger(String),
}

impl Chat {
    pub(crate) async fn who(&self, settings: &Settings, slack_user: &str) -> Who {
        let email = match self.email_of(settings, slack_user).await {
            Ok(email) => email,
            Err(error) => {
                tracing::warn!(error = %jeny_core::ErrorChain(&error), slack_user, "cannot look a Slack user up");
                return Who::Stranger(format!(
                    "I could not look you up in Slack ({error}). Try again in a moment."
                ));
            }
        };
        let Some(email) = email else {
            return Who::Stranger(
                "Your Slack account has no confirmed email I can see, so I cannot tell who you \
                 are in jeny. Ask a Slack admin to confirm your email."
                    .to_owned(),
            );
        };
        match self.inner.auth.chat_principal(&email).await {
            Ok(Some(principal)) => Who::Person(principal),
            Ok(None) => Who::Stranger(format!(
                "{email} has no access to jeny yet. Sign in once at {} (ask an admin to add you to \
                 the allowlist if it refuses you), then try again.",
                self.links().base
            )),
            Err(error) => {
                tracing::warn!(error = %jeny_core::ErrorChain(&error), "cannot read a person for chat");
                Who::Stranger("jeny could not read its people just now. Try again.".to_owned())
            }
        }
    }

    async fn email_of(
        &self,
        settings: &Settings,
        slack_user: &str,
    ) -> Result<Option<String>, crate::slack::SlackError> {
        let cached = {
            let emails = self
                .inner
                .people
                .emails
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            emails
                .get(slack_user)
                .filter(|(_, at)| at.elapsed() < EMAIL_TTL)
                .map(|(email, _)| email.clone())
        };
        if let Some(email) = cached {
            return Ok(email);
        }
        let Some(api) = settings.bot(self.http()) else {
            return Err(crate::slack::SlackError::Api("not_configured".to_owned()));
        };
        let email = api.verified_email(slack_user).await?;
        let mut emails = self
            .inner
            .people
            .emails
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if emails.len() > 10_000 {
            emails.clear();
        }
        emails.insert(slack_user.to_owned(), (email.clone(), Instant::now()));
        Ok(email)
    }
}
