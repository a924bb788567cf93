//! People, emails and issued tokens.

use crate::AuthError;
use jeny_core::{Role, Secret};

/// A lowercased email address with one `@`, a local part and a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, AuthError> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Email(email))
        } else {
            Err(AuthError::InvalidEmail(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub email: String,
    pub role: Role,
}

/// A token just created: the only moment its secret exists outside the client.
#[derive(Debug)]
pub struct IssuedToken {
    pub token_id: String,
    pub person: Person,
    pub token: Secret<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a@b@c",
            "a b@c.d",
            "a@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

/// What a personal token may do, at most (never more than its owner's role).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Read everything, change nothing (a viewer).
    Read,
    /// Also deploy, cancel, lock and edit projects (a deployer).
    Deploy,
    /// Everything its owner may do, as an admin.
    Admin,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Deploy => "deploy",
            TokenScope::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<TokenScope> {
        match raw {
            "read" => Some(TokenScope::Read),
            "deploy" => Some(TokenScope::Deploy),
            "admin" => Some(TokenScope::Admin),
            _ => None,
        }
    }

    /// The role a token of this scope acts with at most.
    pub fn role(self) -> Role {
        match self {
            TokenScope::Read => Role::Viewer,
            TokenScope::Deploy => Role::Deployer,
            TokenScope::Admin => Role::Admin,
        }
    }
}

/// An API token as its owner sees it: never its secret.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    /// Null: the token acts with its owner's full role.
    pub scope: Option<TokenScope>,
    pub created_at: jeny_core::Timestamp,
    /// Recorded at most once a minute.
    pub last_used_at: Option<jeny_core::Timestamp>,
    pub expires_at: Option<jeny_core::Timestamp>,
    pub revoked_at: Option<jeny_core::Timestamp>,
}

/// What `POST /api/v1/me/tokens` takes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// To recognise the token by, such as `github-actions`.
    pub name: String,
    /// Limit the token to less than your role [default: your role].
    #[serde(default)]
    pub scope: Option<TokenScope>,
    /// When the token stops working (RFC 3339) [default: never].
    #[serde(default)]
    pub expires_at: Option<jeny_core::Timestamp>,
}

/// A token just created, with its secret: shown this once.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The secret: `Authorization: Bearer <token>`. It is not stored and cannot be shown again.
    pub token: String,
    #[serde(flatten)]
    pub details: ApiToken,
}

/// Who the caller is.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Me {
    pub person_id: String,
    pub email: String,
    /// The role in effect for this request (a token's scope may lower the person's).
    pub role: Role,
    /// How this request authenticated: `api_token`.
    pub authenticated_by: String,
    /// The token, when one was used.
    pub token: Option<ApiToken>,
}
