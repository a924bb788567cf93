//! Sign-in and access on the wire: API and agent tokens, who the caller is, people as admins
//! manage them, sessions, the allowlist, and the device flow (RFC 8628) `jeny login` speaks.

use jeny_core::Role;

/// The grant type of a device access token request.
pub const DEVICE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The answer to a device authorization request (RFC 8628 section 3.2).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// Why a device access token request got no token (RFC 8628 section 3.5 error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevicePollError {
    AuthorizationPending,
    SlowDown,
    AccessDenied,
    ExpiredToken,
    InvalidGrant,
}

impl DevicePollError {
    pub fn code(self) -> &'static str {
        match self {
            DevicePollError::AuthorizationPending => "authorization_pending",
            DevicePollError::SlowDown => "slow_down",
            DevicePollError::AccessDenied => "access_denied",
            DevicePollError::ExpiredToken => "expired_token",
            DevicePollError::InvalidGrant => "invalid_grant",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            DevicePollError::AuthorizationPending => "the person has not approved yet",
            DevicePollError::SlowDown => {
                "polling faster than the interval: add 5 seconds to the interval between polls"
            }
            DevicePollError::AccessDenied => "the person denied the request",
            DevicePollError::ExpiredToken => "the device code expired: start again",
            DevicePollError::InvalidGrant => "unknown or already used device code",
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
    /// To recognise the token by, such as `github-actions`: 1 to 100 characters, not only spaces,
    /// without control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
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
    /// The global role in effect for this request (a token's scope may lower the person's).
    pub role: Role,
    /// Roles on particular projects and environments, in effect for this request.
    pub grants: Vec<jeny_core::Grant>,
    /// How this request authenticated: `api_token` or `session`.
    pub authenticated_by: jeny_core::Credential,
    /// The token, when one was used.
    pub token: Option<ApiToken>,
    /// The session's id, when a browser session was used.
    pub session_id: Option<String>,
}

/// A person, as admins manage them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PersonDetails {
    pub id: String,
    pub email: String,
    /// From the identity provider, when it gave one.
    pub name: Option<String>,
    /// The global role.
    pub role: Role,
    /// Roles on particular projects or environments, in place of the global role there.
    pub grants: Vec<jeny_core::Grant>,
    pub created_at: jeny_core::Timestamp,
    pub last_signed_in_at: Option<jeny_core::Timestamp>,
}

/// What `PATCH /api/v1/people/{person}` takes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonUpdate {
    /// The new global role.
    pub role: Role,
}

/// What `PUT /api/v1/people/{person}/grants` takes: the person's grants, all of them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantsUpdate {
    pub grants: Vec<jeny_core::Grant>,
}

/// A browser session.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Session {
    pub id: String,
    /// How the person signed in: `oidc` or `console_link`.
    pub method: String,
    pub created_at: jeny_core::Timestamp,
    /// Recorded at most once a minute.
    pub last_seen_at: jeny_core::Timestamp,
    /// When it ends unless used again (the sooner of the idle and the absolute expiry).
    pub expires_at: jeny_core::Timestamp,
    pub revoked_at: Option<jeny_core::Timestamp>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// Whether this request came with this session.
    pub current: bool,
}

/// An agent token as admins see it: never its secret.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AgentToken {
    pub id: String,
    /// The agent's name, such as the host it runs on.
    pub name: String,
    pub created_at: jeny_core::Timestamp,
    pub created_by: String,
    pub last_used_at: Option<jeny_core::Timestamp>,
    pub revoked_at: Option<jeny_core::Timestamp>,
}

/// What `POST /api/v1/agent-tokens` takes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgentToken {
    /// 1 to 100 characters, not only spaces, without control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
}

/// An agent token just created, with its secret: shown this once.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CreatedAgentToken {
    /// The secret, for `jeny agent --token`. It is not stored and cannot be shown again.
    pub token: String,
    #[serde(flatten)]
    pub details: AgentToken,
}

/// Who an agent is, as it sees itself.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AgentMe {
    pub agent_token_id: String,
    pub name: String,
}

/// An allowlist entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AllowlistEntry {
    /// An email (`alice@example.com`) or a whole domain (`@example.com`).
    pub entry: String,
    /// `config` (the configuration file; change it there) or `api`.
    pub source: String,
    pub created_at: Option<jeny_core::Timestamp>,
    pub created_by: Option<String>,
}

/// What `POST /api/v1/allowlist` takes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAllowlistEntry {
    /// An email (`alice@example.com`) or a whole domain (`@example.com`).
    #[schema(
        max_length = 253,
        pattern = "^[^@\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*@[^@.\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]([^@\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^@.\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000])?$"
    )]
    pub entry: String,
}

/// The form `POST /api/v1/auth/introspect` takes (documented here, parsed by the handler).
#[derive(Debug, Clone, utoipa::ToSchema)]
pub struct IntrospectForm {
    /// The token to look at.
    pub token: String,
}

/// The form `POST /auth/device/code` takes (documented here, parsed by the handler).
#[derive(Debug, Clone, utoipa::ToSchema)]
pub struct DeviceCodeForm {
    /// Any name of the client, such as `jeny-cli`; names the token unless `client_name` does.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub client_id: String,
    /// The API token's name, such as `jeny login on laptop`.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub client_name: Option<String>,
}

/// The form `POST /auth/device/token` takes (documented here, parsed by the handler).
#[derive(Debug, Clone, utoipa::ToSchema)]
pub struct DeviceTokenForm {
    #[schema(pattern = "^urn:ietf:params:oauth:grant-type:device_code$")]
    pub grant_type: String,
    /// The `device_code` that `POST /auth/device/code` answered.
    pub device_code: String,
    pub client_id: String,
}
