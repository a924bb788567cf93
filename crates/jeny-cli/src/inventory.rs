//! `jeny inventory`: an Ansible dynamic inventory of an environment's hosts, in the JSON Ansible
//! reads from an inventory script (`--list`: every host, one group per tag `key_value`, host
//! variables under `_meta`; `--host NAME`: one host's variables). Invoked as `jeny-inventory`
//! (a link to the binary), `jeny` behaves as `jeny inventory`, so the link is an inventory script:
//! `ansible-playbook -i /usr/local/bin/jeny-inventory site.yml`. Every variable's string is marked
//! `{"__ansible_unsafe": ...}`, so Ansible never evaluates a template a tag holds.

use crate::connection::Connection;
use clap::Args;

pub const INVENTORY_HELP: &str = "\
The project and environment come from --project/--env or JENY_PROJECT/JENY_ENVIRONMENT (which a
deploy's command has). Ansible runs an inventory script with --list, so link the binary:

  ln -s \"$(command -v jeny)\" /usr/local/bin/jeny-inventory
  JENY_PROJECT=shop JENY_ENVIRONMENT=production ansible-playbook -i /usr/local/bin/jeny-inventory site.yml

Examples:
  jeny inventory --list --project shop --env production
  jeny inventory --host web-1 --project shop --env production";

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Print every host of the environment, grouped by tag (what Ansible asks an inventory script).
    #[arg(long, conflicts_with = "host", required_unless_present = "host")]
    pub list: bool,
    /// Print one host's variables.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    #[arg(long, env = "JENY_PROJECT")]
    pub project: String,
    #[arg(long = "env", env = "JENY_ENVIRONMENT", value_name = "ENVIRONMENT")]
    pub environment: String,
    #[command(flatten)]
    pub connection: Connection,
}

pub async fn inventory(args: InventoryArgs) -> anyhow::Result<i32> {
    let client = args.connection.client()?;
    let mut hosts = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client
            .environment_hosts(
                &args.project,
                &args.environment,
                Some(500),
                cursor.as_deref(),
            )
            .await?;
        hosts.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let output = match &args.host {
        Some(name) => match hosts.iter().find(|host| &host.name == name) {
            Some(host) => jeny_api::hosts::inventory::inventory_host(host),
            // Ansible expects an empty object for a host it does not know.
            None => serde_json::json!({}),
        },
        None => jeny_api::hosts::inventory::inventory_list(&hosts),
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(0)
}
