//! What can be done with projects, environments and variables: the business rules between the
//! API and the store. Every change appends its event in the same transaction. Updates take a
//! `change` closure that turns the current writable fields into the new ones inside the
//! transaction holding the row (whole replacement for PUT, merge patch for PATCH), so concurrent
//! updates apply one after the other and `If-Match` is checked against what is really current.

pub(crate) mod environments;
pub(crate) mod projects;
pub(crate) mod variables;
