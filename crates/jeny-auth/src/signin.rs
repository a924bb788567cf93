//! Signing people in: the allowlist, the checks on who the identity provider says signed in,
//! creating the person at first sign-in (the first one, or `admin_email`, becomes admin), and
//! the browser session that results. Also one-time console links, and signing out.

use crate::authenticator::{SESSION_COOKIE, micros};
use crate::model::{AllowlistEntry, Email, Person};
use crate::oidc::Identity;
use crate::store::{self, allowlist, flows, people, sessions};
use crate::{AuthError, AuthService, token};
use jeny_core::{Principal, Role, Secret, Timestamp};
use jeny_events::NewEvent;
use serde_json::json;
use std::time::Duration;

/// How long a one-time console link works.
pub const LINK_TTL: Duration = Duration::from_secs(15 * 60);

/// Where a sign-in request came from, recorded on its session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// Whether `email` matches an entry: the same email, or `@domain` for its domain.
pub(crate) fn matches(entry: &str, email: &Email) -> bool {
    match entry.strip_prefix('@') {
        Some(domain) => email.domain() == domain,
        None => entry == email.as_str(),
    }
}

/// An allowlist entry in its normal form, or why it is not one.
pub fn parse_entry(raw: &str) -> Result<String, AuthError> {
    let entry = raw.trim().to_lowercase();
    match entry.strip_prefix('@') {
        Some(domain) => {
            Email::parse(&format!("x@{domain}")).map_err(|_| {
                AuthError::invalid("entry", format!("{raw:?} is neither an email nor @domain"))
            })?;
            Ok(entry)
        }
        None => Email::parse(&entry)
            .map(|email| email.as_str().to_owned())
            .map_err(|_| {
                AuthError::invalid("entry", format!("{raw:?} is neither an email nor @domain"))
            }),
    }
}

impl AuthService {
    /// The whole allowlist: the configuration's entries, then the API's.
    pub async fn allowlist(&self) -> Result<Vec<AllowlistEntry>, AuthError> {
        let mut entries: Vec<AllowlistEntry> = self
            .config
            .allowlist
            .iter()
            .map(|entry| AllowlistEntry {
                entry: entry.clone(),
                source: "config".to_owned(),
                created_at: None,
                created_by: None,
            })
            .collect();
        entries.extend(allowlist::list(&self.store).await?);
        Ok(entries)
    }

    fn is_allowed(&self, email: &Email, api_entries: &[String]) -> bool {
        email.as_str() == self.config.admin_email()
            || self
                .config
                .allowlist
                .iter()
                .chain(api_entries)
                .any(|entry| matches(entry, email))
    }

    /// The principal a chat user acts as: the person with this (verified) email, with their own
    /// roles and grants, if they have signed in to jeny before and the allowlist still admits
    /// them. `None` otherwise: the chat bot then tells them how to get access.
    pub async fn chat_principal(&self, email: &str) -> Result<Option<Principal>, AuthError> {
        let Ok(email) = Email::parse(email) else {
            return Ok(None);
        };
        let api_entries = allowlist::entries(&self.store).await?;
        if !self.is_allowed(&email, &api_entries) {
            return Ok(None);
        }
        let Some(person) = people::find(&self.store, email.as_str()).await? else {
            return Ok(None);
        };
        Ok(Some(Principal {
            person_id: person.id,
            email: person.email,
            role: person.role,
            grants: person.grants,
            token_id: None,
            credential: jeny_core::Credential::Chat,
        }))
    }

    /// Adds an entry (an admin, through the API).
    pub async fn allow(&self, actor: &str, raw: &str) -> Result<AllowlistEntry, AuthError> {
        let entry = parse_entry(raw)?;
        if self.config.allowlist.contains(&entry) {
            return Err(AuthError::Conflict(format!(
                "{entry} is already on the allowlist, in the configuration file"
            )));
        }
        let mut tx = self.store.begin().await?;
        if !allowlist::insert(&mut tx, &entry, actor).await? {
            return Err(AuthError::Conflict(format!(
                "{entry} is already on the allowlist"
            )));
        }
        jeny_events::append(
            &mut tx,
            NewEvent::new("allowlist.added", actor, json!({"entry": entry})),
        )
        .await?;
        tx.commit().await?;
        Ok(AllowlistEntry {
            entry,
            source: "api".to_owned(),
            created_at: Some(Timestamp::now()),
            created_by: Some(actor.to_owned()),
        })
    }

