//! Projects, their environments, and the variables both carry. A project is one app or repo with
//! a deploy command and says how long its deploy output is kept; an environment (`staging`,
//! `production`) belongs to a project, picks its hosts with a tag selector, may override the
//! command and timeout, and says how its deploys are queued and stopped; variables are passed to
//! deploys, environment over project, and secret ones are sealed with the server's key, never
//! returned by the API, only replaced.

pub mod api;
mod error;
mod model;
pub mod repository;
mod service;
mod store;

pub use error::ProjectError;
pub use model::{
    DEFAULT_DEPLOY_GRACE_SECS, DEFAULT_DEPLOY_TIMEOUT_SECS, Environment, EnvironmentInput,
    MetricsRetention, Project, ProjectInput, QueuePolicy, Variable, VariableInput, VariableKey,
};
pub use repository::{DEFAULT_REPOSITORY_SCHEMES, RepositorySchemes};
pub use service::environments::{
    create_environment, delete_environment, environment_hosts, get_environment, list_environments,
    update_environment,
};
pub use service::projects::{
    create_project, delete_project, get_project, list_projects, update_project,
};
pub use service::variables::{
    ResolvedVariable, Scope, ScopeRef, SetMode, delete_variable, get_variable, list_variables,
    resolve_variables, set_variable, update_variable,
};
