//! Ansible inventories of a set of hosts, in the two forms Ansible reads: the YAML inventory file
//! a deploy writes (`inventory_file`, emitted as JSON, which YAML parsers read), and the JSON a
//! dynamic-inventory script prints for `--list` (`inventory_list`). Both put every host in `all`
//! and in one group per tag, named `key_value`; each host gets `ansible_host` from its address,
//! its tags as host variables, and all of its tags, unaltered, as `jeny_tags`.

use crate::Host;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The group of hosts tagged `key=value`: `key_value`, with every character Ansible does not allow
/// in a group name (anything but ASCII letters, digits and `_`) replaced by `_`, and a leading
/// `_` when it would start with a digit. `role=web` is `role_web`; `aws:az=us-east-1a` is
/// `aws_az_us_east_1a`.
pub fn group_name(key: &str, value: &str) -> String {
    identifier(&format!("{key}_{value}"))
}

/// A tag key as a host variable name, by the same rule as group names.
pub fn variable_name(key: &str) -> String {
    identifier(key)
}

fn identifier(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// A host's variables: `ansible_host`, each tag under its variable name (the first tag wins when
/// two names collide, and a tag never replaces `ansible_host` or `jeny_tags`), and `jeny_tags`.
pub fn host_variables(host: &Host) -> Map<String, Value> {
    let mut variables = Map::new();
    variables.insert("ansible_host".to_owned(), json!(host.address));
    for (key, value) in &host.tags {
        let name = variable_name(key);
        if name != "jeny_tags" {
            variables.entry(name).or_insert_with(|| json!(value));
        }
    }
    variables.insert("jeny_tags".to_owned(), json!(host.tags));
    variables
}

/// Group name -> host names, sorted.
fn groups(hosts: &[Host]) -> BTreeMap<String, Vec<&str>> {
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for host in hosts {
        for (key, value) in &host.tags {
            groups
                .entry(group_name(key, value))
                .or_default()
                .push(&host.name);
        }
    }
    groups
}

/// The inventory as a YAML inventory file's structure.
pub fn inventory_file(hosts: &[Host]) -> Value {
    let all_hosts: Map<String, Value> = hosts
        .iter()
        .map(|host| (host.name.clone(), Value::Object(host_variables(host))))
        .collect();
    let children: Map<String, Value> = groups(hosts)
        .into_iter()
        .map(|(group, members)| {
            let members: Map<String, Value> = members
                .into_iter()
                .map(|name| (name.to_owned(), json!({})))
                .collect();
            (group, json!({ "hosts": members }))
        })
        .collect();
    json!({ "all": { "hosts": all_hosts, "children": children } })
}

/// The inventory as a dynamic-inventory script prints it for `--list`.
pub fn inventory_list(hosts: &[Host]) -> Value {
    let mut inventory = Map::new();
    let groups = groups(hosts);
    let host_variables: Map<String, Value> = hosts
        .iter()
        .map(|host| (host.name.clone(), Value::Object(host_variables(host))))
        .collect();
    inventory.insert("_meta".to_owned(), json!({ "hostvars": host_variables }));
    let names: Vec<&str> = hosts.iter().map(|host| host.name.as_str()).collect();
    inventory.insert(
        "all".to_owned(),
        json!({ "hosts": names, "children": groups.keys().collect::<Vec<_>>() }),
    );
    for (group, members) in groups {
        inventory.insert(group, json!({ "hosts": members }));
    }
    Value::Object(inventory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostSource;
    use jeny_core::Timestamp;

    pub(crate) fn host(name: &str, tags: &[(&str, &str)]) -> Host {
        Host {
            id: name.to_owned(),
            name: name.to_owned(),
            address: format!("{name}.internal"),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            source: HostSource::Manual,
            managed_by: None,
            external_id: None,
            gone_at: None,
            last_seen_at: None,
            created_at: Timestamp::from_micros(0),
            updated_at: Timestamp::from_micros(0),
            version: 1,
        }
    }

    #[test]
    fn group_names_are_ansible_identifiers() {
        assert_eq!(group_name("role", "web"), "role_web");
        assert_eq!(group_name("aws:az", "us-east-1a"), "aws_az_us_east_1a");
        assert_eq!(group_name("2fa", "on"), "_2fa_on");
        assert_eq!(group_name("k", ""), "k_");
        assert_eq!(variable_name("Name"), "Name");
    }

    #[test]
    fn a_tag_never_replaces_the_address_or_the_tag_map() {
        let variables = host_variables(&host(
            "web-1",
            &[
                ("ansible_host", "evil"),
                ("jeny_tags", "x"),
                ("role", "web"),
            ],
        ));
        assert_eq!(variables["ansible_host"], "web-1.internal");
        assert_eq!(variables["role"], "web");
        assert_eq!(variables["jeny_tags"]["ansible_host"], "evil");
    }

    #[test]
    fn the_list_form_groups_hosts_by_tag() {
        let hosts = [
            host("web-1", &[("role", "web")]),
            host("web-2", &[("role", "web"), ("az", "b")]),
        ];
        let list = inventory_list(&hosts);
        assert_eq!(list["role_web"]["hosts"], json!(["web-1", "web-2"]));
        assert_eq!(list["az_b"]["hosts"], json!(["web-2"]));
        assert_eq!(list["all"]["hosts"], json!(["web-1", "web-2"]));
        assert_eq!(list["_meta"]["hostvars"]["web-2"]["az"], "b");
    }
}
