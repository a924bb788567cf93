//! The `Auth` extractor: a handler that takes `Auth` runs only for an authenticated request and
//! receives its `Principal`. How credentials (API tokens, session cookies, agent tokens) become
//! a principal is the auth part's business, plugged in as an `Authenticator` (an
//! `Authenticators` request extension added by the server), so no other part touches tokens or
//! cookies. `AsDeployer` and `AsAdmin` also require a role; `AsAgent` is for the agent routes.

use crate::ApiError;
use axum::extract::{FromRequestParts, RawPathParams};
use futures_util::future::BoxFuture;
use http::request::Parts;
use jeny_core::{ErrorCode, Principal, Role};
use std::sync::Arc;

/// Turns a request's credentials into a principal, or into the 401 (or 403, for a cross-site
/// browser request) that explains what is wrong with them.
pub trait Authenticator: Send + Sync + 'static {
    fn authenticate<'a>(&'a self, parts: &'a Parts) -> BoxFuture<'a, Result<Principal, ApiError>>;

    /// What the credential `principal` authenticated with stands for now, read from the store
    /// rather than any cache: `None` once it is revoked or expired, or its session ended. For
    /// answers that last (`CredentialGuard`).
    fn recheck<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> BoxFuture<'a, Result<Option<Principal>, ApiError>>;

    /// Wakes when credentials, roles or grants may have changed.
    fn credential_changes(&self) -> tokio::sync::watch::Receiver<u64>;
}

/// The authenticator for this server, as a request extension.
#[derive(Clone)]
pub struct Authenticators(pub Arc<dyn Authenticator>);

async fn authenticate(parts: &Parts) -> Result<Principal, ApiError> {
    let authenticators = parts
        .extensions
        .get::<Authenticators>()
        .cloned()
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "no authenticator is configured"))?;
    authenticators.0.authenticate(parts).await
}

/// An authenticated person's principal (agents are refused: they have their own routes).
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Auth, ApiError> {
        let principal = authenticate(parts).await?;
        if principal.is_agent() {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "an agent token may only call the agent routes (/api/v1/agent/...)",
            ));
        }
        Ok(Auth(principal))
    }
}

/// An authenticated agent (`jeny agent`, with an agent token).
#[derive(Debug, Clone)]
pub struct AsAgent(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for AsAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<AsAgent, ApiError> {
        let principal = authenticate(parts).await?;
        if !principal.is_agent() {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this route is for agents: it needs an agent token",
            ));
        }
        Ok(AsAgent(principal))
    }
}

/// An authenticated request whose principal is at least a deployer where the route points: on
/// the `{environment}` of the `{project}` in its path, on the project when it names no
/// environment, and globally when it names neither. The role is checked before the body is
/// read, so a viewer gets 403 whatever it sent.
#[derive(Debug, Clone)]
pub struct AsDeployer(pub Principal);

/// An authenticated request whose principal is an admin.
#[derive(Debug, Clone)]
pub struct AsAdmin(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for AsDeployer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<AsDeployer, ApiError> {
        let Auth(principal) = Auth::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state).await.ok();
        let param = |name: &str| {
            params.as_ref().and_then(|params| {
                params
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_owned())
            })
        };
        match param("project") {
            Some(project) => {
                principal.require_in(&project, param("environment").as_deref(), Role::Deployer)?
            }
            None => principal.require(Role::Deployer)?,
        }
        Ok(AsDeployer(principal))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AsAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<AsAdmin, ApiError> {
        let Auth(principal) = Auth::from_request_parts(parts, state).await?;
        principal.require(Role::Admin)?;
        Ok(AsAdmin(principal))
    }
}
