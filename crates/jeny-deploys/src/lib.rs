//! Deploys: the run of ONE shell command with a set of environment variables, its output
//! captured live, its exit code deciding success. A deploy is queued through the API, claimed by
//! a node's dispatcher when its environment is free (one running deploy per environment, a rule
//! the database enforces), and run by a supervisor process that outlives server restarts.
//!
//! - `service`: queue, read, cancel, redeploy, lock (the API's business rules);
//! - `dispatcher`: the server's loop that claims queued deploys and starts supervisors, and ends
//!   deploys whose supervisor is gone;
//! - `supervisor`: the process that owns one deploy (checkout, command, output, lease, end);
//! - `runner`, `sandbox`, `checkout`, `environment`, `mask`, `output`: the pieces it is made of.

pub mod api;
pub mod checkout;
pub mod dispatcher;
pub mod environment;
mod error;
pub mod mask;
mod model;
pub mod output;
pub mod retention;
pub mod runner;
pub mod sandbox;
mod service;
mod store;
pub mod supervisor;

pub use dispatcher::{RunnerConfig, run_dispatcher};
pub use error::DeployError;
pub use mask::Masker;
pub use model::{
    Deploy, DeployRequest, DeployStatus, DeployVariable, EnvironmentLock, LockRequest, LockState,
    TargetHost,
};
pub use output::{OutputChunk, OutputStream};
pub use retention::{prune_output, run_retention};
pub use sandbox::{DeployUser, Sandbox, SandboxError};
pub use service::{
    Links, cancel_deploy, create_deploy, get_deploy, get_lock, latest_deploys, list_deploys,
    lock_environment, redeploy, unlock_environment,
};
pub use store::DeployFilter;
pub use supervisor::{SupervisorSpec, supervise};