    /// Removes an entry; everyone it alone let in loses their sessions and API tokens at once.
    /// Returns their emails.
    pub async fn disallow(&self, actor: &str, raw: &str) -> Result<Vec<String>, AuthError> {
        let entry = parse_entry(raw)?;
        if self.config.allowlist.contains(&entry) {
            return Err(AuthError::Conflict(format!(
                "{entry} is in the configuration file: remove it there"
            )));
        }
        let mut tx = self.store.begin().await?;
        crate::store::announce_credentials_change(&mut tx).await?;
        if !allowlist::delete(&mut tx, &entry).await? {
            return Err(AuthError::NotFound(format!(
                "{entry} is not on the allowlist"
            )));
        }
        let remaining = allowlist::entries_in(&mut tx).await?;
        let mut shut_out = Vec::new();
        for (person_id, email) in allowlist::everyone(&mut tx).await? {
            let Ok(parsed) = Email::parse(&email) else {
                continue;
            };
            if matches(&entry, &parsed) && !self.is_allowed(&parsed, &remaining) {
                sessions::revoke_all_of(&mut tx, &person_id).await?;
                store::revoke_tokens_of(&mut tx, &person_id).await?;
                shut_out.push(email);
            }
        }
        jeny_events::append(
            &mut tx,
            NewEvent::new(
                "allowlist.removed",
                actor,
                json!({"entry": entry, "signed_out": shut_out}),
            ),
        )
        .await?;
        tx.commit().await?;
        self.forget_all();
        Ok(shut_out)
    }

    /// Signs in whom the identity provider vouched for, if they may: a session's secret.
    pub(crate) async fn sign_in_identity(
        &self,
        identity: &Identity,
        client: &ClientInfo,
    ) -> Result<(Person, Secret<String>), AuthError> {
        let raw_email = identity.email.clone().unwrap_or_default();
        let refuse = |reason: String| async move {
            self.record_refusal(&raw_email, &reason).await;
            Err(AuthError::SignInRefused(reason))
        };
        let Some(email) = identity
            .email
            .as_deref()
            .and_then(|raw| Email::parse(raw).ok())
        else {
            return refuse(format!(
                "the identity provider gave no email address for {}",
                identity.subject
            ))
            .await;
        };
        if identity.email_verified == Some(false) {
            return refuse(format!(
                "{} is not verified with the identity provider",
                email.as_str()
            ))
            .await;
        }
        if let Some(required) = self
            .config
            .oidc
            .as_ref()
            .and_then(|oidc| oidc.hosted_domain.as_deref())
            && identity.hosted_domain.as_deref() != Some(required)
        {
            return refuse(format!(
                "{} is not an account of the {required} organisation",
                email.as_str()
            ))
            .await;
        }
        let api_entries = allowlist::entries(&self.store).await?;
        if !self.is_allowed(&email, &api_entries) {
            return refuse(format!(
                "{} is not on jeny's allowlist: ask an admin to add you",
                email.as_str()
            ))
            .await;
        }
        self.start_session(&email, identity.name.as_deref(), "oidc", false, client)
            .await
    }

    pub(crate) async fn record_refusal(&self, email: &str, reason: &str) {
        let result = async {
            let mut tx = self.store.begin().await?;
            jeny_events::append(
                &mut tx,
                NewEvent::new(
                    "signin.refused",
                    "jeny",
                    json!({"email": email, "reason": reason}),
                ),
            )
            .await?;
            tx.commit().await
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(error = %jeny_core::ErrorChain(&error), "cannot record a refused sign-in");
        }
    }

