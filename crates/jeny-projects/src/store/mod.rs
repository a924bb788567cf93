//! Every query of the `projects`, `environments` and `variables` tables, in portable SQL.

pub(crate) mod environments;
pub(crate) mod projects;
pub(crate) mod variables;

use jeny_store::StoreError;

/// Turns a unique violation into the concept's "already exists" error.
pub(crate) fn taken(error: StoreError, what: &'static str, name: &str) -> crate::ProjectError {
    if error.is_conflict() {
        crate::ProjectError::Taken {
            what,
            name: name.to_owned(),
        }
    } else {
        error.into()
    }
}
