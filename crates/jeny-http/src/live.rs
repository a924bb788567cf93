//! Answers that last (server-sent events, followed output, later logs and alerts) end with the
//! credential that opened them. A request is authenticated once, when it starts; a stream may run
//! for hours after. `AuthStream` gives such a handler the principal and a `CredentialGuard`,
//! which checks again, in the store and not in any cache, whether the credential still holds
//! (not revoked or expired, the session not ended) and whether its person, with their roles and
//! grants as they are now, still passes the stream's own check (`requiring`). `guard.watch(stream)`
//! ends the stream as soon as either fails.
//!
//! When it checks: at once when the store announces a change of credentials, roles or grants
//! (the `Credentials` wake-up, from this node or, on PostgreSQL, from any other), before the next
//! item goes out; otherwise every `RECHECK_EVERY` as a safety net (expiry, a missed wake-up). A
//! stream that has the announcement before an item it read checks before sending it, so on one
//! node nothing written after a revocation is sent on the revoked credential. An idle stream
//! costs one small read every `RECHECK_EVERY`.

use crate::{ApiError, Authenticators};
use axum::extract::FromRequestParts;
use futures_util::stream::{self, Stream, StreamExt};
use http::request::Parts;
use jeny_core::{ErrorCode, Principal};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How often a stream checks its credential when no change is announced.
pub const RECHECK_EVERY: Duration = Duration::from_secs(5);

type Requirement = Arc<dyn Fn(&Principal) -> bool + Send + Sync>;

/// What a long answer checks while it lasts; see the module's documentation.
pub struct CredentialGuard {
    authenticators: Authenticators,
    principal: Principal,
    requirement: Requirement,
    changes: watch::Receiver<u64>,
    /// When the credential was last read from the store (`None`: not since the request, whose
    /// principal may come from a cache a few seconds old).
    checked_at: Option<Instant>,
    /// A change was taken from `changes` by a check that has not finished (it was cancelled).
    change_unchecked: bool,
    ended: bool,
}

impl CredentialGuard {
    /// A guard of `principal`'s credential; by default a person (not an agent) is all it needs.
    pub fn new(authenticators: Authenticators, principal: Principal) -> CredentialGuard {
        let mut changes = authenticators.0.credential_changes();
        changes.borrow_and_update();
        CredentialGuard {
            authenticators,
            principal,
            requirement: Arc::new(|principal: &Principal| !principal.is_agent()),
            changes,
            checked_at: None,
            change_unchecked: false,
            ended: false,
        }
    }

    /// Also ends the stream when the principal, as it is now, no longer passes `requirement`
    /// (a role lowered, a grant removed).
    pub fn requiring(
        mut self,
        requirement: impl Fn(&Principal) -> bool + Send + Sync + 'static,
    ) -> CredentialGuard {
        let previous = self.requirement.clone();
        self.requirement = Arc::new(move |principal| previous(principal) && requirement(principal));
        self
    }

    /// The principal the stream was opened with.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Whether the stream may send what it has: checks the store when a change was announced
    /// or the last check is `RECHECK_EVERY` old, else answers from what it knows.
    pub async fn still_allowed(&mut self) -> bool {
        if self.ended {
            return false;
        }
        let stale = self
            .checked_at
            .is_none_or(|checked_at| checked_at.elapsed() >= RECHECK_EVERY);
        if stale || self.change_unchecked || self.changes.has_changed().unwrap_or(true) {
            self.check().await;
        }
        !self.ended
    }

    /// Returns when the stream must end: waits for an announced change or the next periodic
    /// check, and checks. Cancel-safe: dropping it loses nothing.
    pub async fn ended(&mut self) {
        while !self.ended {
            let due = self
                .checked_at
                .map_or_else(Instant::now, |checked_at| checked_at + RECHECK_EVERY);
            tokio::select! {
                changed = self.changes.changed() => {
                    if changed.is_err() {
                        // No one can announce changes any more: rely on the periodic check.
                        tokio::time::sleep_until(due).await;
                    }
                }
                () = tokio::time::sleep_until(due) => {}
            }
            self.check().await;
        }
    }

    async fn check(&mut self) {
        self.changes.borrow_and_update();
        self.change_unchecked = true;
        let checked_at = Instant::now();
        match self.authenticators.0.recheck(&self.principal).await {
            Ok(Some(current)) if (self.requirement)(&current) => {
                self.checked_at = Some(checked_at);
                self.change_unchecked = false;
            }
            Ok(_) => {
                tracing::debug!(
                    email = %self.principal.email,
                    credential = self.principal.credential.as_str(),
                    "a live stream ends: its credential no longer allows it"
                );
                self.ended = true;
            }
            Err(error) => {
                // Unable to tell: end rather than keep streaming to someone perhaps revoked. A
                // client reconnects (an EventSource does by itself) and is authenticated anew.
                tracing::debug!(detail = %error.detail, "a live stream ends: its credential cannot be checked");
                self.ended = true;
            }
        }
    }

    /// `stream`, ended as soon as the credential no longer allows it: nothing more is sent
    /// after the guard sees the change, whether the stream is busy or waiting.
    pub fn watch<S>(self, stream: S) -> impl Stream<Item = S::Item> + Send + 'static
    where
        S: Stream + Send + 'static,
        S::Item: Send,
    {
        stream::unfold(
            (Box::pin(stream), self),
            |(mut stream, mut guard)| async move {
                let item = tokio::select! {
                    biased;
                    () = guard.ended() => return None,
                    item = stream.next() => item?,
                };
                if !guard.still_allowed().await {
                    return None;
                }
                Some((item, (stream, guard)))
            },
        )
    }
}

/// `Auth` for an answer that lasts: the principal, and the guard that ends the answer with its
/// credential (`guard.watch(stream)`). Agents are refused, as by `Auth`.
pub struct AuthStream(pub Principal, pub CredentialGuard);

impl<S: Send + Sync> FromRequestParts<S> for AuthStream {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<AuthStream, ApiError> {
        let crate::Auth(principal) = crate::Auth::from_request_parts(parts, state).await?;
        let authenticators = parts
            .extensions
            .get::<Authenticators>()
            .cloned()
            .ok_or_else(|| ApiError::new(ErrorCode::Internal, "no authenticator is configured"))?;
        let guard = CredentialGuard::new(authenticators, principal.clone());
        Ok(AuthStream(principal, guard))
    }
}
