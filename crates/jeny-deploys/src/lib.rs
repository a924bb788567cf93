//! Deploys: the run of ONE shell command with a set of environment variables, its output
//! captured live, its exit code deciding success. This crate is being built (the deploys issue);
//! so far it holds the git checkout of a deploy's working directory, the command's environment,
//! the runner of the command (process group, output chunks, cancel and timeout), and the masking
//! of secret values in its output.

pub mod checkout;
pub mod environment;
pub mod mask;
pub mod runner;
