//! The `Auth` extractor: a handler that takes `Auth` runs only for an authenticated request and
//! receives its `Principal`. How credentials become a principal is the auth part's business,
//! plugged in as an `Authenticator` (an `Authenticators` request extension added by the server),
//! so no other part touches tokens or cookies. `AsDeployer` and `AsAdmin` also require a role.

use crate::ApiError;
use axum::extract::FromRequestParts;
use futures_util::future::BoxFuture;
use http::request::Parts;
use jeny_core::{ErrorCode, Principal, Role};
use std::sync::Arc;

/// Turns a bearer token into a principal; `Ok(None)` for a token that is not valid.
pub trait Authenticator: Send + Sync + 'static {
    fn authenticate<'a>(
        &'a self,
        bearer_token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, ApiError>>;
}

/// The authenticator for this server, as a request extension.
#[derive(Clone)]
pub struct Authenticators(pub Arc<dyn Authenticator>);

/// An authenticated request's principal.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Auth, ApiError> {
        let Some(header) = parts.headers.get(http::header::AUTHORIZATION) else {
            return Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "this needs an API token: send `Authorization: Bearer <token>` (create one with `jeny admin token`)",
            ));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
        let authenticators = parts
            .extensions
            .get::<Authenticators>()
            .cloned()
            .ok_or_else(|| ApiError::new(ErrorCode::Internal, "no authenticator is configured"))?;
        match authenticators.0.authenticate(token).await? {
            Some(principal) => Ok(Auth(principal)),
            None => Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "this API token is not valid: it is unknown, revoked or expired",
            )),
        }
    }
}

/// An authenticated request whose principal has at least the deployer role. The role is checked
/// before the body is read, so a viewer gets 403 whatever it sent.
#[derive(Debug, Clone)]
pub struct AsDeployer(pub Principal);

/// An authenticated request whose principal is an admin.
#[derive(Debug, Clone)]
pub struct AsAdmin(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for AsDeployer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<AsDeployer, ApiError> {
        let Auth(principal) = Auth::from_request_parts(parts, state).await?;
        principal.require(Role::Deployer)?;
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
