//! `jeny vars`: a project's or environment's variables; `--set`, `--secret` and `--unset` change
//! them. A secret's value is read from stdin, never from the command line (which other users of
//! the machine can see in the process list, and which shells keep in their history).

use crate::connection::Connection;
use crate::{OutputFormat, table};
use clap::Args;
use jeny_api::projects::VariableInput;
use jeny_client::VariableScope;
use std::io::Read;

pub const VARS_HELP: &str = "\
Without --set, --secret or --unset, lists the variables (a secret's value is never shown).

Examples:
  jeny vars shop                                   # the project's variables
  jeny vars shop production                        # the environment's
  jeny vars shop production --set LOG_LEVEL=debug --set WORKERS=4
  printf %s \"$DB_PASSWORD\" | jeny vars shop production --secret DB_PASSWORD
  jeny vars shop --unset OLD_FLAG";

#[derive(Debug, Args)]
pub struct VarsArgs {
    pub project: String,
    pub environment: Option<String>,
    /// Set a plain variable: `KEY=VALUE`; repeat for several.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Set a secret variable, its value read from stdin (a trailing newline is dropped).
    #[arg(long, value_name = "KEY")]
    pub secret: Option<String>,
    /// Remove a variable; repeat for several.
    #[arg(long = "unset", value_name = "KEY")]
    pub unset: Vec<String>,
    #[command(flatten)]
    pub connection: Connection,
    #[command(flatten)]
    pub format: OutputFormat,
}

pub async fn vars(args: VarsArgs) -> anyhow::Result<i32> {
    let client = args.connection.client()?;
    let scope = match &args.environment {
        Some(environment) => VariableScope::Environment(&args.project, environment),
        None => VariableScope::Project(&args.project),
    };
    let changing = !args.set.is_empty() || args.secret.is_some() || !args.unset.is_empty();
    for assignment in &args.set {
        let Some((key, value)) = assignment.split_once('=') else {
            anyhow::bail!("--set {assignment:?} is not of the form KEY=VALUE");
        };
        let input = VariableInput {
            key: Some(key.to_owned()),
            value: Some(value.to_owned()),
            secret: Some(false),
        };
        client.put_variable(scope, key, &input, None).await?;
        eprintln!("set {key}");
    }
    if let Some(key) = &args.secret {
        let mut value = String::new();
        std::io::stdin().read_to_string(&mut value)?;
        let value = value
            .strip_suffix('\n')
            .map(|v| v.strip_suffix('\r').unwrap_or(v))
            .unwrap_or(&value)
            .to_owned();
        let input = VariableInput {
            key: Some(key.clone()),
            value: Some(value),
            secret: Some(true),
        };
        client.put_variable(scope, key, &input, None).await?;
        eprintln!("set secret {key}");
    }
    for key in &args.unset {
        client.delete_variable(scope, key, None).await?;
        eprintln!("unset {key}");
    }
    if changing {
        return Ok(0);
    }
    let mut variables = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client
            .list_variables(scope, Some(500), cursor.as_deref())
            .await?;
        variables.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if args.format.json {
        println!("{}", serde_json::to_string_pretty(&variables)?);
    } else if args.format.quiet {
        for variable in &variables {
            println!("{}", variable.key);
        }
    } else {
        let rows: Vec<Vec<String>> = variables
            .iter()
            .map(|v| {
                vec![
                    v.key.clone(),
                    match (&v.value, v.secret, v.is_set) {
                        (_, true, true) => "(secret)".to_owned(),
                        (_, true, false) => "(secret, not set)".to_owned(),
                        (Some(value), false, _) => value.clone(),
                        (None, false, _) => String::new(),
                    },
                ]
            })
            .collect();
        table::print(&["KEY", "VALUE"], &rows);
    }
    Ok(0)
}
