//! `jeny`: one program for the server, its administration and (later) the client commands.
//! This file is only the command tree; each command calls into the crate that owns it.

use anyhow::Context;
use clap::{Parser, Subcommand};
use jeny_core::Role;
use jeny_server::{Config, ServerArgs};
use std::io::IsTerminal;
use std::path::PathBuf;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Deploy and run applications on AWS with Ansible.
#[derive(Debug, Parser)]
#[command(name = "jeny", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the jeny server: API, web app and every background part.
    Server(Box<ServerArgs>),
    /// Administer a jeny installation from the server machine.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Print shell completions: `jeny completions bash > /etc/bash_completion.d/jeny`.
    #[command(
        after_help = "Examples:\n  jeny completions bash > ~/.local/share/bash-completion/completions/jeny\n  jeny completions zsh > \"${fpath[1]}/_jeny\"\n  jeny completions fish > ~/.config/fish/completions/jeny.fish"
    )]
    Completions { shell: clap_complete::Shell },
    #[command(flatten)]
    Client(jeny_cli::ClientCommand),
    /// Run one deploy's command (started by the server, which sends the deploy on stdin).
    #[command(hide = true)]
    Supervise,
}

/// Where an admin command finds the server's database and settings.
#[derive(Debug, clap::Args)]
struct ServerLocation {
    /// The server's configuration file, to find the data directory, database and settings.
    #[arg(long, env = "JENY_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The server's data directory [default: ./jeny-data].
    #[arg(long, env = "JENY_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The server's database, when it is not SQLite in the data directory.
    #[arg(
        long,
        env = "JENY_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
}

impl ServerLocation {
    /// The server's configuration: these flags over its `JENY_*` variables and file.
    fn resolve(self, public_url: Option<String>) -> anyhow::Result<Config> {
        let from_environment = server_args_from_environment()?;
        Config::resolve(&ServerArgs {
            config: self.config,
            data_dir: self.data_dir,
            database_url: self.database_url,
            public_url: public_url.or(from_environment.public_url.clone()),
            ..from_environment
        })
    }
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a person if needed and print a new API token for them on stdout.
    ///
    /// Works directly on the database, whether or not the server is running.
    Token {
        /// The person's email address.
        #[arg(long)]
        email: String,
        /// The person's role: viewer, deployer or admin (an existing person gets this role).
        #[arg(long, default_value = "admin")]
        role: Role,
        /// A name to recognise the token by.
        #[arg(long, default_value = "admin-cli")]
        name: String,
        #[command(flatten)]
        server: ServerLocation,
    },
    /// Print a one-time link that signs a browser in as the admin email (admin@localhost
    /// unless `admin_email` is set), valid for 15 minutes: how to get in without an identity
    /// provider, or when locked out.
    ///
    /// Works directly on the database, whether or not the server is running.
    SignInLink {
        #[command(flatten)]
        server: ServerLocation,
        /// The URL people reach the server at [default: from the configuration, else
        /// http://<listen>].
        #[arg(long, env = "JENY_PUBLIC_URL", value_name = "URL")]
        public_url: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    // Linked as `jeny-inventory`, the binary is an Ansible inventory script: `jeny inventory ...`.
    let mut arguments: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = arguments
        .first()
        .map(std::path::Path::new)
        .and_then(|path| path.file_name())
        .and_then(|name| name.to_str())
        .unwrap_or_default()
        .to_owned();
    if invoked_as == "jeny-inventory" {
        arguments.insert(1, "inventory".into());
    }
    let cli = Cli::parse_from(arguments);
    if let Command::Supervise = cli.command {
        return supervise();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Server(args) => {
            let config = Config::resolve(&args)?;
            if args.print_config {
                print!("{}", config.sample_file());
                return Ok(());
            }
            init_logging(&config.log)?;
            for unknown in Config::unknown_variables() {
                tracing::warn!(variable = %unknown, "unknown JENY_ variable ignored; see docs/configuration.md");
            }
            runtime.block_on(jeny_server::serve(config))
        }
        Command::Admin { command } => {
            init_logging("warn")?;
            runtime.block_on(admin(command))
        }
        Command::Openapi => {
            print!("{}", jeny_server::openapi_json());
            Ok(())
        }
        Command::Supervise => supervise(),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "jeny", &mut std::io::stdout());
            Ok(())
        }
        Command::Client(command) => {
            let code = runtime.block_on(jeny_cli::run(command));
            std::process::exit(code);
        }
    }
}

