//! The `jeny` command-line client: the commands people and CI jobs run against a jeny server,
//! over its public HTTP API (`jeny-client`). The binary's command tree flattens `ClientCommand`
//! next to `server` and `admin`; `run` executes one and returns the process's exit code (see
//! `exit`), since a deploy's outcome is the CLI's outcome.

mod connection;
mod deploy;
pub mod exit;
mod inventory;
mod lists;
mod login;
mod table;
mod vars;

pub use connection::Connection;

use clap::{Args, Subcommand};

/// How a list is printed.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputFormat {
    /// Print JSON (stable field names, the API's) instead of a table.
    #[arg(long, conflicts_with = "quiet")]
    pub json: bool,
    /// Print only names or ids, one per line.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Sign in to a jeny server from this machine: approve a code in your browser, and an API
    /// token is stored for the other commands (in ~/.config/jeny/login.json, mode 0600).
    #[command(after_help = "Examples:\n  jeny login --server https://jeny.example.com")]
    Login {
        /// The jeny server's URL.
        #[arg(long, env = "JENY_SERVER", value_name = "URL")]
        server: String,
    },
    /// Revoke the stored login's token (or --token's) on the server and forget it.
    Logout {
        #[command(flatten)]
        connection: Connection,
    },
    /// List projects.
    #[command(after_help = "Examples:\n  jeny projects\n  jeny projects --json | jq '.[].name'")]
    Projects {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        format: OutputFormat,
    },
    /// List a project's environments.
    #[command(after_help = "Examples:\n  jeny envs shop\n  jeny envs shop --quiet")]
    Envs {
        project: String,
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        format: OutputFormat,
    },
    /// List hosts, all or those with every `--tag`.
    #[command(
        after_help = "Examples:\n  jeny hosts\n  jeny hosts --tag role=web --tag env=production"
    )]
    Hosts {
        /// A tag condition `key=value`; repeat for several, all must match.
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        format: OutputFormat,
    },
    /// Start a deploy, follow its output and exit with its outcome.
    #[command(after_help = deploy::DEPLOY_HELP)]
    Deploy(deploy::DeployArgs),
    /// List deploys of a project (and environment), newest first.
    #[command(
        after_help = "Examples:\n  jeny deploys shop\n  jeny deploys shop production --status failed --limit 5"
    )]
    Deploys {
        project: String,
        environment: Option<String>,
        /// Only deploys with this status (queued, running, succeeded, failed, cancelled, timed_out,
        /// errored, interrupted).
        #[arg(long)]
        status: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        format: OutputFormat,
    },
    /// Print a deploy's output; `--follow` streams it until the deploy ends.
    #[command(
        name = "deploy-log",
        after_help = "Examples:\n  jeny deploy-log 01a2...\n  jeny deploy-log 01a2... --follow\n\nWith --follow the exit code is the deploy's outcome, as for `jeny deploy`."
    )]
    DeployLog {
        id: String,
        /// Stream the output until the deploy ends (resuming if the connection drops).
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Cancel a queued or running deploy.
    #[command(after_help = "Example:\n  jeny cancel 01a2...")]
    Cancel {
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Deploy again what a deploy ran (the same commit): how to roll back.
    #[command(
        after_help = "Examples:\n  jeny redeploy 01a2...          # follows the new deploy\n  jeny redeploy 01a2... --detach"
    )]
    Redeploy {
        id: String,
        /// Print the new deploy's id and URL and return at once.
        #[arg(long)]
        detach: bool,
        #[command(flatten)]
        follow: deploy::FollowArgs,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lock an environment against new deploys.
    #[command(
        after_help = "Examples:\n  jeny lock shop production --reason 'database migration'\n  jeny lock shop production --reason 'freeze' --for 2h"
    )]
    Lock {
        project: String,
        environment: String,
        /// Shown to whoever tries to deploy meanwhile.
        #[arg(long)]
        reason: String,
        /// Lift the lock by itself after this long (`30m`, `2h`, `1d`).
        #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Unlock an environment.
    #[command(after_help = "Example:\n  jeny unlock shop production")]
    Unlock {
        project: String,
        environment: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// List a project's (or environment's) variables, or set and unset them.
    #[command(after_help = vars::VARS_HELP)]
    Vars(vars::VarsArgs),
    /// Ansible dynamic inventory of an environment's hosts (`--list`, `--host NAME`).
    #[command(after_help = inventory::INVENTORY_HELP)]
    Inventory(inventory::InventoryArgs),
}

/// Runs a client command; returns the exit code.
pub async fn run(command: ClientCommand) -> i32 {
    let result = match command {
        ClientCommand::Login { server } => login::login(&server).await,
        ClientCommand::Logout { connection } => login::logout(&connection).await,
        ClientCommand::Projects { connection, format } => {
            lists::projects(&connection, &format).await
        }
        ClientCommand::Envs {
            project,
            connection,
            format,
        } => lists::environments(&connection, &format, &project).await,
        ClientCommand::Hosts {
            tags,
            connection,
            format,
        } => lists::hosts(&connection, &format, &tags).await,
        ClientCommand::Deploy(args) => deploy::deploy(args).await,
        ClientCommand::Deploys {
            project,
            environment,
            status,
            limit,
            connection,
            format,
        } => {
            lists::deploys(
                &connection,
                &format,
                &project,
                environment.as_deref(),
                status.as_deref(),
                limit,
            )
            .await
        }
        ClientCommand::DeployLog {
            id,
            follow,
            connection,
        } => deploy::log(&connection, &id, follow).await,
        ClientCommand::Cancel { id, connection } => deploy::cancel(&connection, &id).await,
        ClientCommand::Redeploy {
            id,
            detach,
            follow,
            connection,
        } => deploy::redeploy(&connection, &id, detach, &follow).await,
        ClientCommand::Lock {
            project,
            environment,
            reason,
            duration,
            connection,
        } => deploy::lock(&connection, &project, &environment, reason, duration).await,
        ClientCommand::Unlock {
            project,
            environment,
            connection,
        } => deploy::unlock(&connection, &project, &environment).await,
        ClientCommand::Vars(args) => vars::vars(args).await,
        ClientCommand::Inventory(args) => inventory::inventory(args).await,
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("jeny: {error:#}");
            exit::code_of_error(&error)
        }
    }
}