    /// Creates (or updates) the person and a session for them.
    async fn start_session(
        &self,
        email: &Email,
        name: Option<&str>,
        method: &str,
        force_admin: bool,
        client: &ClientInfo,
    ) -> Result<(Person, Secret<String>), AuthError> {
        let secret = token::generate_with(token::SESSION_PREFIX);
        let mut tx = self.store.begin().await?;
        let make_admin = force_admin
            || email.as_str() == self.config.admin_email()
            || people::count_admins(&mut tx).await? == 0;
        let new_role = if make_admin {
            Role::Admin
        } else {
            Role::Viewer
        };
        let (person, created) =
            people::signed_in(&mut tx, email, name, new_role, make_admin).await?;
        if created {
            let payload = json!({"email": person.email, "role": person.role});
            jeny_events::append(
                &mut tx,
                NewEvent::new("person.created", &person.email, payload),
            )
            .await?;
        }
        let expires_at = Timestamp::from_micros(
            Timestamp::now().as_micros() + micros(self.config.session_max_age),
        );
        let session_id = sessions::insert(
            &mut tx,
            sessions::NewSession {
                person_id: &person.id,
                token_hash: &token::hash(secret.expose()),
                method,
                expires_at,
                user_agent: client.user_agent.as_deref(),
                ip: client.ip.as_deref(),
            },
        )
        .await?;
        jeny_events::append(
            &mut tx,
            NewEvent::new(
                "signin.succeeded",
                &person.email,
                json!({"email": person.email, "method": method, "session_id": session_id, "role": person.role}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok((person, secret))
    }

    /// A one-time console link's secret, for `admin_email`, valid for `LINK_TTL`.
    pub async fn create_signin_link(&self) -> Result<Secret<String>, AuthError> {
        let secret = token::generate_with(token::LINK_PREFIX);
        let email = Email::parse(&self.config.admin_email())?;
        let mut tx = self.store.begin().await?;
        let expires_at = Timestamp::from_micros(Timestamp::now().as_micros() + micros(LINK_TTL));
        flows::insert_link(
            &mut tx,
            &token::hash(secret.expose()),
            email.as_str(),
            expires_at,
        )
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// Uses a console link: a session for its email (made admin), or why not.
    pub(crate) async fn sign_in_with_link(
        &self,
        link: &str,
        client: &ClientInfo,
    ) -> Result<(Person, Secret<String>), AuthError> {
        let mut tx = self.store.begin().await?;
        let email = flows::use_link(&mut tx, &token::hash(link)).await?;
        tx.commit().await?;
        let Some(email) = email else {
            let reason = "this sign-in link is unknown, already used or expired: start jeny \
                          again, or run `jeny admin sign-in-link`, for a new one";
            self.record_refusal("", reason).await;
            return Err(AuthError::SignInRefused(reason.to_owned()));
        };
        let email = Email::parse(&email)?;
        self.start_session(&email, None, "console_link", true, client)
            .await
    }

    /// Ends the session with this cookie value, if it is live.
    pub(crate) async fn sign_out(&self, session: &str) -> Result<(), AuthError> {
        let mut tx = self.store.begin().await?;
        crate::store::announce_credentials_change(&mut tx).await?;
        if let Some(session_id) = sessions::revoke_by_hash(&mut tx, &token::hash(session)).await? {
            jeny_events::append(
                &mut tx,
                NewEvent::new(
                    "signin.signed_out",
                    "jeny",
                    json!({"session_id": session_id}),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        self.forget_all();
        Ok(())
    }

    /// The `Set-Cookie` value that stores a session in the browser.
    pub(crate) fn session_cookie(&self, secret: &str) -> String {
        self.cookie(
            SESSION_COOKIE,
            secret,
            self.config.session_max_age.as_secs(),
            "/",
        )
    }

    /// The `Set-Cookie` value that removes cookie `name` at `path`.
    pub(crate) fn expired_cookie(&self, name: &str, path: &str) -> String {
        self.cookie(name, "", 0, path)
    }

    pub(crate) fn cookie(&self, name: &str, value: &str, max_age: u64, path: &str) -> String {
        let mut cookie =
            format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax");
        if self.config.secure_cookies() {
            cookie.push_str("; Secure");
        }
        if name == SESSION_COOKIE
            && let Some(domain) = &self.config.cookie_domain
        {
            cookie.push_str("; Domain=");
            cookie.push_str(domain);
        }
        cookie
    }

    /// Where a sign-in may return to: a path on jeny, or a URL on jeny's host or on one of
    /// `redirect_domains`; anything else (an open redirect) becomes `/`. See `next.rs`.
    pub(crate) fn safe_next(&self, next: Option<&str>) -> String {
        let Some(next) = next.filter(|next| !next.is_empty()) else {
            return "/".to_owned();
        };
        if crate::next::is_same_origin_path(next) {
            return next.to_owned();
        }
        let mut hosts: Vec<String> = url::Url::parse(&self.config.public_url)
            .ok()
            .and_then(|public| public.host_str().map(str::to_owned))
            .into_iter()
            .collect();
        hosts.extend(self.config.redirect_domains.iter().cloned());
        crate::next::allowed_absolute_url(next, &hosts).unwrap_or_else(|| "/".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_match_emails_and_whole_domains() {
        let alice = Email::parse("alice@example.com").unwrap();
        assert!(matches("alice@example.com", &alice));
        assert!(matches("@example.com", &alice));
        assert!(!matches("@sub.example.com", &alice));
        assert!(!matches("@ample.com", &alice));
        assert!(!matches("bob@example.com", &alice));
    }

    #[test]
    fn entries_are_normalised_or_refused() {
        assert_eq!(parse_entry(" @Example.COM ").unwrap(), "@example.com");
        assert_eq!(
            parse_entry("Alice@Example.com").unwrap(),
            "alice@example.com"
        );
        for bad in ["", "@", "example.com", "@.com", "a b@c.d"] {
            assert!(parse_entry(bad).is_err(), "{bad:?}");
        }
    }
}