/// The server's settings from its `JENY_*` variables (as `jeny server` would read them), for an
/// admin command to find the same database and sign-in settings.
fn server_args_from_environment() -> anyhow::Result<ServerArgs> {
    use clap::{Args, FromArgMatches};
    let command = ServerArgs::augment_args(clap::Command::new("jeny"));
    let matches = command
        .try_get_matches_from(["jeny"])
        .context("a JENY_ variable holds a value jeny server would refuse")?;
    Ok(ServerArgs::from_arg_matches(&matches)?)
}

/// Opens the server's database for an admin command, creating it when no server used it yet
/// (and saying so, since a token in a database no server uses would be a puzzling success).
async fn open_admin_store(config: &Config) -> anyhow::Result<jeny_store::Store> {
    let sqlite_file = config.data_dir.join("jeny.db");
    if config.database_url.is_none() && !sqlite_file.exists() {
        eprintln!(
            "note: no server has used {} yet; creating a new jeny database there (check --data-dir if you expected one)",
            config.data_dir.display()
        );
    }
    config.prepare_data_dir()?;
    jeny_store::Store::open(&config.database_url(), jeny_store::StoreOptions::default())
        .await
        .with_context(|| {
            format!(
                "cannot open the database at {}",
                config.database_url_for_display()
            )
        })
}

async fn admin(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::SignInLink { server, public_url } => {
            let config = server.resolve(public_url)?;
            let store = open_admin_store(&config).await?;
            let url = config.public_url(config.listen);
            let auth = jeny_auth::AuthService::new(store.clone(), config.auth_config(&url)?);
            let link = auth.create_signin_link().await?;
            store.close().await;
            eprintln!(
                "signs in as {}, once, within {} minutes:",
                auth.config()
                    .admin_email
                    .as_deref()
                    .unwrap_or(jeny_auth::DEFAULT_ADMIN_EMAIL),
                jeny_auth::LINK_TTL.as_secs() / 60
            );
            println!("{url}/auth/link/{}", link.expose());
            Ok(())
        }
        AdminCommand::Token {
            email,
            role,
            name,
            server,
        } => {
            let email = jeny_auth::Email::parse(&email)?;
            let config = server.resolve(None)?;
            let store = open_admin_store(&config).await?;
            let issued = jeny_auth::issue_token(&store, &email, role, &name, "jeny admin").await?;
            store.close().await;
            eprintln!(
                "new {role} token {name:?} for {}; it is shown once:",
                issued.person.email
            );
            println!("{}", issued.token.expose());
            Ok(())
        }
    }
}

/// `jeny supervise`: owns one deploy. It leaves the server's session first, so that neither a
/// terminal's signals nor the server's end reach it, then reads its deploy from stdin.
fn supervise() -> anyhow::Result<()> {
    let _ = nix::unistd::setsid();
    init_logging("info")?;
    let mut input = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut input)
        .context("cannot read the deploy from stdin")?;
    let spec: jeny_deploys::SupervisorSpec =
        serde_json::from_slice(&input).context("stdin does not hold a deploy to supervise")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let deploy = spec.deploy_id.clone();
    runtime
        .block_on(jeny_deploys::supervise(spec))
        .with_context(|| format!("cannot supervise deploy {deploy}"))?;
    // Do not wait for tasks a cancelled command left behind (a pipe reader held by a daemon).
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    Ok(())
}

fn init_logging(filter: &str) -> anyhow::Result<()> {
    let targets: Targets = filter.parse().with_context(|| {
        format!("bad log filter {filter:?}: use a level such as info, or info,jeny_server=debug")
    })?;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(targets)
        .init();
    Ok(())
}
