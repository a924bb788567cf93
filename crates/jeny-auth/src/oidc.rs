//! OpenID Connect sign-in as a relying party (the `openidconnect` crate): discovery of the
//! provider's endpoints and keys, the authorization code flow with PKCE, and the checks of the
//! ID token: signature against the provider's JWKS, issuer, audience (our client id), expiry
//! and the nonce we sent. The provider's metadata is cached for an hour, and dropped at once
//! when a token fails to verify (the provider may have rotated its keys).

use crate::config::OidcConfig;
use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use std::time::{Duration, Instant};

const METADATA_TTL: Duration = Duration::from_secs(3600);

/// A client made from discovered metadata: the authorization endpoint is known, the token
/// and user info endpoints may be.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why an OIDC sign-in could not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OidcError {
    /// The provider could not be reached or answered nonsense.
    #[error("the identity provider could not be reached: {0}")]
    Unavailable(String),
    /// The provider's answer did not verify (signature, issuer, audience, expiry, nonce).
    #[error("the identity provider's answer did not verify: {0}")]
    Rejected(String),
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    /// Google's hosted domain (`hd`), for Workspace accounts.
    pub hosted_domain: Option<String>,
}

/// A sign-in begun: where to send the browser, and what to keep until it comes back.
pub(crate) struct Started {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

pub(crate) struct Oidc {
    config: OidcConfig,
    redirect_url: String,
    http: reqwest::Client,
    metadata: tokio::sync::Mutex<Option<(CoreProviderMetadata, Instant)>>,
}

impl Oidc {
    pub(crate) fn new(config: OidcConfig, redirect_url: String) -> Oidc {
        let http = reqwest::Client::builder()
            // a provider's endpoints answer directly; following redirects would only let a
            // compromised discovery document point us elsewhere
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .expect("the HTTP client's settings are valid");
        Oidc {
            config,
            redirect_url,
            http,
            metadata: tokio::sync::Mutex::new(None),
        }
    }

    async fn provider(&self) -> Result<CoreProviderMetadata, OidcError> {
        let mut cached = self.metadata.lock().await;
        if let Some((metadata, fetched_at)) = cached.as_ref()
            && fetched_at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|error| OidcError::Unavailable(format!("bad issuer URL: {error}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|error| OidcError::Unavailable(jeny_core::ErrorChain(&error).to_string()))?;
        *cached = Some((metadata.clone(), Instant::now()));
        Ok(metadata)
    }

    async fn forget_provider(&self) {
        *self.metadata.lock().await = None;
    }

    fn client(&self, metadata: CoreProviderMetadata) -> Result<Client, OidcError> {
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(
            RedirectUrl::new(self.redirect_url.clone())
                .map_err(|error| OidcError::Unavailable(format!("bad redirect URL: {error}")))?,
        ))
    }

    /// Begins a sign-in: the provider's authorization URL with a fresh state, nonce and PKCE
    /// challenge.
    pub(crate) async fn start(&self) -> Result<Started, OidcError> {
        let metadata = self.provider().await?;
        let client = self.client(metadata)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge);
        if let Some(domain) = &self.config.hosted_domain {
            request = request.add_extra_param("hd", domain.clone());
        }
        let (url, state, nonce) = request.url();
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Completes a sign-in: exchanges the code (with the PKCE verifier) and verifies the ID
    /// token.
    pub(crate) async fn finish(
        &self,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<Identity, OidcError> {
        let metadata = self.provider().await?;
        let client = self.client(metadata)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| OidcError::Unavailable(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                openidconnect::RequestTokenError::ServerResponse(answer) => {
                    OidcError::Rejected(format!("the code was refused: {answer}"))
                }
                other => OidcError::Unavailable(jeny_core::ErrorChain(&other).to_string()),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::Rejected("the provider sent no ID token".to_owned()))?;
        let verifier = client.id_token_verifier();
        let claims = match id_token.claims(&verifier, &Nonce::new(nonce.to_owned())) {
            Ok(claims) => claims,
            Err(error) => {
                self.forget_provider().await;
                return Err(OidcError::Rejected(error.to_string()));
            }
        };
        Ok(Identity {
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|email| email.as_str().to_owned()),
            email_verified: claims.email_verified(),
            name: claims
                .name()
                .and_then(|name| name.get(None))
                .map(|name| name.as_str().to_owned()),
            hosted_domain: claim_of(&id_token.to_string(), "hd"),
        })
    }
}

/// A string claim of a JWT whose signature has already been verified (the `openidconnect`
/// types have no place for provider-specific claims such as Google's `hd`).
fn claim_of(jwt: &str, name: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get(name)?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_claims_are_read_from_the_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"hd":"example.com","sub":"1"}"#);
        let jwt = format!("e30.{payload}.sig");
        assert_eq!(claim_of(&jwt, "hd").as_deref(), Some("example.com"));
        assert_eq!(claim_of(&jwt, "email"), None);
        assert_eq!(claim_of("garbage", "hd"), None);
    }
}
