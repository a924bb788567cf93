//! Who a request acts as. Every part of jeny sees a `Principal`, never a cookie or a token: the
//! auth part turns credentials into one, and the other parts only ask it what it may do.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a person may do. Ordered: an admin may do all a deployer may, a deployer all a viewer may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Deploys and edits projects, environments, variables and hosts.
    Deployer,
    /// Everything, including people and settings.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected viewer, deployer or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(raw: &str) -> Result<Role, UnknownRole> {
        match raw {
            "viewer" => Ok(Role::Viewer),
            "deployer" => Ok(Role::Deployer),
            "admin" => Ok(Role::Admin),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

/// How a principal authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// A personal API token (`Authorization: Bearer jeny_...`).
    ApiToken,
    /// A browser session cookie.
    Session,
    /// An agent token: a machine, not a person; it may only call the agent routes.
    AgentToken,
    /// A chat user (Slack) whose verified email is this person's: the chat bot acts with the
    /// person's own roles, never more.
    Chat,
}

impl Credential {
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::ApiToken => "api_token",
            Credential::Session => "session",
            Credential::AgentToken => "agent_token",
            Credential::Chat => "chat",
        }
    }
}

/// A role granted on one project, or on one environment of it, instead of the global role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    #[schema(value_type = crate::Name)]
    pub project: String,
    /// `None`: every environment of the project (unless one has its own grant).
    #[serde(default)]
    #[schema(value_type = Option<crate::Name>)]
    pub environment: Option<String>,
    pub role: Role,
}

/// An authenticated person (or agent) acting through some credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub person_id: String,
    pub email: String,
    /// The global role in effect: the person's, or less when the credential is limited to less.
    pub role: Role,
    /// Roles on particular projects and environments, already limited like `role`.
    pub grants: Vec<Grant>,
    /// The API token, agent token or session this principal authenticated with.
    pub token_id: Option<String>,
    pub credential: Credential,
}

/// The principal lacks the role an action needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this needs the {needed} role{place}; {email} is {has}{place}")]
pub struct Forbidden {
    pub email: String,
    pub needed: Role,
    pub has: Role,
    /// ` on project p` or ` on p/e`, or empty for the global role.
    pub place: String,
}

impl crate::DomainError for Forbidden {
    fn code(&self) -> crate::ErrorCode {
        crate::ErrorCode::Forbidden
    }
}

impl Principal {
    /// A person acting with `role` everywhere through an API token (tools and tests).
    pub fn person(person_id: &str, email: &str, role: Role) -> Principal {
        Principal {
            person_id: person_id.to_owned(),
            email: email.to_owned(),
            role,
            grants: Vec::new(),
            token_id: None,
            credential: Credential::ApiToken,
        }
    }

    /// This principal with every role lowered to at most `cap` (a token's scope).
    pub fn capped(mut self, cap: Role) -> Principal {
        self.role = self.role.min(cap);
        for grant in &mut self.grants {
            grant.role = grant.role.min(cap);
        }
        self
    }

    /// The role in effect on `project` (and `environment`): an environment's grant, else the
    /// project's, else the global role. A global admin is admin everywhere.
    pub fn role_in(&self, project: &str, environment: Option<&str>) -> Role {
        if self.role == Role::Admin {
            return Role::Admin;
        }
        let find = |environment: Option<&str>| {
            self.grants
                .iter()
                .find(|grant| {
                    grant.project == project && grant.environment.as_deref() == environment
                })
                .map(|grant| grant.role)
        };
        environment
            .and_then(|environment| find(Some(environment)))
            .or_else(|| find(None))
            .unwrap_or(self.role)
    }

    /// Succeeds when this principal has at least `needed` globally.
    pub fn require(&self, needed: Role) -> Result<(), Forbidden> {
        self.check(needed, self.role, String::new())
    }

    /// Succeeds when this principal has at least `needed` on `project` (and `environment`).
    pub fn require_in(
        &self,
        project: &str,
        environment: Option<&str>,
        needed: Role,
    ) -> Result<(), Forbidden> {
        let place = match environment {
            Some(environment) => format!(" on {project}/{environment}"),
            None => format!(" on project {project}"),
        };
        self.check(needed, self.role_in(project, environment), place)
    }

    fn check(&self, needed: Role, has: Role, place: String) -> Result<(), Forbidden> {
        if has >= needed {
            Ok(())
        } else {
            Err(Forbidden {
                email: self.email.clone(),
                needed,
                has,
                place,
            })
        }
    }

    /// Whether this is an agent rather than a person.
    pub fn is_agent(&self) -> bool {
        self.credential == Credential::AgentToken
    }

    /// How this principal is named in the event log.
    pub fn actor(&self) -> &str {
        &self.email
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(role: Role) -> Principal {
        Principal::person("p", "a@example.com", role)
    }

    #[test]
    fn roles_include_the_ones_below_them() {
        assert!(person(Role::Admin).require(Role::Deployer).is_ok());
        assert!(person(Role::Deployer).require(Role::Deployer).is_ok());
        assert!(person(Role::Viewer).require(Role::Viewer).is_ok());
        let refused = person(Role::Viewer).require(Role::Deployer).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "this needs the deployer role; a@example.com is viewer"
        );
    }

    #[test]
    fn the_most_specific_grant_wins_and_a_cap_limits_all() {
        let mut alice = person(Role::Deployer);
        let grant = |environment: Option<&str>, role| Grant {
            project: "shop".into(),
            environment: environment.map(str::to_owned),
            role,
        };
        alice.grants = vec![
            grant(None, Role::Viewer),
            grant(Some("staging"), Role::Admin),
        ];
        assert_eq!(alice.role_in("shop", Some("production")), Role::Viewer);
        assert_eq!(alice.role_in("shop", None), Role::Viewer);
        assert_eq!(alice.role_in("shop", Some("staging")), Role::Admin);
        assert_eq!(alice.role_in("blog", Some("production")), Role::Deployer);
        let refused = alice
            .require_in("shop", Some("production"), Role::Deployer)
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "this needs the deployer role on shop/production; a@example.com is viewer on shop/production"
        );
        let read_only = alice.clone().capped(Role::Viewer);
        assert_eq!(read_only.role_in("shop", Some("staging")), Role::Viewer);
        assert_eq!(read_only.role, Role::Viewer);
        let mut admin = person(Role::Admin);
        admin.grants = vec![grant(None, Role::Viewer)];
        assert_eq!(admin.role_in("shop", None), Role::Admin);
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
    }
}
