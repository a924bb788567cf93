//! The exit codes of client commands. A deploy that ran and failed exits with its command's own
//! code; every other outcome has a code of its own, high enough to be told apart from the usual
//! command codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (the deploy succeeded, the command did what it said) |
//! | 1–239 | the deploy failed: its command's exit code |
//! | 2 | also: the command line is wrong (clap's usage error) |
//! | 240 | the deploy was cancelled |
//! | 241 | the deploy timed out |
//! | 242 | the deploy errored (jeny could not run it: git, the command could not start) |
//! | 243 | the deploy was interrupted (its supervisor was lost) |
//! | 244 | detached: the deploy goes on (Ctrl-C, then "detach") |
//! | 250 | not signed in: no server or token |
//! | 251 | the server cannot be reached |
//! | 252 | the server refused the request (its problem is printed) |
//! | 1 | any other failure |

use jeny_api::deploys::{Deploy, DeployStatus};
use jeny_client::ClientError;

pub const CANCELLED: i32 = 240;
pub const TIMED_OUT: i32 = 241;
pub const ERRORED: i32 = 242;
pub const INTERRUPTED: i32 = 243;
pub const DETACHED: i32 = 244;
pub const NOT_SIGNED_IN: i32 = 250;
pub const UNREACHABLE: i32 = 251;
pub const REFUSED: i32 = 252;

/// The exit code of a finished deploy.
pub fn of_deploy(deploy: &Deploy) -> i32 {
    match deploy.status {
        DeployStatus::Succeeded => 0,
        // A code outside 1..=239 (a signal's 128+n is inside) is reported as 1.
        DeployStatus::Failed => deploy
            .exit_code
            .filter(|code| (1..CANCELLED).contains(code))
            .unwrap_or(1),
        DeployStatus::Cancelled => CANCELLED,
        DeployStatus::TimedOut => TIMED_OUT,
        DeployStatus::Errored => ERRORED,
        DeployStatus::Interrupted => INTERRUPTED,
        DeployStatus::Queued | DeployStatus::Running => DETACHED,
    }
}

/// The exit code of a command that failed with `error`.
pub fn code_of_error(error: &anyhow::Error) -> i32 {
    if error
        .downcast_ref::<crate::connection::NotSignedIn>()
        .is_some()
    {
        return NOT_SIGNED_IN;
    }
    match error.downcast_ref::<ClientError>() {
        Some(ClientError::Api { .. } | ClientError::Unexpected { .. }) => REFUSED,
        Some(ClientError::Http(error)) if error.status().is_some() => REFUSED,
        Some(ClientError::Http(_)) => UNREACHABLE,
        None => 1,
    }
}
