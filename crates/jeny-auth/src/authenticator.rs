//! `TokenAuthenticator`: bearer token -> `Principal`. A verified token is cached for a few seconds
//! so that a busy client costs one hash and one map lookup per request, not a query; the price is
//! that a revoked token keeps working for up to `CACHE_TTL` on a node that verified it just
//! before (revocation, which comes with the sign-in issue, must call `forget_all` on its own
//! node). `last_used_at` is written at most once a minute per token.

use crate::store::{find_token_owner, touch_token};
use crate::token;
use futures_util::future::BoxFuture;
use jeny_core::{Principal, Timestamp};
use jeny_http::{ApiError, Authenticator};
use jeny_store::Store;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

const CACHE_TTL: Duration = Duration::from_secs(5);
const CACHE_MAX_ENTRIES: usize = 10_000;
const LAST_USED_RESOLUTION_MICROS: i64 = 60_000_000;

pub struct TokenAuthenticator {
    store: Store,
    cache: RwLock<HashMap<String, (Principal, Instant)>>,
}

impl TokenAuthenticator {
    pub fn new(store: Store) -> TokenAuthenticator {
        TokenAuthenticator {
            store,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Forgets every cached token, so the next request re-reads the store.
    pub fn forget_all(&self) {
        self.cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    async fn verify(&self, bearer_token: &str) -> Result<Option<Principal>, ApiError> {
        if !bearer_token.starts_with(token::PREFIX) {
            return Ok(None);
        }
        let token_hash = token::hash(bearer_token);
        if let Some((principal, verified_at)) = self
            .cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&token_hash)
            && verified_at.elapsed() < CACHE_TTL
        {
            return Ok(Some(principal.clone()));
        }
        let now = Timestamp::now().as_micros();
        let Some(owner) = find_token_owner(&self.store, &token_hash, now).await? else {
            return Ok(None);
        };
        if owner
            .last_used_at
            .is_none_or(|last| now - last > LAST_USED_RESOLUTION_MICROS)
            && let Err(error) = touch_token(&self.store, &owner.token_id, now).await
        {
            tracing::debug!(%error, "cannot record when a token was last used");
        }
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= CACHE_MAX_ENTRIES {
            cache.clear();
        }
        cache.insert(token_hash, (owner.principal.clone(), Instant::now()));
        Ok(Some(owner.principal))
    }
}

impl Authenticator for TokenAuthenticator {
    fn authenticate<'a>(
        &'a self,
        bearer_token: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, ApiError>> {
        Box::pin(self.verify(bearer_token))
    }
}
