//! Variables of a project (`/projects/{project}/variables`) and of an environment
//! (`/projects/{project}/environments/{environment}/variables`): the same actions on two scopes.
//! `actions` holds them once; `project` and `environment` are the documented routes.

mod actions;
pub(super) mod environment;
pub(super) mod project;
