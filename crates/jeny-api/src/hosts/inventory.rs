//! Ansible inventories of a set of hosts, in the two forms Ansible reads: the YAML inventory file
//! a deploy writes (`inventory_file`), and the JSON a dynamic-inventory script prints for `--list`
//! (`inventory_list`) and `--host` (`inventory_host`). Both put every host in `all` and in one
//! group per tag, named `key_value`; each host gets `ansible_host` from its address, its tags as
//! host variables, and all of its tags, unaltered, as `jeny_tags`.
//!
//! Every value is data, never a template: tags come from whoever can tag an EC2 instance or run
//! an agent, and Ansible would evaluate `{{ lookup('pipe', 'id') }}` in a plain string on the
//! machine that runs the playbook. So every string jeny writes as a value (and every key of
//! `jeny_tags`) is marked unsafe for Ansible's templating: a `!unsafe` tagged scalar in the file,
//! `{"__ansible_unsafe": "..."}` in the script's JSON. The names Ansible itself parses — host
//! names, group names, variable names — cannot hold template syntax: host names are letters,
//! digits, `.`, `_` and `-` (`HostName`), group and variable names letters, digits and `_`.
//! A host whose stored name is not a valid `HostName` is left out rather than written.
//!
//! Tags become `ansible_*` variables (which steer how Ansible connects: `ansible_connection`,
//! `ansible_ssh_common_args`, ...) only on hosts added by hand; on hosts from an EC2 sync or an
//! agent such tags are only in `jeny_tags`, so tagging an instance cannot make Ansible run a
//! command on the deploying machine.

use crate::hosts::{Host, HostName, HostSource};
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

/// A host's variables, as plain data: `ansible_host`, each tag under its variable name (the first
/// tag wins when two names collide; a tag never replaces `ansible_host` or `jeny_tags`, and only
/// a host added by hand gets `ansible_*` variables from its tags), and `jeny_tags`. The inventory
/// forms write them marked unsafe (`inventory_file`, `inventory_list`, `inventory_host`).
pub fn host_variables(host: &Host) -> Map<String, Value> {
    let mut variables = Map::new();
    variables.insert("ansible_host".to_owned(), json!(host.address));
    let tags_may_steer_ansible = host.source == HostSource::Manual;
    for (key, value) in &host.tags {
        let name = variable_name(key);
        if name == "jeny_tags" || (name.starts_with("ansible_") && !tags_may_steer_ansible) {
            continue;
        }
        variables.entry(name).or_insert_with(|| json!(value));
    }
    variables.insert("jeny_tags".to_owned(), json!(host.tags));
    variables
}

/// The hosts an inventory may name: those whose name is a valid `HostName`, so it holds nothing
/// Ansible would parse as a pattern or a template.
fn writable(hosts: &[Host]) -> Vec<&Host> {
    hosts
        .iter()
        .filter(|host| {
            let valid = HostName::parse(&host.name).is_ok();
            if !valid {
                tracing::warn!(host = %host.id, "a host with an invalid name is left out of the inventory");
            }
            valid
        })
        .collect()
}

/// Group name -> host names, sorted.
fn groups<'a>(hosts: &[&'a Host]) -> BTreeMap<String, Vec<&'a str>> {
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

/// The inventory file: YAML, every value a `!unsafe` double-quoted scalar.
pub fn inventory_file(hosts: &[Host]) -> String {
    let hosts = writable(hosts);
    let mut yaml = String::from(
        "# Written by jeny for this deploy. Every value is !unsafe: Ansible treats it as data and\n\
         # never evaluates a template in it.\nall:\n",
    );
    if hosts.is_empty() {
        yaml.push_str("  hosts: {}\n");
    } else {
        yaml.push_str("  hosts:\n");
        for host in &hosts {
            yaml.push_str(&format!("    {}:", yaml_string(&host.name)));
            write_unsafe_yaml(&mut yaml, &Value::Object(host_variables(host)), 3, false);
        }
    }
    let groups = groups(&hosts);
    if groups.is_empty() {
        yaml.push_str("  children: {}\n");
    } else {
        yaml.push_str("  children:\n");
        for (group, members) in groups {
            yaml.push_str(&format!("    {}:\n      hosts:\n", yaml_string(&group)));
            for member in members {
                yaml.push_str(&format!("        {}: {{}}\n", yaml_string(member)));
            }
        }
    }
    yaml
}

/// Writes `value` after a mapping key (the `:` already written) at block depth `depth`: strings
/// and, below the host's own variable names, mapping keys as `!unsafe` scalars.
fn write_unsafe_yaml(yaml: &mut String, value: &Value, depth: usize, unsafe_keys: bool) {
    let indent = "  ".repeat(depth);
    match value {
        Value::Object(map) if !map.is_empty() => {
            yaml.push('\n');
            for (key, item) in map {
                let key = if unsafe_keys {
                    format!("!unsafe {}", yaml_string(key))
                } else {
                    yaml_string(key)
                };
                yaml.push_str(&format!("{indent}{key}:"));
                write_unsafe_yaml(yaml, item, depth + 1, true);
            }
        }
        other => yaml.push_str(&format!(" {}\n", unsafe_yaml_flow(other))),
    }
}

