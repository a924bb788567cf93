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

/// An authenticated person acting through some credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub person_id: String,
    pub email: String,
    /// The role in effect: the person's, or less when the credential is limited to less.
    pub role: Role,
    /// The API token this principal authenticated with, when it was one.
    pub token_id: Option<String>,
}

/// The principal lacks the role an action needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this needs the {needed} role; {email} is {has}")]
pub struct Forbidden {
    pub email: String,
    pub needed: Role,
    pub has: Role,
}

impl crate::DomainError for Forbidden {
    fn code(&self) -> crate::ErrorCode {
        crate::ErrorCode::Forbidden
    }
}

impl Principal {
    /// Succeeds when this principal has at least `needed`.
    pub fn require(&self, needed: Role) -> Result<(), Forbidden> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(Forbidden {
                email: self.email.clone(),
                needed,
                has: self.role,
            })
        }
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
        Principal {
            person_id: "p".into(),
            email: "a@example.com".into(),
            token_id: None,
            role,
        }
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
    fn roles_parse_from_their_names_only() {
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
    }
}