/// `value` in YAML's flow style, every string and mapping key a `!unsafe` scalar.
fn unsafe_yaml_flow(value: &Value) -> String {
    match value {
        Value::String(text) => format!("!unsafe {}", yaml_string(text)),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(unsafe_yaml_flow).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(key, item)| {
                    format!("!unsafe {}: {}", yaml_string(key), unsafe_yaml_flow(item))
                })
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => "null".to_owned(),
    }
}

/// `text` as a YAML double-quoted scalar that reads back as exactly `text`: `\` and `"` escaped,
/// and every character a YAML reader would refuse, fold or normalize (controls, DEL, C1
/// controls, line and paragraph separators, U+FEFF, U+FFFE, U+FFFF) written as an escape.
pub fn yaml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            ' '..='~' => quoted.push(c),
            '\u{7f}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}'
            | '\u{fffe}'
            | '\u{ffff}' => {
                quoted.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => quoted.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// `value` with every string in it (not the keys) marked unsafe the way Ansible's JSON reader
/// knows: `{"__ansible_unsafe": "..."}`.
fn unsafe_json(value: &Value) -> Value {
    match value {
        Value::String(text) => json!({ "__ansible_unsafe": text }),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), unsafe_json(item)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(unsafe_json).collect()),
        other => other.clone(),
    }
}

/// One host's variables as a dynamic-inventory script prints them for `--host NAME`, every string
/// marked unsafe.
pub fn inventory_host(host: &Host) -> Value {
    if HostName::parse(&host.name).is_err() {
        return json!({});
    }
    unsafe_json(&Value::Object(host_variables(host)))
}

/// The inventory as a dynamic-inventory script prints it for `--list`, every variable's string
/// marked unsafe.
pub fn inventory_list(hosts: &[Host]) -> Value {
    let hosts = writable(hosts);
    let mut inventory = Map::new();
    let groups = groups(&hosts);
    let host_variables: Map<String, Value> = hosts
        .iter()
        .map(|host| (host.name.clone(), inventory_host(host)))
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
        assert_eq!(
            list["_meta"]["hostvars"]["web-2"]["az"],
            json!({"__ansible_unsafe": "b"})
        );
    }

    #[test]
    fn every_value_of_the_script_form_is_marked_unsafe() {
        let evil = "{{ lookup('pipe','id') }}";
        let variables = inventory_host(&host("web-1", &[("Name", evil)]));
        assert_eq!(variables["Name"], json!({"__ansible_unsafe": evil}));
        assert_eq!(
            variables["jeny_tags"]["Name"],
            json!({"__ansible_unsafe": evil})
        );
        assert_eq!(
            variables["ansible_host"],
            json!({"__ansible_unsafe": "web-1.internal"})
        );
    }

    #[test]
    fn every_value_of_the_file_form_is_an_unsafe_scalar() {
        let file = inventory_file(&[host("web-1", &[("k{{ x }}", "{% if true %}x{% endif %}")])]);
        assert!(
            file.contains(r#"!unsafe "k{{ x }}": !unsafe "{% if true %}x{% endif %}""#),
            "{file}"
        );
        assert!(
            file.contains(r#""ansible_host": !unsafe "web-1.internal""#),
            "{file}"
        );
    }

    #[test]
    fn yaml_strings_escape_what_a_reader_would_change() {
        assert_eq!(yaml_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            yaml_string("a\tb\u{85}c\u{2028}"),
            r#""a\u0009b\u0085c\u2028""#
        );
        assert_eq!(yaml_string("été"), "\"été\"");
    }

    #[test]
    fn tags_steer_ansible_only_on_hosts_added_by_hand() {
        let tags = [
            ("ansible_ssh_common_args", "-o ProxyCommand=id"),
            ("role", "web"),
        ];
        let manual = host_variables(&host("web-1", &tags));
        assert_eq!(manual["ansible_ssh_common_args"], "-o ProxyCommand=id");
        for source in [HostSource::Aws, HostSource::Agent] {
            let synced = host_variables(&Host {
                source,
                ..host("web-1", &tags)
            });
            assert!(
                synced.get("ansible_ssh_common_args").is_none(),
                "{synced:?}"
            );
            assert_eq!(synced["role"], "web");
            assert_eq!(
                synced["jeny_tags"]["ansible_ssh_common_args"],
                "-o ProxyCommand=id"
            );
        }
    }

    #[test]
    fn a_host_with_an_invalid_name_is_left_out() {
        let hosts = [host("web-1", &[]), host("{{ x }}", &[])];
        assert_eq!(inventory_list(&hosts)["all"]["hosts"], json!(["web-1"]));
        assert!(!inventory_file(&hosts).contains("{{ x }}"));
    }
}
